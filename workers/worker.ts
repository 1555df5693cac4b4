// Starts workers for the build and/or deploy task queues. Build workers need a Docker engine; deploy workers run the
// pipeline workflow and reach the hosts over SSH. They can run on different machines. A simulated worker (for scale
// measurements) serves only the simulated host work of topologies with `simulate:`, on a task queue of its own.
import { Runtime, Worker, DefaultLogger, type LogLevel } from '@temporalio/worker';
import * as activities from '../activities';
import { connectWorker } from '../lib/temporal';
import { closeHostConnections } from '../lib/ssh';
import { simulatedQueue, taskQueues, type TaskQueues } from '../model/shared';
import { simulatedActivities } from '../activities/simulated';

export type QueueKind = keyof TaskQueues;

export interface WorkerOptions {
  kinds: QueueKind[];
  queuePrefix?: string;
  /** Activity slots of a build worker (builds and pushes). The run's own limits (topology concurrency.builds and
   * .pushes) decide how many of each go at once; this caps what one machine takes. */
  buildSlots?: number;
  /** The deploy kind serves simulated host work instead: it polls only simulatedQueue(deploy queue), with
   *  activities/simulated and no workflows, so it never reaches a host. No worker without this polls that queue. */
  simulate?: boolean;
  signal?: AbortSignal;
  /** Called once every worker is created and about to poll. */
  onReady?: (queues: string[]) => void;
}

let runtimeInstalled = false;

export async function runWorkers(opts: WorkerOptions): Promise<void> {
  if (!runtimeInstalled) {
    const level = (process.env.CONTRAIL_LOG_LEVEL as LogLevel) ?? 'WARN';
    // A build-only worker has no workflows by design: the SDK's warning about that is noise here.
    Runtime.install({ logger: new DefaultLogger(level, (entry) => {
      if (!entry.message.startsWith('No workflows registered')) console.error(`${entry.level} ${entry.message}${entry.meta?.error ? `: ${String((entry.meta.error as Error).message ?? entry.meta.error)}` : ''}`);
    }) });
    runtimeInstalled = true;
  }
  const queues = taskQueues(opts.queuePrefix);
  const { connection, namespace } = await connectWorker();
  try {
    const specs = opts.kinds.map((kind) => workerSpec(kind, queues, opts));
    const workers = await Promise.all(specs.map((spec) => Worker.create({ connection, namespace, shutdownGraceTime: '10s', ...spec })));
    opts.onReady?.(specs.map((spec) => spec.taskQueue));
    const stop = () => workers.forEach((w) => w.shutdown());
    opts.signal?.addEventListener('abort', stop);
    await Promise.all(workers.map((w) => w.run()));
  } finally {
    closeHostConnections();
    await connection.close();
  }
}

/** What one worker polls and runs. */
function workerSpec(kind: QueueKind, queues: TaskQueues, opts: WorkerOptions) {
  if (kind === 'build') return { taskQueue: queues.build, activities, maxConcurrentActivityTaskExecutions: opts.buildSlots ?? 4 };
  // Simulated steps only sleep: slots must not be the limit a scale run measures (the run's concurrency.hosts is).
  if (opts.simulate) return { taskQueue: simulatedQueue(queues.deploy), activities: simulatedActivities, maxConcurrentActivityTaskExecutions: 2000 };
  return { taskQueue: queues.deploy, activities, workflowsPath: require.resolve('../workflows'), maxConcurrentActivityTaskExecutions: 20 };
}
