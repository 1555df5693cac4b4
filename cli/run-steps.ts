// A run's steps live in its parts (child workflows); the run's summary lists the parts. This reads them: a closed part
// from its result (no worker needed), a running one through its query. Parts are read in parallel, and only those a
// filter can match.
import { WorkflowFailedError, type WorkflowClient, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { partProgressQuery, partQuery, runSummaryQuery } from '../model/shared';
import { expandSteps, type PartRecord, type PartResult, type RunSummary, type Step } from '../model/steps';

export interface StepFilter {
  stage?: string;
  host?: string;
  /** Failed, blocked and parked steps only. */
  failed?: boolean;
}

/** The run's summary: its result when it completed, the record in its failure when it failed, else its query. */
export async function readSummary(handle: WorkflowHandle, status: string, queryTimeoutMs = 5000): Promise<RunSummary | undefined> {
  if (status === 'completed') return (await handle.result()) as RunSummary;
  if (status === 'failed') {
    const fromFailure = await handle.result().then(() => undefined, summaryFromFailure);
    if (fromFailure) return fromFailure;
  }
  // Running (or ended without a record): ask the workflow; a closed run needs a worker to answer.
  return Promise.race([
    handle.query(runSummaryQuery).catch(() => undefined),
    new Promise<undefined>((r) => setTimeout(() => r(undefined), queryTimeoutMs).unref()),
  ]);
}

/** A failed run carries its summary as the failure's details. */
export function summaryFromFailure(e: unknown): RunSummary | undefined {
  return recordInFailure<RunSummary>(e, 'parts');
}

/** The record a failed workflow carries as its failure's details (a run's summary, a part's result), known by a list
 *  it always has. */
function recordInFailure<T>(e: unknown, listField: keyof T): T | undefined {
  if (!(e instanceof WorkflowFailedError) || !(e.cause instanceof ApplicationFailure)) return undefined;
  const details = e.cause.details?.[0] as T | undefined;
  return details && Array.isArray(details[listField]) ? details : undefined;
}

/** Reads parts' steps; results of closed parts are kept (they do not change). */
export class PartReader {
  private readonly closed = new Map<string, PartResult>();

  constructor(private readonly workflows: WorkflowClient) {}

  /** A part's steps; a running part asked for its failures only answers with those (a small answer at scale). */
  async part(record: PartRecord, failuresOnly = false): Promise<PartResult | undefined> {
    if (record.status === 'pending' || record.status === 'blocked') return undefined;
    const cached = this.closed.get(record.workflowId);
    if (cached) return cached;
    const handle = this.workflows.getHandle(record.workflowId);
    if (record.status === 'completed' || record.status === 'failed') {
      // A part whose steps failed carries its result in its failure.
      const result = (await handle.result().catch((e: unknown) => recordInFailure<PartResult>(e, 'steps'))) as PartResult | undefined;
      if (result) this.closed.set(record.workflowId, result);
      return result;
    }
    return handle.query(failuresOnly ? partProgressQuery : partQuery).catch(() => undefined);
  }

  /** The steps of the parts a filter can match, in the run's order. The records of running parts are brought up to
   *  date with their live counts on the way (the run learns them only when a part ends). */
  async steps(summary: RunSummary, filter: StepFilter = {}): Promise<Step[]> {
    const parts = summary.parts.filter((p) => mayMatch(p, filter));
    const results = await Promise.all(parts.map((p) => this.part(p, Boolean(filter.failed))));
    parts.forEach((p, i) => {
      const r = results[i];
      if (r && (p.status === 'running' || p.status === 'parked')) Object.assign(p, { steps: r.counts, ...(r.hostStates ? { hostStates: r.hostStates } : {}) });
    });
    return results.flatMap((r) => (r ? expandSteps(r).filter((s) => matches(s, filter)) : []));
  }
}

function mayMatch(p: PartRecord, f: StepFilter): boolean {
  if (f.stage && p.kind === 'hosts' && p.stage !== f.stage) return false;
  if (f.stage && p.kind === 'images') return false;
  if (f.failed && p.status === 'completed' && !p.steps.failed && !p.steps.blocked && !p.steps.parked) return false;
  return true;
}

function matches(s: Step, f: StepFilter): boolean {
  if (f.stage && s.stage !== f.stage) return false;
  if (f.host && s.host !== f.host) return false;
  if (f.failed && !['failed', 'blocked', 'parked'].includes(s.status)) return false;
  return true;
}
