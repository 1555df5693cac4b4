import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { cacheDir, labDir, PROJECT_ROOT } from '../../lib/paths';

/** The temporal CLI binary the lab uses (never downloaded by tests). */
export function temporalCli(): string {
  const candidates = [process.env.TEMPORAL_CLI, readIfExists(path.join(labDir(), 'temporal', 'cli')), path.join(cacheDir(), 'bin', 'temporal')];
  const found = candidates.find((c) => c && fs.existsSync(c));
  if (!found) throw new Error('no temporal binary: run "contrail-deploy lab up" first (it builds or finds one)');
  return found;
}

function readIfExists(f: string): string | undefined {
  try {
    return fs.readFileSync(f, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The lab's production-shaped Temporal, as `lab status --json` reports it (null when it was never started). */
export interface TemporalClusterStatus {
  kind: 'cluster';
  up: boolean;
  address: string;
  namespace: string;
  ui: string;
  numHistoryShards: number;
  processes: { name: string; service: string; pid: number | null; up: boolean; ports: Record<string, number>; log: string }[];
  database: { kind: string; version: string; address: string; pid: number | null; up: boolean; dataDir: string; passwordSecret: string; schemas: Record<string, string> };
  client: { envFile: string; configFile: string; profile: string; address: string; serverName: string; serverCaCert: string; clientCert: string; clientKey: string };
  config: { server: string; dynamic: string; ui: string };
}

const LAB_SH = path.join(PROJECT_ROOT, 'lab', 'lab.sh');
const CLUSTER_SH = path.join(PROJECT_ROOT, 'lab', 'temporal-cluster.sh');

export function clusterStatus(): TemporalClusterStatus | null {
  const r = spawnSync('bash', [LAB_SH, 'status', '--json'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`lab status failed: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { temporalCluster: TemporalClusterStatus | null }).temporalCluster;
}

/** The cluster, started with `lab up --temporal cluster` when it is not up (the first time builds the server: minutes). */
export function ensureCluster(): TemporalClusterStatus {
  const now = clusterStatus();
  if (now?.up && now.processes.every((p) => p.up)) return now;
  const r = spawnSync('bash', [LAB_SH, 'up', '--temporal', 'cluster'], { encoding: 'utf8', timeout: 30 * 60 * 1000 });
  if (r.status !== 0) throw new Error(`lab up --temporal cluster failed (${r.status}):\n${r.stderr.slice(-3000)}`);
  const up = clusterStatus();
  if (!up?.up) throw new Error('the Temporal cluster is not up after lab up --temporal cluster');
  return up;
}

/** What `contrail-deploy lab env --temporal cluster` exports, as an environment for child processes. */
export function clusterClientEnv(): Record<string, string> {
  const r = spawnSync('bash', [LAB_SH, 'env', '--temporal', 'cluster'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`lab env --temporal cluster failed: ${r.stderr}`);
  const env: Record<string, string> = {};
  for (const m of r.stdout.matchAll(/^export ([A-Z_]+)=(.*)$/gm)) env[m[1]] = m[2];
  return env;
}

/** Start, stop (gracefully) or SIGKILL one process of the cluster: postgres, frontend, history1, history2, matching, worker, ui. */
export function clusterProcess(action: 'start' | 'stop' | 'kill', name: string): void {
  const r = spawnSync('bash', [CLUSTER_SH, action, name], { encoding: 'utf8', timeout: 120000 });
  if (r.status !== 0) throw new Error(`temporal-cluster.sh ${action} ${name} failed: ${r.stderr}`);
}
