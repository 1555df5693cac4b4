// `contrail-deploy lab up|down|status|env`: the lab is system plumbing (namespaces, engines, sshd), kept in lab/lab.sh.
import { spawnSync } from 'child_process';
import * as path from 'path';
import { PROJECT_ROOT } from '../lib/paths';
import type { Command } from './command';
import { UsageError } from './usage';

export const LAB_SCRIPT = path.join(PROJECT_ROOT, 'lab', 'lab.sh');

export const labCommand: Command = {
  name: 'lab',
  summary: 'start, stop or show the local lab (Temporal, Docker engines, registry, SSH test hosts)',
  usage: `Usage: contrail-deploy lab up [--hosts N] [--temporal dev|cluster] | down [--purge-cache] | status [--json] | env [--temporal cluster]

  up        start everything (idempotent): Temporal dev server (UI on :8233), the build engine, a TLS registry with
            htpasswd auth, and N test hosts (default 3: controller1, compute1, compute2), each a network namespace
            with its own sshd, Docker engine and host paths. Needs root. Prints what runs where.
            --temporal cluster also starts a production-shaped Temporal beside the dev server: PostgreSQL, one
            frontend (127.0.0.1:7333, mutual TLS), two history, one matching and one worker process, and the UI
            (:8333); the first run builds the server (about 8 minutes, cached). --temporal dev stops it again.
  down      stop and remove everything "up" created; the cache (Temporal CLI, base images, the build engine's
            images and layers, in ~/.cache/contrail-deploy) is kept unless --purge-cache
  status    what runs where; --json prints one JSON object
  env       shell exports that point docker and temporal at the lab: eval "$(contrail-deploy lab env)";
            with --temporal cluster, at the cluster (TEMPORAL_ADDRESS and the TEMPORAL_TLS_* client certificate)

Environment: CONTRAIL_LAB_DIR (state, default .lab), CONTRAIL_CACHE_DIR (default ~/.cache/contrail-deploy),
TEMPORAL_CLI (a temporal binary to use), TEMPORAL_ADDRESS (use that server; the lab starts none).`,
  options: { hosts: { type: 'string' }, temporal: { type: 'string' }, json: { type: 'boolean' }, 'purge-cache': { type: 'boolean' } },
  async run({ values, positionals }) {
    const [action, ...extra] = positionals;
    if (!['up', 'down', 'status', 'env'].includes(action ?? '')) throw new UsageError(action ? `unknown lab action "${action}"` : 'missing the lab action');
    if (extra.length) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
    const args = [action];
    if (values.hosts !== undefined) {
      if (action !== 'up') throw new UsageError('--hosts is an option of "lab up"');
      args.push('--hosts', String(values.hosts));
    }
    if (values.temporal !== undefined) args.push(...temporalKindArgs(action ?? '', String(values.temporal)));
    if (values.json) args.push('--json');
    if (values['purge-cache']) {
      if (action !== 'down') throw new UsageError('--purge-cache is an option of "lab down"');
      args.push('--purge-cache');
    }
    const r = spawnSync('bash', [LAB_SCRIPT, ...args], { stdio: 'inherit' });
    return r.status ?? 1;
  },
};

/** `--temporal dev|cluster` for "lab up" (which Temporal runs), `--temporal cluster` for "lab env" (whose settings). */
function temporalKindArgs(action: string, kind: string): string[] {
  if (action === 'up' && (kind === 'dev' || kind === 'cluster')) return ['--temporal', kind];
  if (action === 'env' && kind === 'cluster') return ['--temporal', kind];
  if (action === 'up' || action === 'env') throw new UsageError(`--temporal takes ${action === 'up' ? 'dev or cluster' : 'cluster'} (got "${kind}")`);
  throw new UsageError('--temporal is an option of "lab up" and "lab env"');
}
