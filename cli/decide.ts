// `contrail-deploy retry | skip | abort <run-id> [--step ID] [--force]`: an operator's decision on a parked step,
// sent as a Temporal update (the workflow validates it: the step must be parked; skipping what others need takes
// --force). retry and skip then follow the run like `run` does.
import * as os from 'os';
import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { connectClient } from '../lib/temporal';
import { decideUpdate } from '../model/shared';
import type { DecisionAction } from '../model/steps';
import type { deployPipeline } from '../workflows';
import type { Command } from './command';
import { followAndReport } from './run';
import { onePositional } from './usage';

const HELP: Record<DecisionAction, string> = {
  retry: 'run a parked step again (fix its cause first), then follow the run',
  skip: 'go on without a parked step (--force when other steps need it: they are then blocked), then follow the run',
  abort: 'fail a parked step now (without --step: every parked step, and later failures fail at once)',
};

function decisionCommand(action: DecisionAction): Command {
  return {
    name: action,
    summary: `${HELP[action].split(' (')[0].split(', then')[0]} (${action} <run-id> [--step ID])`,
    usage: `Usage: contrail-deploy ${action} <run-id> [--step ID]${action === 'skip' ? ' [--force]' : ''} [--json]

  ${HELP[action]}.
  --step   the parked step (as "status <run-id>" lists it, e.g. build:nova or health:keystone@controller1); needed
           when more than one step is parked
  --json   the last line is the run's summary object, as with "run --json"`,
    options: { step: { type: 'string' }, force: { type: 'boolean' }, json: { type: 'boolean' } },
    async run({ values, positionals }) {
      const runId = onePositional(positionals, 'run id');
      const client = await connectClient();
      const handle = client.workflow.getHandle<typeof deployPipeline>(runId);
      try {
        const r = await handle.executeUpdate(decideUpdate, {
          args: [{ action, step: values.step as string | undefined, force: Boolean(values.force), by: `${os.userInfo().username}@${os.hostname()}` }],
        });
        console.log(`${action}: ${r.steps.join(', ')}`);
      } catch (e) {
        if (e instanceof WorkflowNotFoundError) throw new Error(`no run with id "${runId}": list runs with "contrail-deploy history"`);
        // The workflow's validator says why (not parked, has dependents...); a closed run cannot take updates.
        if (e instanceof WorkflowUpdateFailedError) throw new Error(`refused: ${e.cause?.message ?? e.message}`);
        const closed = await handle.describe().then((d) => d.status.name, () => undefined);
        if (closed && closed !== 'RUNNING') throw new Error(`run ${runId} is ${closed.toLowerCase()}: nothing waits for a decision${closed === 'FAILED' ? ` (start a new run of its topology to go on)` : ''}`);
        throw e;
      }
      return followAndReport(handle, Boolean(values.json));
    },
  };
}

export const retryCommand = decisionCommand('retry');
export const skipCommand = decisionCommand('skip');
export const abortCommand = decisionCommand('abort');
