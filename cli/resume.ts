// `contrail-deploy resume <run-id>`: a new run of a run that ended failed, terminated, cancelled or timed out, with the
// same plan. It redoes nothing finished because every step checks reality, not the old history: an image whose input
// hash the registry holds is neither built nor pushed, a container running with the same spec hash is left alone,
// host preparation reports "unchanged".
import { defaultPayloadConverter } from '@temporalio/common';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { connectClient } from '../lib/temporal';
import { expandPlan } from '../model/compact-plan';
import type { PipelineInput } from '../workflows/pipeline';
import type { Command } from './command';
import { startAndFollow } from './run';
import { onePositional } from './usage';

const RESUMABLE = ['FAILED', 'TERMINATED', 'CANCELLED', 'TIMED_OUT'];

export const resumeCommand: Command = {
  name: 'resume',
  summary: 'start a new run that continues one that failed, was terminated or timed out (resume <run-id>)',
  usage: `Usage: contrail-deploy resume <run-id> [--json] [--with-worker] [--initiator NAME]

  Starts a new run with the old run's plan (same release, images, hosts and limits), linked to it (search attribute
  ResumedFrom, and its summary in the UI). Finished work is found finished by checking the registry (input hash
  present) and the hosts (container running with the same spec hash), so nothing is redone. Fix the cause of the
  failure first. A run that is still running or parked takes retry, skip or abort instead. Output and exit codes as
  with "run".`,
  options: { json: { type: 'boolean' }, 'with-worker': { type: 'boolean' }, initiator: { type: 'string' } },
  async run({ values, positionals }) {
    const oldRunId = onePositional(positionals, 'run id');
    const client = await connectClient();
    const input = await resumableInput(client, oldRunId);
    return startAndFollow(expandPlan(input.plan), { ...values, 'no-cache': input.noCache }, oldRunId);
  },
};

/** The old run's input, if it ended in a way that a resume continues; otherwise a message saying what to do. */
async function resumableInput(client: Client, runId: string): Promise<PipelineInput> {
  const handle = client.workflow.getHandle(runId);
  let status: string;
  try {
    const d = await handle.describe();
    status = d.status.name;
    if (d.type !== 'deployPipeline') throw new Error(`${runId} is a ${d.type} workflow, not a pipeline run: resume the run it belongs to`);
  } catch (e) {
    if (e instanceof WorkflowNotFoundError) throw new Error(`no run with id "${runId}": list runs with "contrail-deploy history"`);
    throw e;
  }
  if (status === 'RUNNING') throw new Error(`run ${runId} is still running: "contrail-deploy status ${runId}" shows whether a step is parked; decide with retry, skip or abort`);
  if (status === 'COMPLETED') throw new Error(`run ${runId} completed: nothing to resume (start a new run with "contrail-deploy run <topology>")`);
  if (!RESUMABLE.includes(status)) throw new Error(`run ${runId} is ${status.toLowerCase()}: only failed, terminated, cancelled or timed-out runs can be resumed`);
  const history = await handle.fetchHistory();
  const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  if (!payload) throw new Error(`run ${runId} has no recorded input (its history may have been deleted by the namespace's retention): start a new run with "contrail-deploy run <topology>"`);
  return defaultPayloadConverter.fromPayload<PipelineInput>(payload);
}
