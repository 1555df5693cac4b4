// Starts workers for the build and/or deploy task queues. Build workers need a Docker engine; deploy workers run the
// pipeline workflow and reach the hosts over SSH. They can run on different machines.
import { Runtime, Worker, DefaultLogger, type LogLevel } from '@temporalio/worker';
import * as activities from '../activities';
import { connectWorker } from '../lib/temporal';
import { closeHostConnections } from '../lib/ssh';
import { taskQueues, type TaskQueues } from '../model/shared';

export type QueueKind = keyof TaskQueues;

export interface WorkerOptions {
  kinds: QueueKind[];
  queuePrefix?: string;
  /** Activity slots of a build worker (builds and pushes). The run's own limits (topology concurrency.builds and
   * .pushes) decide how many of each go at once; this caps what one machine takes. */
  buildSlots?: number;
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
    const workers = await Promise.all(
      opts.kinds.map((kind) =>
        kind === 'build'
          ? Worker.create({
              connection, namespace, taskQueue: queues.build, activities,
              maxConcurrentActivityTaskExecutions: opts.buildSlots ?? 4,
              shutdownGraceTime: '10s',
            })
          : Worker.create({
              connection, namespace, taskQueue: queues.deploy, activities,
              workflowsPath: require.resolve('../workflows'),
              maxConcurrentActivityTaskExecutions: 20,
              shutdownGraceTime: '10s',
            }),
      ),
    );
    opts.onReady?.(opts.kinds.map((k) => queues[k]));
    const stop = () => workers.forEach((w) => w.shutdown());
    opts.signal?.addEventListener('abort', stop);
    await Promise.all(workers.map((w) => w.run()));
  } finally {
    closeHostConnections();
    await connection.close();
  }
}
