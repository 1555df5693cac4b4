// How workflows call activities: options per kind of work, and the task queue (a topology with `simulate:` sends its
// host work to the simulated worker's own queue).
import { proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { ActivityFunctions } from '../model/activity-types';
import { ACTIVITY_RETRY, simulatedQueue, type TaskQueues } from '../model/shared';

export type ActivityName = keyof ActivityFunctions;
/** build: image builds and pushes next to a Docker engine; deploy: host work over SSH; health: a gate (it has its
 *  own deadline); probe: host work done ahead of its turn, tried once (its own step does it again if it fails). */
export type CallProfile = 'build' | 'deploy' | 'health' | 'probe';

const NON_RETRYABLE = ['BuildFailed', 'BuildCancelled', 'ContextMissing', 'InvalidPlan', 'RegistryAuthFailed', 'KernelModuleMissing', 'SshRefused', 'ContainerRejected', 'HealthGateTimeout', 'QuorumNotReached', 'SecretNotFound'];

function options(taskQueue: string, startToCloseTimeout: ActivityOptions['startToCloseTimeout'], maximumAttempts = ACTIVITY_RETRY.maximumAttempts): ActivityOptions {
  return {
    taskQueue,
    startToCloseTimeout,
    // Activities heartbeat every few seconds: 30 s without one means the worker is gone, and another one retries.
    heartbeatTimeout: '30s',
    retry: {
      initialInterval: ACTIVITY_RETRY.initialIntervalMs,
      backoffCoefficient: ACTIVITY_RETRY.backoffCoefficient,
      maximumInterval: ACTIVITY_RETRY.maximumIntervalMs,
      maximumAttempts,
      nonRetryableErrorTypes: NON_RETRYABLE,
    },
  };
}

type Proxies = Record<CallProfile, ReturnType<typeof proxyActivities<ActivityFunctions>>>;

function activityProxies(queues: TaskQueues, simulated: boolean): Proxies {
  const hostQueue = simulated ? simulatedQueue(queues.deploy) : queues.deploy;
  return {
    build: proxyActivities<ActivityFunctions>(options(queues.build, '30m')),
    deploy: proxyActivities<ActivityFunctions>(options(hostQueue, '10m')),
    // A gate that times out is not retried (HealthGateTimeout); a gate whose worker died is.
    health: proxyActivities<ActivityFunctions>(options(hostQueue, '1h')),
    probe: proxyActivities<ActivityFunctions>(options(hostQueue, '2m', 1)),
  };
}

/** Calls activities with the options of each profile, on a run's task queues. */
export class ActivityCaller {
  private readonly proxies: Proxies;

  constructor(queues: TaskQueues, simulated = false) {
    this.proxies = activityProxies(queues, simulated);
  }

  /** Calls one activity; `summary` is what the UI shows for it (image, host, service). */
  call<K extends ActivityName>(profile: CallProfile, activity: K, summary: string, ...args: Parameters<ActivityFunctions[K]>): ReturnType<ActivityFunctions[K]> {
    const proxy = this.proxies[profile][activity] as unknown as { executeWithOptions(o: { summary: string }, a: unknown[]): ReturnType<ActivityFunctions[K]> };
    return proxy.executeWithOptions({ summary }, args);
  }
}
