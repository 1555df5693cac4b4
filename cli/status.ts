// `contrail-deploy status <run-id>`: the run's parts with counts, and its steps (paged by stage, host or failure),
// from the live workflows or from their recorded outcomes.
import { WorkflowNotFoundError } from '@temporalio/client';
import { connectClient, uiLink } from '../lib/temporal';
import { hostCount } from '../model/parts';
import type { PartRecord, Step } from '../model/steps';
import type { Command } from './command';
import { PartReader, readSummary, type StepFilter } from './run-steps';
import { onePositional } from './usage';

export const statusCommand: Command = {
  name: 'status',
  summary: "show a run's parts and steps (build, push, prepare, start, health) with times and outcomes",
  usage: `Usage: contrail-deploy status <run-id> [--stage S] [--host H] [--failed] [--json]

  Without a filter: every part of the run (images, each stage batch and host group) with its counts, then every step.
  --stage S   only the steps of stage S
  --host H    only the steps on host H
  --failed    only failed, blocked and parked steps (the parts that hold none are not read)
  --json      one JSON object: {runId, status, release, topology, stageOrder, parts: [{workflowId, kind, label, stage?,
              batch?, hosts, status, steps: {status: count}, hostStates?}], steps: [{id, kind, target, parent?, host?,
              stage?, batch?, status, startTime, endTime, detail}], images, containers, failedStep, failedSteps,
              parked: [{id, host, error, since, until, part}], decisions: [{action, step, by, at}]}`,
  options: { json: { type: 'boolean' }, stage: { type: 'string' }, host: { type: 'string' }, failed: { type: 'boolean' } },
  async run({ values, positionals }) {
    const runId = onePositional(positionals, 'run id');
    const filter: StepFilter = { stage: values.stage as string | undefined, host: values.host as string | undefined, failed: Boolean(values.failed) };
    const client = await connectClient();
    const handle = client.workflow.getHandle(runId);
    let status: string;
    try {
      status = (await handle.describe()).status.name.toLowerCase().replace('timed_out', 'timed-out');
    } catch (e) {
      if (e instanceof WorkflowNotFoundError) throw new Error(`no run with id "${runId}": list runs with "contrail-deploy history"`);
      throw e;
    }
    const summary = await readSummary(handle, status);
    if (filter.stage && summary && !summary.stageOrder.includes(filter.stage)) throw new Error(`run ${runId} has no stage "${filter.stage}" (stages: ${summary.stageOrder.join(', ')})`);
    // A running run that waits for a decision says so (Temporal sees it as running).
    if (status === 'running' && summary?.status === 'parked') status = 'parked';
    const steps = summary ? await new PartReader(client.workflow).steps(summary, filter) : [];
    const view = {
      runId, status, release: summary?.release, topology: summary?.topology, stageOrder: summary?.stageOrder ?? [], parts: summary?.parts ?? [], steps,
      images: summary?.images, containers: summary?.containers, failedStep: summary?.failedStep ?? null, failedSteps: summary?.failedSteps ?? [],
      parked: summary?.parked ?? [], decisions: summary?.decisions ?? [],
    };
    if (values.json) {
      console.log(JSON.stringify(view));
      return 0;
    }
    console.log(`run ${runId}: ${status}${summary ? ` (release ${summary.release}, topology ${summary.topology})` : ''}`);
    console.log(`  ui: ${uiLink(runId, client.options.namespace)}`);
    if (!summary) console.log('  (no step record: the run ended before recording one, and no worker answered)');
    for (const p of view.parts) console.log(partLine(p));
    for (const s of steps) console.log(stepLine(s));
    for (const d of view.decisions) console.log(`decision: ${d.action} ${d.step}${d.by ? ` by ${d.by}` : ''} at ${d.at}`);
    for (const p of view.parked) {
      console.log(`PARKED ${p.id}${p.host ? ` on ${p.host}` : ''} since ${p.since} (waits until ${p.until}), in ${p.part}:\n${p.error}`);
      console.log(`  decide: contrail-deploy retry|skip|abort ${runId} --step ${p.id}`);
    }
    if (summary?.failedStep) console.log(`failed step: ${summary.failedStep.id}\n${summary.failedStep.message}`);
    return 0;
  },
};

/** "  part compute batch 2 of 5, group 1 of 3   completed  84 hosts: done 83, failed 1   steps: completed 500, failed 1" */
export function partLine(p: PartRecord): string {
  const hosts = p.hostStates ? `: done ${p.hostStates.done}, in flight ${p.hostStates.inFlight}, failed ${p.hostStates.failed}, parked ${p.hostStates.parked}` : '';
  const counts = Object.entries(p.steps).map(([k, v]) => `${k} ${v}`).join(', ');
  return `  part ${p.label.padEnd(40)} ${p.status.padEnd(9)} ${p.kind === 'hosts' ? `${hostCount(p.hosts)}${hosts}` : ''}${counts ? `   steps: ${counts}` : ''}${p.detail ? `   ${p.detail}` : ''}`;
}

function stepLine(s: Step): string {
  const duration = s.startTime && s.endTime ? `${((Date.parse(s.endTime) - Date.parse(s.startTime)) / 1000).toFixed(1)}s` : '';
  return `  ${s.id.padEnd(36)} ${s.status.padEnd(9)} ${duration.padStart(7)}  ${(s.detail ?? '').split('\n')[0].slice(0, 100)}`;
}
