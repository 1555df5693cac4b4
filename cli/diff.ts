// `contrail-deploy diff <topology>`: read-only, how the hosts differ from the plan. Each host is surveyed as a run
// surveys it (activities/containers.ts surveyHost: state, spec hash, health and quorum checks), its containers listed
// once (for orphans and containers made by hand), and the digests compared with what the release tag points at.
import { loadPlan } from '../lib/load';
import type { SurveyedContainer } from '../model/activity-types';
import { hostDrift, type DriftItem } from '../model/drift';
import { upgradeOrder, type UpgradeOrder } from '../model/upgrade-order';
import { hostRef, type Plan, type PlannedHost } from '../model/plan';
import { Semaphore } from '../model/semaphore';
import type { Command } from './command';
import { onePositional, UsageError } from './usage';

export interface HostDiff {
  host: string;
  address: string;
  planned: number;
  asPlanned: number;
  drift: DriftItem[];
  /** The host could not be asked: nothing is known of it. */
  error?: string;
}

export interface DiffReport {
  topology: string;
  release: string;
  ok: boolean;
  /** What could not be compared (the release tag not in the registry, say). */
  notes: string[];
  hosts: HostDiff[];
}

export const diffCommand: Command = {
  name: 'diff',
  summary: 'read-only: how the hosts differ from the plan (missing, stopped, other digest or spec, unhealthy, orphans)',
  usage: `Usage: contrail-deploy diff <topology.yaml> [--json]

  Asks every host, changing nothing, for each planned container: missing, stopped, restarting, made by hand (a
  container with its name that contrail-deploy did not create), running another image digest than the release tag
  points at in the registry, another spec (env, volumes, privileges, labels, command), or not answering its health
  (or quorum) check; and the orphans: containers that carry this topology's label but that it no longer plans on
  their host. Exits 1 on any drift (or a host that cannot be asked), 0 when every host runs as planned, 2 on bad
  input. "contrail-deploy run" brings planned containers back; "run --remove-orphans" or "down --orphans" removes
  the orphans (never their data directories).
  --json  one JSON object: {topology, release, ok, notes, hosts: [{host, address, planned, asPlanned, drift: [{host,
          container, kind, detail}], error?}]}; kind: missing, stopped, restarting, foreign, image, spec, unhealthy,
          orphan`,
  options: { json: { type: 'boolean' } },
  async run({ values, positionals }) {
    const { plan } = loadPlan(onePositional(positionals, 'topology file'));
    if (plan.simulate) {
      console.error(`contrail-deploy diff: ${plan.topologyFile} is a simulated topology (simulate:): its hosts do not exist, so there is nothing to compare`);
      return 2;
    }
    const report = await diffPlan(plan);
    if (values.json) console.log(JSON.stringify(report));
    else console.log(renderDiff(plan, report));
    return report.ok ? 0 : 1;
  },
};

/** `expected`: what to compare the digests with (default: what the release tag points at in the registry). */
export async function diffPlan(plan: Plan, digests: { expected: Record<string, string>; expectedIs: string; notes: string[] } | undefined = undefined): Promise<DiffReport> {
  const { expected, expectedIs, notes } = digests ?? { ...(await releaseDigests(plan)), expectedIs: 'the release points at' };
  const slots = new Semaphore(plan.concurrency.hosts);
  const hosts = await Promise.all(plan.hosts.map((h) => slots.run(() => diffHost(plan, h, expected, expectedIs))));
  return { topology: plan.topology, release: plan.release, ok: hosts.every((h) => !h.error && !h.drift.length), notes, hosts };
}

/** image name -> repository@digest, as the release tag points in the registry; what could not be read is a note. */
async function releaseDigests(plan: Plan): Promise<{ expected: Record<string, string>; notes: string[] }> {
  const { RegistryClient } = await import('../lib/registry');
  const used = new Set(plan.stages.flatMap((s) => s.containers.map((c) => c.image)));
  const images = plan.images.filter((i) => used.has(i.name));
  const expected: Record<string, string> = {};
  const notes: string[] = [];
  try {
    const registry = new RegistryClient(plan.registry);
    await Promise.all(images.map(async (i) => {
      const digest = await registry.digestOf(i.repository, plan.release, `release tag ${plan.release} of ${i.name}`);
      if (digest) expected[i.name] = `${i.repository}@${digest}`;
      else notes.push(`${i.repository}:${plan.release} is not in the registry (no run of this release completed): ${i.name}'s digest is not compared`);
    }));
  } catch (e) {
    notes.push(`digests not compared: ${(e as Error).message}`);
  }
  return { expected, notes };
}

