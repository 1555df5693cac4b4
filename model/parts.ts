// How a run is split into workflows so that none grows with the fleet: one part for the image tree, and for each
// stage batch one part per group of at most HOST_GROUP_SIZE hosts, whose activities run inside it. The parent only
// sequences parts; each part expands its own slice of the plan. Pure: used by workflows, the CLI and tests.
import type { Plan, PlannedContainer } from './plan';
import { batchName, stageBatches } from './rollout';
import { DEFAULT_ROLLOUT } from './types';

/** Hosts per part. About 60 history events per host (prepare, survey, pull, start and health per container, with
 *  their workflow tasks): 100 hosts stay far below the 10,000 events a part may have. */
export const HOST_GROUP_SIZE = 100;

export interface HostPart {
  stage: string;
  /** For a batched stage with more than one batch. */
  batch?: { index: number; of: number; canary: boolean };
  /** 1-based; `groups` parts share the stage batch. */
  group: number;
  groups: number;
  hosts: string[];
  /** Hosts prepared in this part: those whose first containers are in this stage (hosts without any: the first). */
  prepare: string[];
  /** Hosts brought up at once in this part; the parts of one batch together never exceed concurrency.hosts. */
  slots: number;
  /** Parts of the batch that run at the same time (parts beyond it wait for a running one to end). */
  parallel: number;
}

/** Where a part lives under its run: <run>/images, <run>/stage/<stage>[/batch-<i>-of-<n>][/group-<g>-of-<m>]. */
export function partWorkflowId(runId: string, part: Pick<HostPart, 'stage' | 'batch' | 'group' | 'groups'> | 'images'): string {
  if (part === 'images') return `${runId}/images`;
  const batch = part.batch ? `/batch-${part.batch.index}-of-${part.batch.of}` : '';
  const group = part.groups > 1 ? `/group-${part.group}-of-${part.groups}` : '';
  return `${runId}/stage/${part.stage}${batch}${group}`;
}

/** "compute batch 2 of 5 (canary), group 1 of 3": what the UI and `status` call a part. */
export function partLabel(part: Pick<HostPart, 'stage' | 'batch' | 'group' | 'groups'>): string {
  const batch = part.batch ? batchName(part.batch) : `stage ${part.stage}`;
  return part.groups > 1 ? `${batch}, group ${part.group} of ${part.groups}` : batch;
}

/** The host parts of each stage, in order: stage -> its batches -> the parts of each batch. */
export function hostParts(plan: Plan): HostPart[][][] {
  const firstStage = new Map<string, string>();
  for (const stage of plan.stages) for (const c of stage.containers) if (!firstStage.has(c.host)) firstStage.set(c.host, stage.name);
  const idle = plan.hosts.filter((h) => !firstStage.has(h.name)).map((h) => h.name);
  const limit = plan.concurrency.hosts;
  return plan.stages.map((stage, stageIndex) => {
    const batches = stageBatches(stage, plan.rollout ?? DEFAULT_ROLLOUT);
    return batches.map((b, batchIndex) => {
      // Hosts with nothing to run are still prepared, in the first part of the run.
      const extra = stageIndex === 0 && batchIndex === 0 ? idle : [];
      const groups = chunk(clusteredFirst([...b.hosts, ...extra], b.containers), HOST_GROUP_SIZE);
      const slots = shareOut(limit, groups.length);
      return groups.map((hosts, g) => ({
        stage: stage.name,
        ...(b.of > 1 ? { batch: { index: b.index, of: b.of, canary: b.canary } } : {}),
        group: g + 1,
        groups: groups.length,
        hosts,
        prepare: hosts.filter((h) => (firstStage.get(h) ?? plan.stages[0]?.name) === stage.name),
        slots: slots.perPart[g % slots.perPart.length],
        parallel: slots.parallel,
      }));
    });
  });
}

/** Members of a clustered service must share a part (its quorum gate sees them all): their hosts go first. */
function clusteredFirst(hosts: string[], containers: PlannedContainer[]): string[] {
  const clustered = new Set(containers.filter((c) => c.quorum).map((c) => c.host));
  if (clustered.size > HOST_GROUP_SIZE) {
    throw new Error(`a clustered service has members on ${clustered.size} hosts: at most ${HOST_GROUP_SIZE} are supported`);
  }
  return [...hosts.filter((h) => clustered.has(h)), ...hosts.filter((h) => !clustered.has(h))];
}

/** At most `size` items a chunk, in chunks of near-equal size (each part's share of the host limit then matches). */
function chunk<T>(items: T[], size: number): T[][] {
  const count = Math.max(1, Math.ceil(items.length / size));
  const out: T[][] = [];
  for (let i = 0, start = 0; i < count; i++) {
    const n = Math.floor(items.length / count) + (i < items.length % count ? 1 : 0);
    out.push(items.slice(start, start + n));
    start += n;
  }
  return out;
}

/** The host limit shared out over a batch's parts: each part's slots, and how many parts run at once, so that the
 *  hosts in flight never exceed the limit. */
function shareOut(limit: number, parts: number): { perPart: number[]; parallel: number } {
  if (parts >= limit) return { perPart: [1], parallel: limit };
  const base = Math.floor(limit / parts);
  return { perPart: Array.from({ length: parts }, (_, i) => base + (i < limit % parts ? 1 : 0)), parallel: parts };
}

/** "1 host", "84 hosts". */
export function hostCount(n: number): string {
  return `${n} host${n === 1 ? '' : 's'}`;
}
