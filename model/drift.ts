// Drift: how a host differs from the plan, from what its survey found (activities/containers.ts surveyHost) and a
// listing of every container on it. Pure: `contrail-deploy diff` reads the hosts, this says what differs.
import type { SurveyedContainer } from './activity-types';
import type { PlannedContainer } from './plan';
import { previousName } from './rollout';

/** Every container a run creates carries its topology's name here, so that those it no longer plans can be found. It
 *  is not part of the spec hash: containers made before it existed are not recreated for it, and get it with their
 *  next recreate (a new release or a changed spec). */
export const TOPOLOGY_LABEL = 'net.contrail-deploy.topology';

export type DriftKind = 'missing' | 'stopped' | 'restarting' | 'unhealthy' | 'image' | 'spec' | 'foreign' | 'orphan';

export interface DriftItem {
  host: string;
  container: string;
  kind: DriftKind;
  /** What differs, for a person: the state, the digest it runs and the one planned, the check that fails. */
  detail: string;
}

/** A container on a host, as the engine's listing shows it. */
export interface ListedContainer {
  name: string;
  image: string;
  /** running, exited, created, restarting, ... */
  state: string;
  /** The topology label, or null. */
  topology: string | null;
  /** Made by a run (it has a spec hash). */
  managed: boolean;
}

export interface HostDriftInput {
  host: string;
  topology: string;
  planned: PlannedContainer[];
  surveyed: SurveyedContainer[];
  listed: ListedContainer[];
  /** image name -> repository@digest the release tag points at; an image missing here is not compared by digest. */
  expected: Record<string, string>;
  /** What `expected` is, for the detail of an image that differs (default: "the release points at"). */
  expectedIs?: string;
}

/** What differs on one host: each planned container that is not as planned, then the orphans. */
export function hostDrift(input: HostDriftInput): DriftItem[] {
  const listed = new Map(input.listed.map((l) => [l.name, l]));
  const surveyed = new Map(input.surveyed.map((s) => [s.container, s]));
  const item = (container: string, kind: DriftKind, detail: string): DriftItem => ({ host: input.host, container, kind, detail });
  const drift = input.planned.flatMap((c) => {
    const found = plannedDrift(c, surveyed.get(c.name), listed.get(c.name), input.expected[c.image], input.expectedIs ?? 'the release points at');
    return found ? [item(c.name, found.kind, found.detail)] : [];
  });
  const plannedNames = new Set(input.planned.map((c) => c.name));
  for (const o of orphansAmong(input.listed, input.topology, plannedNames)) {
    drift.push(item(o.name, 'orphan', `carries topology ${input.topology}'s label but is not planned on this host any more (${o.state}, image ${o.image})`));
  }
  return drift;
}

/** The containers of this topology (by its label) that are not among the names planned on their host, nor kept by a
 *  replacement of one of them (stopped and renamed until the new container passes its gate: model/rollout.ts). */
export function orphansAmong(listed: ListedContainer[], topology: string, plannedNames: Set<string>): ListedContainer[] {
  const kept = new Set([...plannedNames].map(previousName));
  return listed.filter((l) => l.topology === topology && !plannedNames.has(l.name) && !kept.has(l.name));
}

function plannedDrift(c: PlannedContainer, s: SurveyedContainer | undefined, l: ListedContainer | undefined, expected: string | undefined, expectedIs: string): { kind: DriftKind; detail: string } | undefined {
  // The survey looks only at containers a run made: one with the name but no spec hash was made by hand.
  if (l && !l.managed) return { kind: 'foreign', detail: `a container not made by contrail-deploy has this name (${l.state}, image ${l.image})` };
  if (!s || s.note === 'absent') return { kind: 'missing', detail: 'not on the host' };
  if (s.note === 'restarting') return { kind: 'restarting', detail: 'restarting: its process exits and the engine starts it again' };
  if (s.imageRef === null) {
    if (s.note === 'just started') return { kind: 'unhealthy', detail: 'just started: not up for a second yet' };
    return { kind: 'stopped', detail: `${s.note ?? 'not running'}${l ? ` (image ${l.image})` : ''}` };
  }
  if (expected && s.imageRef !== expected) return { kind: 'image', detail: `runs ${s.imageRef}, ${expectedIs} ${expected}` };
  if (s.note === 'spec changed') return { kind: 'spec', detail: 'its spec (env, volumes, privileges, labels or command) differs from the plan' };
  if (!s.healthy) return { kind: 'unhealthy', detail: s.note ?? 'does not answer its health check' };
  if (c.quorum && s.inQuorum === false) return { kind: 'unhealthy', detail: 'answers, but does not say it is in a cluster with quorum' };
  return undefined;
}
