// `contrail-deploy status <run-id>`: the steps of a run, from the live workflow or from its recorded outcome.
import { WorkflowFailedError, WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { connectClient, uiLink } from '../lib/temporal';
import { runSummaryQuery } from '../model/shared';
import type { RunSummary } from '../model/steps';
import type { Command } from './main';
import { onePositional } from './usage';

export const statusCommand: Command = {
  name: 'status',
  summary: "show a run's steps (build, push, prepare, start, health) with times and outcomes",
  usage: `Usage: contrail-deploy status <run-id> [--json]

  --json   one JSON object: {runId, status, stageOrder, steps: [{id, kind, target, parent?, host?, stage?, batch?, status,
           startTime, endTime, detail}], images, containers, failedStep, parked: [{id, host, error, since, until}],
           decisions: [{action, step, by, at}]}`,
  options: { json: { type: 'boolean' } },
  async run({ values, positionals }) {
    const runId = onePositional(positionals, 'run id');
    const client = await connectClient();
    const handle = client.workflow.getHandle(runId);
    let status: string;
    try {
      status = (await handle.describe()).status.name.toLowerCase().replace('timed_out', 'timed-out');
    } catch (e) {
      if (e instanceof WorkflowNotFoundError) throw new Error(`no run with id "${runId}": list runs in the Temporal UI or with "temporal workflow list"`);
      throw e;
    }
    const summary = await readSummary(handle, status);
    // A running run that waits for a decision says so (Temporal sees it as running).
    if (status === 'running' && summary?.status === 'parked') status = 'parked';
    const view = { runId, status, release: summary?.release, topology: summary?.topology, stageOrder: summary?.stageOrder ?? [], steps: summary?.steps ?? [], images: summary?.images, containers: summary?.containers, failedStep: summary?.failedStep ?? null, parked: summary?.parked ?? [], decisions: summary?.decisions ?? [] };
    if (values.json) {
      console.log(JSON.stringify(view));
      return 0;
    }
    console.log(`run ${runId}: ${status}${summary ? ` (release ${summary.release}, topology ${summary.topology})` : ''}`);
    console.log(`  ui: ${uiLink(runId, client.options.namespace)}`);
    if (!summary) console.log('  (no step record: the run ended before recording one, and no worker answered)');
    for (const s of view.steps) {
      const duration = s.startTime && s.endTime ? `${((Date.parse(s.endTime) - Date.parse(s.startTime)) / 1000).toFixed(1)}s` : '';
      console.log(`  ${s.id.padEnd(36)} ${s.status.padEnd(9)} ${duration.padStart(7)}  ${(s.detail ?? '').split('\n')[0].slice(0, 100)}`);
    }
    for (const d of view.decisions) console.log(`decision: ${d.action} ${d.step}${d.by ? ` by ${d.by}` : ''} at ${d.at}`);
    for (const p of view.parked) {
      console.log(`PARKED ${p.id}${p.host ? ` on ${p.host}` : ''} since ${p.since} (waits until ${p.until}):\n${p.error}`);
      console.log(`  decide: contrail-deploy retry|skip|abort ${runId} --step ${p.id}`);
    }
    if (summary?.failedStep) console.log(`failed step: ${summary.failedStep.id}\n${summary.failedStep.message}`);
    return 0;
  },
};

async function readSummary(handle: WorkflowHandle, status: string): Promise<RunSummary | undefined> {
  if (status === 'completed') return (await handle.result()) as RunSummary;
  if (status === 'failed') {
    const fromFailure = await handle.result().then(() => undefined, summaryFromFailure);
    if (fromFailure) return fromFailure;
  }
  // Running (or ended without a record): ask the workflow; a closed run needs a worker to answer.
  return Promise.race([
    handle.query(runSummaryQuery).catch(() => undefined),
    new Promise<undefined>((r) => setTimeout(() => r(undefined), 5000).unref()),
  ]);
}

/** A failed run carries its summary as the failure's details. */
export function summaryFromFailure(e: unknown): RunSummary | undefined {
  if (!(e instanceof WorkflowFailedError) || !(e.cause instanceof ApplicationFailure)) return undefined;
  const details = e.cause.details?.[0] as RunSummary | undefined;
  return details && Array.isArray(details.steps) ? details : undefined;
}
