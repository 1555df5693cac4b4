// What every part of a run (the image tree, a group of hosts) does with its steps: records them, runs each with its
// retries, and parks a step that still fails: its branch waits for an operator's decision (sent to the run, passed
// on here) while independent branches go on. The run hears of each park, so `status` and the UI show it.
import { ApplicationFailure, condition, getExternalWorkflowHandle, setHandler, workflowInfo } from '@temporalio/workflow';
import type { SlotPolicy } from '../model/semaphore';
import { decisionSignal, partProgressQuery, partQuery, stepParkedSignal, stepUnparkedSignal } from '../model/shared';
import { compactStep, countSteps, StepLog, type DecisionAction, type HostStates, type PartResult, type Step } from '../model/steps';

/** Thrown for a step that never ran because something it needs failed. */
export class Blocked extends Error {}
/** A failed step an operator skipped: what needs its result is blocked; a skipped health gate lets the run go on. */
export class Skipped extends Blocked {}

export interface PartContext {
  /** The run's workflow id: where parks are reported. */
  runId: string;
  stage?: string;
  batch?: string;
  parkTimeoutSeconds: number;
  /** Set when an operator aborted the whole run: failures fail at once. */
  abortAll?: boolean;
}

export class PartSteps {
  readonly log = new StepLog(() => new Date());
  readonly failures: { id: string; message: string }[] = [];
  private readonly decided = new Map<string, DecisionAction>();
  private readonly parked = new Set<string>();
  private abortAll: boolean;
  private readonly workflowId = workflowInfo().workflowId;
  /** Counts of hosts by state, for parts of hosts (the live view at scale shows these, not a line per step). */
  hostStates?: () => HostStates;
  /** Containers by outcome, for parts of hosts. */
  containers: PartResult['containers'] = { created: 0, recreated: 0, unchanged: 0 };

  constructor(private readonly ctx: PartContext) {
    this.abortAll = Boolean(ctx.abortAll);
    setHandler(partQuery, () => this.result());
    setHandler(partProgressQuery, () => this.result((s) => s.status === 'failed' || s.status === 'blocked' || s.status === 'parked'));
    setHandler(decisionSignal, (d) => {
      if (!d.step) {
        if (d.action === 'abort') this.abortAll = true;
        for (const id of this.parked) this.decided.set(id, d.action);
      } else {
        this.decided.set(d.step, d.action);
      }
    });
  }

  add(step: Omit<Step, 'status'>): void {
    this.log.add(step);
  }

  /** Runs one step: records its times and outcome. A failure parks; then the step is retried, skipped, or recorded
   *  as failed and rethrown (Blocked) to block what depends on it. `slots` says how the step holds a limit (see
   *  model/semaphore.ts): per attempt, its clock starts when a slot is free; a parked step gives its slot back. */
  async run<T>(id: string, fn: () => Promise<T>, detail: (r: T) => string | undefined, slots?: SlotPolicy): Promise<T> {
    const attempt = () => {
      this.log.start(id);
      return fn();
    };
    for (;;) {
      try {
        const r = await (slots ? slots.attempt(attempt) : attempt());
        this.log.finish(id, 'completed', detail(r));
        return r;
      } catch (e) {
        await this.afterFailure(id, e, slots);
      }
    }
  }

  /** After a failed attempt: parks; returns when the operator wants it run again, else throws (skipped or failed). */
  async afterFailure(id: string, e: unknown, slots?: SlotPolicy): Promise<void> {
    if (e instanceof Blocked) return this.recordFailure(id, e);
    const message = failureMessage(e);
    const action = await (slots ? slots.whileParked(() => this.park(id, message)) : this.park(id, message));
    if (action === 'retry') return;
    if (action === 'skip') {
      this.log.finish(id, 'skipped', `skipped by an operator after: ${message}`);
      throw new Skipped(`${id} was skipped`);
    }
    return this.recordFailure(id, e);
  }

  recordFailure(id: string, e: unknown): never {
    if (e instanceof Blocked) {
      this.log.finish(id, 'blocked', e.message);
    } else {
      const message = failureMessage(e);
      this.log.finish(id, 'failed', message);
      this.failures.push({ id, message });
    }
    throw new Blocked(`blocked by ${id}`);
  }

  /** Waits for an operator decision on a failed step; the park timeout (or abort) fails it. */
  private async park(id: string, message: string): Promise<DecisionAction> {
    const timeoutMs = this.ctx.parkTimeoutSeconds * 1000;
    if (this.abortAll || timeoutMs <= 0) return 'abort';
    const now = Date.now();
    const run = getExternalWorkflowHandle(this.ctx.runId);
    this.parked.add(id);
    this.log.finish(id, 'parked', message);
    await run.signal(stepParkedSignal, { id, host: this.log.get(id)?.host, error: message, since: new Date(now).toISOString(), until: new Date(now + timeoutMs).toISOString(), part: this.workflowId });
    const answered = await condition(() => this.decided.has(id) || this.abortAll, timeoutMs);
    const action = answered ? (this.decided.get(id) ?? 'abort') : 'abort';
    this.decided.delete(id);
    this.parked.delete(id);
    await run.signal(stepUnparkedSignal, { step: id, part: this.workflowId });
    return action;
  }

  /** The part's record: compact steps, failures, counts. */
  result(only: (s: Step) => boolean = () => true): PartResult {
    const steps = this.log.all();
    return {
      workflowId: this.workflowId,
      ...(this.ctx.stage ? { stage: this.ctx.stage } : {}),
      ...(this.ctx.batch ? { batch: this.ctx.batch } : {}),
      steps: steps.filter(only).map(compactStep),
      failures: this.failures,
      counts: countSteps(steps),
      ...(this.hostStates ? { hostStates: this.hostStates() } : {}),
      containers: this.containers,
    };
  }
}

/** A part's end: its result, or (when a step failed) a failure that carries the same result, so that the Temporal UI
 *  shows the part as failed and names the step. */
export function partOutcome<R extends PartResult>(result: R): R {
  const [first, ...more] = result.failures;
  if (!first) return result;
  throw ApplicationFailure.nonRetryable(`step ${first.id} failed: ${first.message.split('\n')[0]}${more.length ? ` (and ${more.length} more failed steps)` : ''}`, 'PartFailed', result);
}

/** The result a part returned, or carried in its failure (see partOutcome); undefined for any other failure. */
export function partResultOf<R extends PartResult>(e: unknown): R | undefined {
  let cur = e as { cause?: unknown; details?: unknown[] } | undefined;
  while (cur && !(cur instanceof ApplicationFailure)) cur = cur.cause as typeof cur;
  const details = (cur as ApplicationFailure | undefined)?.details?.[0] as R | undefined;
  return details && Array.isArray(details.steps) && Array.isArray(details.failures) ? details : undefined;
}

/** The innermost failure message (an activity's own words), without the wrapper's. */
export function failureMessage(e: unknown): string {
  let cur = e as { message?: string; cause?: unknown } | undefined;
  while (cur?.cause) cur = cur.cause as typeof cur;
  return cur?.message ?? String(e);
}
