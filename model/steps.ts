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

/** One part of a run (its own workflow): the image tree, or one group of hosts of a stage batch. */
export interface PartRecord {
  workflowId: string;
  kind: 'images' | 'hosts';
  /** "images", or "compute batch 2 of 5 (canary), group 1 of 3". */
  label: string;
  stage?: string;
  batch?: string;
  hosts: number;
  status: 'pending' | 'running' | 'parked' | 'completed' | 'failed' | 'blocked';
  /** Steps per status, for the counts per stage and batch; hosts done / in flight / failed / parked. */
  steps: Partial<Record<StepStatus, number>>;
  hostStates?: HostStates;
  /** Why a part never started (an earlier stage or batch failed). */
  detail?: string;
}

export interface HostStates {
  done: number;
  inFlight: number;
  failed: number;
  parked: number;
}

export interface RunSummary {
  runId: string;
  status: 'running' | 'parked' | 'completed' | 'failed';
  release: string;
  topology: string;
  /** The run this one resumes, if any. */
  resumedFrom?: string;
  /** `rollback --to`: the release the hosts ran (when known) and the release whose digests this run deployed. */
  rollback?: { from?: string; to: string };
  stageOrder: string[];
  images: { built: number; skipped: number; failed: number; blocked: number };
  containers: { created: number; recreated: number; unchanged: number };
  /** image name -> repository@digest pushed by this run. */
  digests: Record<string, string>;
  buildLogs: Record<string, string>;
  /** The release tag: moved only when every image of the set was pushed; then it points at `digests`. */
  releaseTag?: { tag: string; moved: boolean; changed?: number };
  failedStep?: { id: string; message: string };
  /** Every failed step in full (the first is failedStep). */
  failedSteps: { id: string; message: string; part: string }[];
  /** Steps waiting for an operator decision now, with the part (workflow) they wait in. */
  parked?: (ParkedStep & { part: string })[];
  /** Every operator decision, in order. */
  decisions?: (Decision & { step: string; at: string })[];
  /** The run's parts in order: the step tree is paged from them (`status --stage/--host/--failed`). */
  parts: PartRecord[];
  /** With --remove-orphans: the containers removed as orphans at the end (host/name). */
  orphansRemoved?: string[];
}

/** What a part returns and answers to its query: its steps (compact in the result, to keep payloads small). */
export interface PartResult {
  workflowId: string;
  stage?: string;
  batch?: string;
  steps: CompactStep[];
  failures: { id: string; message: string }[];
  counts: Partial<Record<StepStatus, number>>;
  hostStates?: HostStates;
  containers: { created: number; recreated: number; unchanged: number };
}

/** [id, kind, target, host, status, startMs, endMs, detail, parent]: a step without the keys repeated per step. */
export type CompactStep = [string, StepKind, string, string | null, StepStatus, number | null, number | null, string | null, string | null];

export function compactStep(s: Step): CompactStep {
  return [s.id, s.kind, s.target, s.host ?? null, s.status, s.startTime ? Date.parse(s.startTime) : null, s.endTime ? Date.parse(s.endTime) : null, s.detail ?? null, s.parent ?? null];
}

/** The steps of a part, with the part's stage and batch on each (as `status --json` shows them). */
export function expandSteps(part: Pick<PartResult, 'steps' | 'stage' | 'batch'>): Step[] {
  return part.steps.map(([id, kind, target, host, status, start, end, detail, parent]) => ({
    id, kind, target, status,
    ...(parent ? { parent } : {}),
    ...(host ? { host } : {}),
    ...(part.stage && kind !== 'build' && kind !== 'push' && kind !== 'publish' ? { stage: part.stage } : {}),
    ...(part.batch && (kind === 'start' || kind === 'health') ? { batch: part.batch } : {}),
    ...(start !== null ? { startTime: new Date(start).toISOString() } : {}),
    ...(end !== null ? { endTime: new Date(end).toISOString() } : {}),
    ...(detail !== null ? { detail } : {}),
  }));
}

export function countSteps(steps: Step[]): Partial<Record<StepStatus, number>> {
  const counts: Partial<Record<StepStatus, number>> = {};
  for (const s of steps) counts[s.status] = (counts[s.status] ?? 0) + 1;
  return counts;
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
