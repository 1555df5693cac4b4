// `plan --against-hosts`: what a run would change on the hosts as they are, and in which order. Pure: the CLI asks
// the hosts (model/drift.ts, from their survey) and the registry (which images a run would build anew); this says,
// stage by stage and service by service, what is created, what is replaced in turn and how many at once, mirroring
// workflows/replacement.ts.
import type { DriftItem } from './drift';
import { hostParts, partLabel } from './parts';
import type { Plan, PlannedContainer } from './plan';
import { replacementsAtOnce, rollingUpgrades } from './rollout';

export type ChangeAction = 'create' | 'recreate' | 'replace' | 'gate';

export interface ContainerChange {
  container: string;
  host: string;
  /** create: absent; recreate: not running (nothing to keep), at once; replace: running, in its service's turn, the
   *  old one kept until the new one passes; gate: left as it runs, but its health gate must pass again. */
  action: ChangeAction;
  why: string;
}

export interface ServiceChanges {
  stage: string;
  /** The part (child workflow) that brings it up: turns are counted within a part. */
  part: string;
  service: string;
  instances: number;
  cluster: boolean;
  /** How many running instances are replaced at once. */
  atOnce: number;
  changes: ContainerChange[];
}

export interface UpgradeOrder {
  rolling: boolean;
  services: ServiceChanges[];
  unchanged: number;
  orphans: DriftItem[];
}

export interface UpgradeOrderInput {
  plan: Plan;
  /** From `diff`'s comparison, with images compared against the refs a run would deploy. */
  drift: DriftItem[];
  /** Images a run would build anew (no image with their input hash in the registry): every container running one of
   *  them is replaced. */
  rebuilt: Set<string>;
  /** Hosts that could not be asked: their containers are left out, and the CLI says so. */
  unasked: Set<string>;
}

const RUNNING_DRIFT = new Set(['image', 'spec']);

/** Every planned container's change, grouped by stage (in order), part and service; unchanged ones are only counted. */
export function upgradeOrder(input: UpgradeOrderInput): UpgradeOrder {
  const { plan } = input;
  const rolling = rollingUpgrades(plan.rollout);
  const driftOf = new Map(input.drift.filter((d) => d.kind !== 'orphan').map((d) => [`${d.container}@${d.host}`, d]));
  const services: ServiceChanges[] = [];
  let unchanged = 0;
  for (const part of hostParts(plan).flat(2)) {
    const own = new Set(part.hosts);
    const containers = plan.stages.find((s) => s.name === part.stage)!.containers.filter((c) => own.has(c.host) && !input.unasked.has(c.host));
    for (const [service, instances] of byService(containers)) {
      const changes = instances.flatMap((c) => {
        const change = changeOf(c, driftOf.get(`${c.name}@${c.host}`), input.rebuilt);
        return change ? [change] : [];
      });
      unchanged += instances.length - changes.length;
      if (!changes.length) continue;
      const cluster = Boolean(instances[0].quorum);
      const atOnce = rolling ? replacementsAtOnce(instances[0], instances.length, plan.rollout) : instances.length;
      services.push({ stage: part.stage, part: partLabel(part), service, instances: instances.length, cluster, atOnce, changes });
    }
  }
  return { rolling, services, unchanged, orphans: input.drift.filter((d) => d.kind === 'orphan') };
}

function byService(containers: PlannedContainer[]): Map<string, PlannedContainer[]> {
  const out = new Map<string, PlannedContainer[]>();
  for (const c of containers) out.set(c.service, [...(out.get(c.service) ?? []), c]);
  return out;
}

function changeOf(c: PlannedContainer, drift: DriftItem | undefined, rebuilt: Set<string>): ContainerChange | undefined {
  const change = (action: ChangeAction, why: string): ContainerChange => ({ container: c.name, host: c.host, action, why });
  switch (drift?.kind) {
    case 'missing': return change('create', 'not on the host');
    case 'stopped': case 'restarting': return change('recreate', `${drift.detail}: nothing running to keep`);
    case 'foreign': return change('recreate', `${drift.detail}: removed for the planned one`);
  }
  // Said first: a new image usually brings new labels too, so its spec differs as well.
  if (rebuilt.has(c.image)) return change('replace', `its image ${c.image} is built anew (its inputs changed)`);
  if (drift?.kind === 'image' || drift?.kind === 'spec') return change('replace', drift.detail);
  if (drift && !RUNNING_DRIFT.has(drift.kind)) return change('gate', `left as it runs, but ${drift.detail}: its health gate waits for it`);
  return undefined;
}

/** The text `plan --against-hosts` prints. */
export function renderUpgradeOrder(order: UpgradeOrder, plan: Pick<Plan, 'topology' | 'release'>): string[] {
  const lines = [`Against the hosts: what a run of ${plan.topology} release ${plan.release} would change, in order (${order.rolling
    ? 'rolling: a cluster\'s members one at a time, each after the one before passed its gate and the cluster has quorum again; the old container kept, stopped, until its replacement passes'
    : 'rollout.upgrade: recreate: every changed container removed and created at once'}):`];
  if (!order.services.length) lines.push('  nothing: every planned container runs as planned');
  let stage = '';
  for (const s of order.services) {
    if (s.stage !== stage) lines.push(`  ${(stage = s.stage)}:`);
    const replaced = s.changes.filter((c) => c.action === 'replace').length;
    const how = !replaced ? '' : !order.rolling ? ', replaced all at once'
      : s.cluster ? `, cluster of ${s.instances}: one member at a time`
      : s.instances <= 1 ? ', single instance: replaced in place (down until the new one starts)'
      : `, ${s.instances} instances: at most ${s.atOnce} at once`;
    lines.push(`    ${s.service} (${s.part}${how}):`);
    let turn = 0;
    for (const c of s.changes) {
      const turnNumber = c.action === 'replace' && oneAtATime(s, order.rolling) ? `${++turn}. ` : '';
      lines.push(`      ${turnNumber}${c.action.padEnd(8)} ${c.container} on ${c.host}: ${c.why}`);
    }
  }
  lines.push(`  unchanged: ${order.unchanged} container${order.unchanged === 1 ? '' : 's'}`);
  for (const o of order.orphans) lines.push(`  orphan   ${o.container} on ${o.host}: removed only by "run --remove-orphans" or "down --orphans"`);
  return lines;
}

/** Replacements are numbered where they go one at a time (in the workflow, in the order their hosts reach their turn). */
function oneAtATime(s: ServiceChanges, rolling: boolean): boolean {
  return rolling && s.atOnce === 1 && s.instances > 1;
}
