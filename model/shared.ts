// Names shared by the CLI, workers and workflows: task queues, search attributes, queries.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { SurveyedContainer } from './activity-types';
import type { Decision, ParkedStep, PartResult, RunSummary } from './steps';

export interface TaskQueues {
  /** Image builds and pushes: run this worker next to a Docker engine. */
  build: string;
  /** The pipeline workflow, host preparation and bring-up: run this worker where the hosts are reachable over SSH. */
  deploy: string;
}

/** How activities are retried after a retryable failure (workflows/activity-calls.ts); the scale benchmark's ideal
 *  follows it too. Intervals in milliseconds. */
export const ACTIVITY_RETRY = { initialIntervalMs: 2000, backoffCoefficient: 2, maximumIntervalMs: 30000, maximumAttempts: 5 };

export const DEFAULT_QUEUE_PREFIX = 'contrail-deploy';

export function taskQueues(prefix: string = DEFAULT_QUEUE_PREFIX): TaskQueues {
  return { build: `${prefix}-build`, deploy: `${prefix}-deploy` };
}

/** The task queue of simulated host work (a topology with `simulate:`): only a worker started with --simulate polls
 *  it, and no real worker does, so a simulated run can never touch a real host, nor a real run a simulated one. */
export function simulatedQueue(deployQueue: string): string {
  return `${deployQueue}-simulated`;
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

/** An operator's decision on a parked step: retry it, skip it, or abort (validated: the step must be parked). Sent to
 *  the run, which passes it on to the part where the step waits. */
export const decideUpdate = defineUpdate<{ steps: string[]; action: Decision['action'] }, [Decision]>('decide');

// Between a run and its parts (child workflows). Each is sent a bounded number of times: once per image, per part,
// per park.
/** A part's steps as they stand (a running part; a closed one returns the same as its result). */
export const partQuery = defineQuery<PartResult>('partSteps');
/** The same, with only the steps that failed, are blocked or parked: what the live view at scale reads every second. */
export const partProgressQuery = defineQuery<PartResult>('partProgress');
/** Run -> part: an operator's decision on a step parked there (no step: abort every parked step and later ones). */
export const decisionSignal = defineSignal<[Decision]>('decision');
/** Part -> run: a step parked, or stopped waiting. */
export const stepParkedSignal = defineSignal<[ParkedStep & { part: string }]>('stepParked');
export const stepUnparkedSignal = defineSignal<[{ step: string; part: string }]>('stepUnparked');
/** Images part -> run: images pushed (their refs) or that will not be (why); those settled together, in one signal. */
export const imagesSettledSignal = defineSignal<[{ image: string; ref?: string; failed?: string }[]]>('imagesSettled');
/** Host part -> run: the part's gate (every plain container healthy, every cluster in quorum), or its failure; the part
 *  may still wait on a parked minority member after it. */
export const partGateSignal = defineSignal<[PartGate]>('partGate');

/** Run -> a part started before its images were looked up (while what runs may settle it): their refs, or why they
 *  will not be pushed. Sent once, when every image the part runs is settled. */
export const partImagesSignal = defineSignal<[{ refs: Record<string, string>; unavailable: Record<string, string> }]>('partImages');

/** Host part -> run, from a part started ahead of its turn (see the run): whether what already runs would settle it. */
export const partReadySignal = defineSignal<[{ part: string; settled: boolean }]>('partReady');
/** Run -> a part started ahead of its turn: its turn came (settle: whether what runs may still settle it), or it never
 *  will (blocked: why). */
export const proceedSignal = defineSignal<[Proceed]>('proceed');
export type Proceed = { settle: boolean } | { blocked: string };

export interface PartGate {
  part: string;
  ok: boolean;
  settled: boolean;
  /** What the part's survey found of its hosts' containers in later stages (while surveys may settle parts): the run
   *  passes it on, so each host is surveyed once. */
  surveyedAhead?: Record<string, SurveyedContainer[]>;
  /** Hosts of later parts this (settled) part prepared ahead of their turn, with what it found: the run passes each on
   *  to its part while parts are settled, so a redeploy where nothing changed does not wait for them at their turn. */
  preparedAhead?: Record<string, string>;
  /** When the gate did not pass: the step that kept it shut. */
  stoppedBy?: { id: string; message: string };
}
