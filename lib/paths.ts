// Where the project, the lab state and the cache live (Node side only).
import * as os from 'os';
import * as path from 'path';

export const PROJECT_ROOT = path.resolve(__dirname, '..');

export function labDir(): string {
  return process.env.CONTRAIL_LAB_DIR ?? path.join(PROJECT_ROOT, '.lab');
}

export function cacheDir(): string {
  return process.env.CONTRAIL_CACHE_DIR ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'contrail-deploy');
}

/** Build logs, one file per image build, kept for the run summary. */
export function buildLogDir(): string {
  return process.env.CONTRAIL_BUILD_LOG_DIR ?? path.join(labDir(), 'build-logs');
}

export function expandHome(p: string): string {
  return p.startsWith('~/') ? path.join(os.homedir(), p.slice(2)) : p;
}

/** Where `contrail-deploy simulate clear HOST` records that a simulated host's permanent fault was fixed. */
export function clearedFaultsDir(): string {
  return path.join(labDir(), 'sim', 'cleared');
}
