// The steps of a run, as `status` shows them. Kept by the workflow (deterministic: times come from workflow time).

export type StepKind = 'build' | 'push' | 'publish' | 'prepare' | 'start' | 'health';
export type StepStatus = 'pending' | 'running' | 'completed' | 'skipped' | 'failed' | 'blocked';

export interface Step {
  id: string;
  kind: StepKind;
  target: string;
  parent?: string;
  host?: string;
  stage?: string;
  /** For compute hosts rolled out in batches: "compute batch 2 of 3: compute2". */
  batch?: string;
  status: StepStatus;
  startTime?: string;
  endTime?: string;
  /** Outcome detail: digest, created/unchanged, the failure message. */
  detail?: string;
}

export interface RunSummary {
  runId: string;
  status: 'running' | 'completed' | 'failed';
  release: string;
  topology: string;
  stageOrder: string[];
  images: { built: number; skipped: number; failed: number; blocked: number };
  containers: { created: number; recreated: number; unchanged: number };
  /** image name -> repository@digest pushed by this run. */
  digests: Record<string, string>;
  buildLogs: Record<string, string>;
  /** The release tag: moved only when every image of the set was pushed; then it points at `digests`. */
  releaseTag?: { tag: string; moved: boolean; changed?: number };
  failedStep?: { id: string; message: string };
  steps: Step[];
}

export function stepId(kind: StepKind, target: string, host?: string): string {
  return host ? `${kind}:${target}@${host}` : `${kind}:${target}`;
}

export class StepLog {
  private readonly steps = new Map<string, Step>();

  constructor(private readonly now: () => Date) {}

  add(step: Omit<Step, 'status'>): void {
    this.steps.set(step.id, { ...step, status: 'pending' });
  }

  start(id: string): void {
    this.update(id, { status: 'running', startTime: this.now().toISOString() });
  }

  finish(id: string, status: Exclude<StepStatus, 'pending' | 'running'>, detail?: string): void {
    const step = this.steps.get(id);
    this.update(id, { status, endTime: this.now().toISOString(), startTime: step?.startTime ?? this.now().toISOString(), detail });
  }

  get(id: string): Step | undefined {
    return this.steps.get(id);
  }

  all(): Step[] {
    return [...this.steps.values()];
  }

  private update(id: string, patch: Partial<Step>): void {
    const step = this.steps.get(id);
    if (step) this.steps.set(id, { ...step, ...patch });
  }
}
