// Names shared by the CLI, workers and workflows: task queues, search attributes, queries.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { Decision, RunSummary } from './steps';

export interface TaskQueues {
  /** Image builds and pushes: run this worker next to a Docker engine. */
  build: string;
  /** The pipeline workflow, host preparation and bring-up: run this worker where the hosts are reachable over SSH. */
  deploy: string;
}

export const DEFAULT_QUEUE_PREFIX = 'contrail-deploy';

export function taskQueues(prefix: string = DEFAULT_QUEUE_PREFIX): TaskQueues {
  return { build: `${prefix}-build`, deploy: `${prefix}-deploy` };
}

export const SEARCH_ATTRIBUTES = {
  release: defineSearchAttributeKey('ReleaseTag', SearchAttributeType.KEYWORD),
  topology: defineSearchAttributeKey('Topology', SearchAttributeType.KEYWORD),
  initiator: defineSearchAttributeKey('Initiator', SearchAttributeType.KEYWORD),
  status: defineSearchAttributeKey('RunStatus', SearchAttributeType.KEYWORD),
  /** On a run started by `resume`: the run it continues. */
  resumedFrom: defineSearchAttributeKey('ResumedFrom', SearchAttributeType.KEYWORD),
};

/** The run as it stands: steps, counts, digests. */
export const runSummaryQuery = defineQuery<RunSummary>('runSummary');

/** An operator's decision on a parked step: retry it, skip it, or abort (validated: the step must be parked). */
export const decideUpdate = defineUpdate<{ steps: string[]; action: Decision['action'] }, [Decision]>('decide');
