// How the pipeline calls its activities: options per kind of work, and the child workflow that runs one step's
// activity under a business id of its own (so the UI lists <run>/build/<image>, <run>/host/<host>, ...).
import { proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type * as activities from '../activities';
import type { TaskQueues } from '../model/shared';

export type Activities = typeof activities;
export type ActivityName = keyof Activities;
/** build: image builds and pushes next to a Docker engine; deploy: host work over SSH; health: a gate (it has its
 *  own deadline). */
export type CallProfile = 'build' | 'deploy' | 'health';

const NON_RETRYABLE = ['BuildFailed', 'BuildCancelled', 'ContextMissing', 'InvalidPlan', 'RegistryAuthFailed', 'KernelModuleMissing', 'SshRefused', 'ContainerRejected', 'HealthGateTimeout', 'QuorumNotReached', 'SecretNotFound'];

function options(taskQueue: string, startToCloseTimeout: ActivityOptions['startToCloseTimeout'], heartbeatTimeout?: ActivityOptions['heartbeatTimeout']): ActivityOptions {
  return {
    taskQueue,
    startToCloseTimeout,
    heartbeatTimeout,
    retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE },
  };
}

/** Activity proxies per profile. Activities heartbeat every few seconds: 30 s without one means the worker is gone,
 *  and another one retries. */
export function activityProxies(queues: TaskQueues): Record<CallProfile, ReturnType<typeof proxyActivities<Activities>>> {
  return {
    build: proxyActivities<Activities>(options(queues.build, '30m', '30s')),
    deploy: proxyActivities<Activities>(options(queues.deploy, '10m', '30s')),
    // A gate that times out is not retried (HealthGateTimeout); a gate whose worker died is.
    health: proxyActivities<Activities>(options(queues.deploy, '1h', '30s')),
  };
}

export interface StepCall<K extends ActivityName = ActivityName> {
  profile: CallProfile;
  queues: TaskQueues;
  activity: K;
  args: Parameters<Activities[K]>;
  /** What the UI shows for the activity (image, host, service). */
  summary: string;
}

// One set of proxies per task queue names, made on first use (a run calls hundreds of activities on the same queues).
const proxiesByQueues = new Map<string, ReturnType<typeof activityProxies>>();

/** Calls one activity with the options of its profile. */
export function callActivity<K extends ActivityName>(call: StepCall<K>): ReturnType<Activities[K]> {
  const key = `${call.queues.build}\n${call.queues.deploy}`;
  if (!proxiesByQueues.has(key)) proxiesByQueues.set(key, activityProxies(call.queues));
  const proxy = proxiesByQueues.get(key)![call.profile][call.activity] as unknown as { executeWithOptions(o: { summary: string }, a: unknown[]): ReturnType<Activities[K]> };
  return proxy.executeWithOptions({ summary: call.summary }, call.args);
}

/** Child workflow: one step of a run (its activity, with that activity's retries), under the step's business id. */
export async function pipelineStep(call: StepCall): Promise<unknown> {
  return callActivity(call);
}
