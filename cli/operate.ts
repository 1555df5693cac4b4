// Operating commands that act on the hosts directly over SSH (pinned host keys, as the pipeline does):
//   logs: container logs across hosts, each line prefixed with host/service (the guide's `docker-compose logs`)
//   down: stop and remove containers in reverse stage order; data directories stay unless --purge-data
import type Docker from 'dockerode';
import { demuxFrames } from '../lib/docker-frames';
import { loadPlan } from '../lib/load';
import { maskSecrets } from '../lib/secrets';
import type { HostSession } from '../lib/ssh';
import { shq } from '../model/shell';
import type { Plan, PlannedContainer } from '../model/plan';
import { dataDirectories, selectContainers, teardownOrder } from '../model/targets';
import type { Command } from './command';
import { downOrphans } from './diff';
import { UsageError } from './usage';

function planAndTargets(positionals: string[], what: string): { plan: Plan; containers: PlannedContainer[] } {
  const [topologyFile, selector, ...extra] = positionals;
  if (!topologyFile) throw new UsageError('missing the topology file');
  if (extra.length) throw new UsageError(`one ${what} at most; unexpected: ${extra.join(' ')}`);
  const { plan } = loadPlan(topologyFile);
  const { containers, problem } = selectContainers(plan, selector);
  if (problem) throw new UsageError(problem);
  return { plan, containers };
}

/** Runs fn once per host that has selected containers, all hosts in parallel; a host that fails is reported, not fatal. */
async function perHost(plan: Plan, containers: PlannedContainer[], fn: (s: HostSession, docker: Docker, mine: PlannedContainer[]) => Promise<void>): Promise<string[]> {
  const failures: string[] = [];
  // SSH loads only for the commands that reach hosts, not on every CLI start.
  const { withHost, sshTarget } = await import('../lib/ssh');
  await Promise.all(plan.hosts.map(async (host) => {
    const mine = containers.filter((c) => c.host === host.name);
    if (!mine.length) return;
    try {
      await withHost(sshTarget(host, plan.ssh), (s) => fn(s, s.docker(), mine));
    } catch (e) {
      failures.push(`host ${host.name} (${host.address}): ${maskSecrets((e as Error).message)}`);
    }
  }));
  return failures;
}

export const logsCommand: Command = {
  name: 'logs',
  summary: 'container logs across hosts, prefixed with host and service (logs <topology> [service|group|host] [--follow])',
  usage: `Usage: contrail-deploy logs <topology.yaml> [service|group|host] [--follow] [--tail N]

  Shows the logs of the topology's containers on every host (or of one service, one group, or one host), each line
  prefixed with host/service. --tail N: the last N lines of each (default 50; "all" for everything).
  --follow: keep streaming new lines until interrupted.`,
  options: { follow: { type: 'boolean', short: 'f' }, tail: { type: 'string' } },
  async run({ values, positionals }) {
    const { plan, containers } = planAndTargets(positionals, 'service, group or host');
    const tail = String(values.tail ?? '50');
    if (tail !== 'all' && !/^\d+$/.test(tail)) throw new UsageError(`--tail takes a number or "all", not "${tail}"`);
    const follow = Boolean(values.follow);
    const width = Math.max(...containers.map((c) => `${c.host}/${c.service}`.length));
    const failures = await perHost(plan, containers, async (_s, docker, mine) => {
      await Promise.all(mine.map(async (c) => {
        const prefix = `${c.host}/${c.service}`.padEnd(width);
        const print = (line: string) => console.log(`${prefix} | ${line}`);
        const existing = await docker.getContainer(c.name).inspect().catch(() => undefined);
        if (!existing) return print('(no such container on this host: not deployed, or removed by "down")');
        const opts = { stdout: true, stderr: true, timestamps: false, tail: tail === 'all' ? undefined : Number(tail) };
        if (!follow) return printFrames(await docker.getContainer(c.name).logs({ ...opts, follow: false }), print);
        const stream = await docker.getContainer(c.name).logs({ ...opts, follow: true });
        await new Promise<void>((resolve) => {
          let pending: Buffer = Buffer.alloc(0);
          stream.on('data', (d: Buffer) => (pending = printFrames(Buffer.concat([pending, d]), print)));
          stream.on('end', () => resolve());
          stream.on('error', () => resolve());
        });
      }));
    });
    for (const f of failures) console.error(`logs: ${f}`);
    return failures.length ? 1 : 0;
  },
};