async function diffHost(plan: Plan, host: PlannedHost, expected: Record<string, string>, expectedIs: string): Promise<HostDiff> {
  const [{ surveyHost }, { listContainers }, { sshTarget, withHost }, { maskSecrets }] = await Promise.all([
    import('../activities/containers'), import('../activities/orphans'), import('../lib/ssh'), import('../lib/secrets'),
  ]);
  const planned = plan.stages.flatMap((s) => s.containers).filter((c) => c.host === host.name);
  const base = { host: host.name, address: host.address, planned: planned.length };
  try {
    const [surveyed, listed] = await Promise.all([
      planned.length ? surveyHost({ host: hostRef(host), containers: planned, ssh: plan.ssh }).then((r) => r.containers) : Promise.resolve([] as SurveyedContainer[]),
      withHost(sshTarget(host, plan.ssh), (s) => listContainers(s.docker())),
    ]);
    const drift = hostDrift({ host: host.name, topology: plan.topology, planned, surveyed, listed, expected, expectedIs });
    const differing = new Set(drift.filter((d) => d.kind !== 'orphan').map((d) => d.container));
    return { ...base, asPlanned: planned.filter((c) => !differing.has(c.name)).length, drift };
  } catch (e) {
    return { ...base, asPlanned: 0, drift: [], error: `host ${host.name} (${host.address}): step diff: ${maskSecrets((e as Error).message)}` };
  }
}

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

export function renderDiff(plan: Plan, report: DiffReport): string {
  const lines = [`diff ${plan.topology} (${plan.topologyFile}), release ${plan.release}: ${plan.hosts.length} hosts`];
  for (const h of report.hosts) {
    if (h.error) {
      lines.push(`${h.host} (${h.address}): not asked: ${h.error}`);
      continue;
    }
    const planned = h.planned ? `${h.asPlanned} of ${plural(h.planned, 'planned container')} as planned` : 'nothing planned';
    lines.push(`${h.host} (${h.address}): ${planned}${h.drift.length ? '' : ', no orphans'}`);
    for (const d of h.drift) lines.push(`  ${d.kind.padEnd(10)} ${d.container.padEnd(28)} ${d.detail}`);
  }
  for (const n of report.notes) lines.push(`note: ${n}`);
  const drifted = report.hosts.filter((h) => h.drift.length);
  const count = drifted.reduce((n, h) => n + h.drift.length, 0);
  const unasked = report.hosts.filter((h) => h.error).length;
  if (report.ok) lines.push('no drift: every host runs as planned');
  else {
    lines.push(`drift: ${plural(count, 'container')} ${count === 1 ? 'differs' : 'differ'} on ${plural(drifted.length, 'host')}${unasked ? `; ${plural(unasked, 'host')} could not be asked` : ''}`);
    lines.push(`  contrail-deploy run ${plan.topologyFile}${count && report.hosts.some((h) => h.drift.some((d) => d.kind === 'orphan')) ? ' --remove-orphans' : ''}    brings the hosts back to the plan`);
  }
  return lines.join('\n');
}

/** `plan --against-hosts`: the hosts compared with the images a run would deploy: those the registry holds for
 *  their inputs (by input hash, as a run looks them up), the others built anew. */
export async function againstHosts(plan: Plan): Promise<{ order: UpgradeOrder; report: DiffReport }> {
  const { lookupImages } = await import('../activities/images');
  const found = await lookupImages({ runId: 'plan', release: plan.release, images: plan.images, registry: plan.registry });
  const expected = Object.fromEntries(Object.entries(found).flatMap(([name, r]) => (r.ref ? [[name, r.ref]] : [])));
  const rebuilt = new Set(plan.images.map((i) => i.name).filter((name) => !expected[name]));
  const report = await diffPlan(plan, { expected, expectedIs: 'a run would deploy', notes: [] });
  const unasked = new Set(report.hosts.filter((h) => h.error).map((h) => h.host));
  return { order: upgradeOrder({ plan, drift: report.hosts.flatMap((h) => h.drift), rebuilt, unasked }), report };
}

/** `down <topology> --orphans`: the orphans on every host of the topology go, nothing else. */
export async function downOrphans(positionals: string[], values: Record<string, unknown>): Promise<number> {
  if (values.group !== undefined || values['purge-data']) throw new UsageError('--orphans removes only orphans: it takes neither --group nor --purge-data');
  const { plan } = loadPlan(onePositional(positionals, 'topology file'));
  const [{ removeOrphansOn }, { sshTarget, withHost }, { maskSecrets }] = await Promise.all([import('../activities/orphans'), import('../lib/ssh'), import('../lib/secrets')]);
  const result = { removed: [] as string[], absent: [] as string[], purged: [] as string[], failures: [] as string[] };
  const slots = new Semaphore(plan.concurrency.hosts);
  await Promise.all(plan.hosts.map((host) => slots.run(async () => {
    const planned = [...new Set(plan.stages.flatMap((s) => s.containers).filter((c) => c.host === host.name).map((c) => c.name))];
    try {
      const removed = await withHost(sshTarget(host, plan.ssh), (s) => removeOrphansOn(s, plan.topology, planned));
      result.removed.push(...removed.map((name) => `${host.name}/${name}`));
    } catch (e) {
      result.failures.push(`host ${host.name} (${host.address}): step remove orphans: ${maskSecrets((e as Error).message)}`);
    }
  })));
  result.removed.sort();
  if (values.json) console.log(JSON.stringify(result));
  else {
    for (const r of result.removed) console.log(`  orphan     ${r} removed`);
    console.log(`removed ${result.removed.length} orphans of ${plan.topology}; data directories kept`);
    for (const f of result.failures) console.error(`down: ${f}`);
  }
  return result.failures.length ? 1 : 0;
}
