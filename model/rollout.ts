// Compute hosts roll out in batches (a canary first, then a share of the hosts at a time) so that a bad release
// stops after a few hosts instead of taking down every hypervisor. Other stages start all at once.
import type { PlannedContainer, PlannedStage } from './plan';
import type { Rollout } from './types';

export const BATCHED_STAGE = 'compute';

export interface Batch {
  /** 1-based, for messages: "compute batch 2 of 4". */
  index: number;
  of: number;
  canary: boolean;
  hosts: string[];
  containers: PlannedContainer[];
}

/** The batches of a stage: one for every stage but compute; for compute, canary hosts, then batchPercent of the hosts at a time. */
export function stageBatches(stage: PlannedStage, rollout: Rollout): Batch[] {
  const hosts = [...new Set(stage.containers.map((c) => c.host))];
  if (stage.name !== BATCHED_STAGE || hosts.length <= 1) return [{ index: 1, of: 1, canary: false, hosts, containers: stage.containers }];
  const groups: { canary: boolean; hosts: string[] }[] = [];
  const canary = Math.min(rollout.computeCanary, hosts.length);
  if (canary) groups.push({ canary: true, hosts: hosts.slice(0, canary) });
  const size = Math.max(1, Math.ceil((hosts.length * rollout.computeBatchPercent) / 100));
  for (let i = canary; i < hosts.length; i += size) groups.push({ canary: false, hosts: hosts.slice(i, i + size) });
  return groups.map((g, i) => ({
    index: i + 1,
    of: groups.length,
    canary: g.canary,
    hosts: g.hosts,
    containers: stage.containers.filter((c) => g.hosts.includes(c.host)),
  }));
}

/** "compute batch 2 of 4" (canary marked); the hosts are not in the name: at scale the list is thousands of bytes. */
export function batchName(b: Pick<Batch, 'index' | 'of' | 'canary'>): string {
  return `${BATCHED_STAGE} batch ${b.index} of ${b.of}${b.canary ? ' (canary)' : ''}`;
}

/** How many members of a clustered service make a quorum: a strict majority. */
export function quorumSize(members: number): number {
  return Math.floor(members / 2) + 1;
}

/** How many instances of a service are replaced at once: members of a cluster one at a time (the others keep its
 *  quorum), a service with several instances `rollout.maxUnavailable` (default 1), a single instance in place. */
export function replacementsAtOnce(c: Pick<PlannedContainer, 'quorum'>, instances: number, rollout: Rollout): number {
  if (c.quorum || instances <= 1) return 1;
  return Math.min(instances, rollout.maxUnavailable ?? 1);
}

/** Whether a run replaces changed containers one at a time, keeping the old one until the new one passes its gate
 *  (the default), or removes and creates them all at once (`rollout.upgrade: recreate`, the behaviour before). */
export function rollingUpgrades(rollout: Rollout): boolean {
  return (rollout.upgrade ?? 'rolling') === 'rolling';
}

/** What the health step of a replaced container says: how long its gate took, and how long a single instance (or a
 *  cluster member) was down while it was replaced. */
export function replacementDetail(answeredAfterMs: number, downMs: number, instances: number, cluster?: string): string {
  const down = `${(downMs / 1000).toFixed(1)} s`;
  if (cluster) return `answered after ${answeredAfterMs} ms; replaced (member down ${down}), ${cluster}`;
  return `answered after ${answeredAfterMs} ms; ${instances <= 1 ? `single instance replaced in place: down ${down}` : `replaced (this instance down ${down})`}`;
}

/** The name a replaced container is kept under, stopped, until its replacement passes its gate. */
export function previousName(name: string): string {
  return `${name}-previous`;
}
