// The steps of a run, as `status` shows them. Kept by the workflow (deterministic: times come from workflow time).

export type StepKind = 'build' | 'push' | 'publish' | 'prepare' | 'pull' | 'survey' | 'start' | 'health' | 'quorum';
export type StepStatus = 'pending' | 'running' | 'parked' | 'completed' | 'skipped' | 'failed' | 'blocked';

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

/** A step that failed after its retries and waits for an operator decision. */
export interface ParkedStep {
  id: string;
  host?: string;
  error: string;
  since: string;
  /** When the run gives up waiting and fails this step. */
  until: string;
}

export type DecisionAction = 'retry' | 'skip' | 'abort';

export interface Decision {
  action: DecisionAction;
  /** The parked step; optional when exactly one is parked (abort without a step: every parked step). */
  step?: string;
  /** Skip a step that others depend on (they are then blocked). */
  force?: boolean;
  /** Who decided, for the record. */
  by?: string;
}

export interface RunSummary {
  runId: string;
  status: 'running' | 'parked' | 'completed' | 'failed';
  release: string;
  topology: string;
  /** The run this one resumes, if any. */
  resumedFrom?: string;
  stageOrder: string[];
  images: { built: number; skipped: number; failed: number; blocked: number };
  containers: { created: number; recreated: number; unchanged: number };
  /** image name -> repository@digest pushed by this run. */
  digests: Record<string, string>;
  buildLogs: Record<string, string>;
  /** The release tag: moved only when every image of the set was pushed; then it points at `digests`. */
  releaseTag?: { tag: string; moved: boolean; changed?: number };
  failedStep?: { id: string; message: string };
  /** Steps waiting for an operator decision now. */
  parked?: ParkedStep[];
  /** Every operator decision, in order. */
  decisions?: (Decision & { step: string; at: string })[];
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

/** The business id of the child workflow that runs a step, under its run: <run>/build/<image>, <run>/host/<host>,
 *  <run>/stage/<stage>/<service>@<host>/start... An operator's retry runs the step again as "#2", "#3". */
export function stepWorkflowId(runId: string, step: Pick<Step, 'kind' | 'target' | 'host' | 'stage'>, execution = 1): string {
  const paths: Record<StepKind, string> = {
    build: `build/${step.target}`,
    push: `build/${step.target}/push`,
    publish: `release/${step.target}`,
    prepare: `host/${step.target}`,
    pull: `host/${step.target}/pull`,
    survey: `host/${step.target}/survey`,
    start: `stage/${step.stage}/${step.target}@${step.host}/start`,
    health: `stage/${step.stage}/${step.target}@${step.host}/health`,
    quorum: `stage/${step.stage}/${step.target}/quorum`,
  };
  return `${runId}/${paths[step.kind]}${execution > 1 ? `#${execution}` : ''}`;
}