/** Prints the whole lines of the frames in buf; returns the bytes of a partial frame to prepend to the next chunk. */
function printFrames(buf: Buffer, print: (line: string) => void): Buffer {
  const { text, rest } = demuxFrames(buf);
  for (const line of text.split('\n')) if (line) print(maskSecrets(line));
  return rest;
}

export const downCommand: Command = {
  name: 'down',
  summary: 'stop and remove containers in reverse stage order (down <topology> [--group G] [--purge-data] [--orphans])',
  usage: `Usage: contrail-deploy down <topology.yaml> [--group G] [--purge-data] [--orphans] [--json]

  Stops and removes the topology's containers on every host, group by group in reverse stage order (compute first,
  common last), hosts in parallel within a group. Data directories (the roles' directories the containers bind) stay
  unless --purge-data. --group G: only that group (stage). A host that cannot be reached is reported; the others go on.
  --json: the last line is {removed: [host/name...], absent: [...], purged: [host:path...], failures: [...]}.
  --orphans: only the orphans (containers with this topology's label that it no longer plans on their host, see
  "diff"), on every host of the topology; the planned containers and every data directory stay.`,
  options: { group: { type: 'string' }, 'purge-data': { type: 'boolean' }, orphans: { type: 'boolean' }, json: { type: 'boolean' } },
  async run({ values, positionals }) {
    if (values.orphans) return downOrphans(positionals, values);
    if (positionals.length > 1) throw new UsageError(`unexpected arguments: ${positionals.slice(1).join(' ')} (use --group G for one group)`);
    const { plan, containers } = planAndTargets(positionals, 'topology');
    const group = values.group === undefined ? undefined : String(values.group);
    if (group && !plan.stages.some((s) => s.name === group)) throw new UsageError(`no group "${group}" in ${plan.topologyFile}: groups are ${plan.stages.map((s) => s.name).join(', ')}`);
    const selected = group ? containers.filter((c) => c.stage === group) : containers;
    const result = { removed: [] as string[], absent: [] as string[], purged: [] as string[], failures: [] as string[] };
    for (const g of teardownOrder(plan, selected)) {
      const failures = await perHost(plan, g.containers, async (session, docker, mine) => {
        for (const c of mine) {
          const existing = await docker.getContainer(c.name).inspect().catch(() => undefined);
          if (!existing) {
            result.absent.push(`${c.host}/${c.name}`);
            continue;
          }
          if (existing.State.Running) await docker.getContainer(c.name).stop({ t: 10 }).catch(() => undefined);
          await docker.getContainer(c.name).remove({ force: true });
          result.removed.push(`${c.host}/${c.name}`);
          if (!values.json) console.log(`  ${g.stage.padEnd(10)} ${c.host}/${c.name} removed`);
        }
        if (values['purge-data']) {
          for (const dir of [...new Set(mine.flatMap((c) => dataDirectories(plan, c)))]) {
            // The contents go; the directory stays (it may be a mount point, and preparation set its owner and mode).
            const r = await session.execAsRoot(`[ ! -d ${shq(dir)} ] || find ${shq(dir)} -mindepth 1 -delete`, 'step purge data', `find ${dir} -mindepth 1 -delete`);
            if (r.code !== 0) throw new Error(`could not empty ${dir}: ${r.stderr.trim()}`);
            result.purged.push(`${session.target.host}:${dir}`);
          }
        }
      });
      result.failures.push(...failures.map((f) => `group ${g.stage}: ${f}`));
    }
    if (values.json) console.log(JSON.stringify(result));
    else {
      console.log(`removed ${result.removed.length} containers${result.absent.length ? `, ${result.absent.length} were not there` : ''}${result.purged.length ? `; purged ${result.purged.join(', ')}` : '; data directories kept'}`);
      for (const f of result.failures) console.error(`down: ${f}`);
    }
    return result.failures.length ? 1 : 0;
  },
};
