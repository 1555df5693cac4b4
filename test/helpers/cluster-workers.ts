// Workers on several "machines" of the lab, against the Temporal cluster: a worker process started in a lab network
// namespace (the second build host, the operations host) or in this one, and the run's history read from the cluster.
import { spawn, spawnSync, type ChildProcess } from 'child_process';
import * as path from 'path';
import { PROJECT_ROOT } from '../../lib/paths';
import type { WorkflowHistory } from './history';
import { CLI, stopChild } from './lab';

const WORKER_HOSTS_SH = path.join(PROJECT_ROOT, 'lab', 'worker-hosts.sh');

/** What `lab status --json` reports as workerHosts (lab/worker-hosts.sh). */
export interface WorkerHostsStatus {
  frontendRelay: { address: string; up: boolean };
  build2: { namespace: string; address: string; dockerHost: string; buildProxy: string; up: boolean };
  ops: { namespace: string; address: string; reaches: string[]; up: boolean };
}

/** The second build host and the operations host, set up when they are not (idempotent; daemons detach from us). */
export function ensureWorkerHosts(): WorkerHostsStatus {
  const up = spawnSync('bash', [WORKER_HOSTS_SH, 'up'], { encoding: 'utf8', timeout: 300000 });
  if (up.status !== 0) throw new Error(`worker-hosts.sh up failed: ${up.stderr}`);
  const r = spawnSync('bash', [WORKER_HOSTS_SH, 'status', '--json'], { encoding: 'utf8' });
  return JSON.parse(r.stdout) as WorkerHostsStatus;
}

export interface ClusterWorker {
  child: ChildProcess;
  /** The worker's identity as Temporal records it (the SDK's default: pid@hostname). */
  pid: number;
  output(): string;
  stop(): Promise<void>;
}

/** `contrail-deploy worker ARGS` in the namespace given (none: this one), polling once it says so. */
export async function startClusterWorker(args: string[], env: NodeJS.ProcessEnv, netns?: string): Promise<ClusterWorker> {
  // nsenter execs the command (no fork without --fork): the child's pid is the worker's own.
  const command = netns ? ['nsenter', `--net=/var/run/netns/${netns}`, '--', process.execPath, CLI, 'worker', ...args] : [process.execPath, CLI, 'worker', ...args];
  const child = spawn(command[0], command.slice(1), { env, cwd: PROJECT_ROOT });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      output += d.toString();
      if (output.includes('worker: polling')) resolve();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`worker ${args.join(' ')}${netns ? ` in ${netns}` : ''} exited (${code}) before polling:\n${output}`)));
  });
  return {
    child,
    pid: child.pid!,
    output: () => output,
    stop: () => stopChild(child),
  };
}

type ClusterEvent = WorkflowHistory['events'][number] & { activityTaskStartedEventAttributes?: { identity?: string } };

/** A run's history and its parts', from the cluster (temporal CLI with the cluster's client settings in env). */
export function clusterHistories(runId: string, temporalCli: string, env: NodeJS.ProcessEnv): (WorkflowHistory & { events: ClusterEvent[] })[] {
  const show = (workflowId: string, run?: string) => {
    const r = spawnSync(temporalCli, ['workflow', 'show', '--workflow-id', workflowId, ...(run ? ['--run-id', run] : []), '--output', 'json'], { encoding: 'utf8', env, maxBuffer: 256 << 20 });
    if (r.status !== 0) throw new Error(`temporal workflow show ${workflowId} failed: ${r.stderr}`);
    return { workflowId, raw: r.stdout, events: (JSON.parse(r.stdout) as { events: ClusterEvent[] }).events };
  };
  const all = [show(runId)];
  for (let i = 0; i < all.length; i++) {
    for (const e of all[i].events) {
      const child = e.childWorkflowExecutionStartedEventAttributes?.workflowExecution;
      if (child) all.push(show(child.workflowId, child.runId));
    }
  }
  return all;
}
