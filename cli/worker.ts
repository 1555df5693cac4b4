import type { QueueKind } from '../workers/worker';
import { simulatedQueue, taskQueues } from '../model/shared';
import type { Command } from './command';
import { UsageError } from './usage';

export function queuePrefix(): string | undefined {
  return process.env.CONTRAIL_TASK_QUEUE_PREFIX || undefined;
}

export const workerCommand: Command = {
  name: 'worker',
  summary: 'run a worker for the build and/or deploy task queues',
  usage: `Usage: contrail-deploy worker [--queues build,deploy] [--build-slots N] [--probes direct|ssh]
       contrail-deploy worker --queues deploy --simulate

  --queues       which task queues to serve (default: both). "build" needs a Docker engine (CONTRAIL_DOCKER_HOST,
                 DOCKER_HOST or the lab's); "deploy" runs the pipeline workflow and reaches hosts over SSH.
  --build-slots  build and push activities this build worker runs at once (default 4); how many builds and pushes
                 a run starts at once is the topology's concurrency.builds / .pushes (default 2 and 1)
  --probes       how a deploy worker probes the ports and URLs of health checks: "direct" (default), or "ssh":
                 through each host's own SSH connection, for a worker on an operations host that reaches the hosts
                 over SSH only (CONTRAIL_PROBES=ssh does the same; about 10-20 ms more per probe)
  --simulate     for measuring scale only: poll ONLY ${simulatedQueue(taskQueues().deploy)}, the host work (prepare, pull,
                 survey, start, health, quorum) of topologies with a simulate: block, which this worker does without
                 touching any host (it waits a random latency and fails at the block's rates); no workflows, no other
                 queue. A worker without --simulate never polls that queue. Needs --queues deploy.

Task queue names: ${taskQueues().build}, ${taskQueues().deploy} (prefix from CONTRAIL_TASK_QUEUE_PREFIX).
Temporal connection: TEMPORAL_ADDRESS and the other @temporalio/envconfig settings; default 127.0.0.1:7233.
Secrets are resolved here, on the worker: environment variables, or CONTRAIL_SECRETS_FILE (default .lab/secrets.env).`,
  options: { queues: { type: 'string' }, 'build-slots': { type: 'string' }, probes: { type: 'string' }, simulate: { type: 'boolean' } },
  async run({ values, positionals }) {
    if (positionals.length) throw new UsageError(`unexpected arguments: ${positionals.join(' ')}`);
    const simulate = Boolean(values.simulate);
    const kinds = String(values.queues ?? (simulate ? 'deploy' : 'build,deploy')).split(',').map((s) => s.trim());
    for (const k of kinds) if (k !== 'build' && k !== 'deploy') throw new UsageError(`unknown queue "${k}": use build, deploy or build,deploy`);
    if (simulate && kinds.join() !== 'deploy') throw new UsageError('--simulate serves only simulated host work: use --queues deploy --simulate');
    const buildSlots = values['build-slots'] === undefined ? undefined : Number(values['build-slots']);
    if (buildSlots !== undefined && !(Number.isInteger(buildSlots) && buildSlots >= 1 && buildSlots <= 64)) throw new UsageError('--build-slots takes a number from 1 to 64');
    if (values.probes !== undefined) {
      if (values.probes !== 'direct' && values.probes !== 'ssh') throw new UsageError(`--probes takes direct or ssh (got "${String(values.probes)}")`);
      process.env.CONTRAIL_PROBES = values.probes; // read by lib/probes.ts where each probe is made
    }
    const controller = new AbortController();
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => controller.abort());
    const { runWorkers } = await import('../workers/worker');
    await runWorkers({
      kinds: kinds as QueueKind[], queuePrefix: queuePrefix(), buildSlots, simulate, signal: controller.signal,
      onReady: (queues) => console.error(`worker: polling ${queues.join(', ')}${simulate ? ' (simulated hosts: no host is ever reached)' : ''}`),
    });
    return 0;
  },
};
