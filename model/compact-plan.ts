// The plan in the form workflows carry. A plan spells out every container on every host; at 1,000 compute hosts that
// is megabytes, over Temporal's payload limits. Containers of one service differ only by their host, so the compact
// form keeps one template per service (and one profile per set of host preparations) with the hosts that use it.
// expandPlan(compactPlan(p)) gives p back exactly; each workflow expands only its own slice.
import type { Plan, PlannedContainer, PlannedHost } from './plan';

/** Stands for the container's own host address in a template's env (the HOST_IP the original set by hand). */
const OWN_ADDRESS = '\u0000host-address';

export interface CompactHost {
  name: string;
  address: string;
  sshPort: number;
  roles: string[];
  /** Index into CompactPlan.profiles: the directories and kernel modules this host's roles need, the ports it uses. */
  profile: number;
}

export interface CompactService {
  /** The container with host, hostAddress and its own address in env left out. */
  template: Omit<PlannedContainer, 'host' | 'hostAddress'>;
  /** Indexes into CompactPlan.hosts. */
  hosts: number[];
}

export interface CompactStage {
  name: string;
  services: CompactService[];
}

export interface CompactPlan extends Omit<Plan, 'hosts' | 'stages'> {
  hosts: CompactHost[];
  profiles: Pick<PlannedHost, 'directories' | 'kernelModules' | 'ports'>[];
  stages: CompactStage[];
}

export function compactPlan(plan: Plan): CompactPlan {
  const profiles = new Interned<CompactPlan['profiles'][number]>();
  const hosts = plan.hosts.map((h) => ({ name: h.name, address: h.address, sshPort: h.sshPort, roles: h.roles, profile: profiles.index({ directories: h.directories, kernelModules: h.kernelModules, ports: h.ports }) }));
  const hostIndex = new Map(plan.hosts.map((h, i) => [h.name, i]));
  const stages = plan.stages.map((stage) => {
    const services = new Map<string, CompactService>();
    for (const c of stage.containers) {
      const template = templateOf(c);
      const key = JSON.stringify(template);
      const entry = services.get(key) ?? { template, hosts: [] };
      const index = hostIndex.get(c.host);
      if (index === undefined) throw new Error(`container ${c.name} is placed on ${c.host}, which is not a host of the plan`);
      entry.hosts.push(index);
      services.set(key, entry);
    }
    return { name: stage.name, services: [...services.values()] };
  });
  return { ...plan, hosts, profiles: profiles.values, stages };
}

export function expandPlan(compact: CompactPlan): Plan {
  const { profiles, hosts, stages, ...rest } = compact;
  return {
    ...rest,
    hosts: hosts.map((h) => ({ name: h.name, address: h.address, sshPort: h.sshPort, roles: h.roles, ...profiles[h.profile] })),
    stages: stages.map((s) => ({ name: s.name, containers: containersOf(compact, s) })),
  };
}

/** The containers of one compact stage, in plan order (by service, then host). */
function containersOf(compact: Pick<CompactPlan, 'hosts'>, stage: CompactStage): PlannedContainer[] {
  return stage.services.flatMap((s) => s.hosts.map((i) => fromTemplate(s.template, compact.hosts[i])));
}

/** The part of a plan that one host group works on: those hosts, one stage's containers on them (first), no images;
 *  with `ahead`, also the later stages' containers on those hosts (for a survey of everything they will run). */
export function compactSlice(compact: CompactPlan, stageName: string, hostNames: string[], ahead = false): CompactPlan {
  const wanted = new Set(hostNames);
  const kept = compact.hosts.map((h, i) => ({ h, i })).filter(({ h }) => wanted.has(h.name));
  const newIndex = new Map(kept.map(({ i }, j) => [i, j]));
  const at = compact.stages.findIndex((s) => s.name === stageName);
  const stages = at < 0 ? [{ name: stageName, services: [] }] : compact.stages.slice(at, ahead ? undefined : at + 1);
  const sliced = stages.map((stage) => ({
    name: stage.name,
    services: stage.services
      .map((s) => ({ template: s.template, hosts: s.hosts.filter((i) => newIndex.has(i)).map((i) => newIndex.get(i)!) }))
      .filter((s) => s.hosts.length),
  }));
  const profiles = new Interned<CompactPlan['profiles'][number]>();
  const hosts = kept.map(({ h }) => ({ ...h, profile: profiles.index(compact.profiles[h.profile]) }));
  return { ...compact, images: [], hosts, profiles: profiles.values, stages: [sliced[0], ...sliced.slice(1).filter((s) => s.services.length)] };
}

function templateOf(c: PlannedContainer): CompactService['template'] {
  const rest: Partial<PlannedContainer> = { ...c };
  delete rest.host;
  delete rest.hostAddress;
  const env = Object.fromEntries(Object.entries(c.env).map(([k, v]) => [k, v === c.hostAddress ? OWN_ADDRESS : v]));
  return { ...(rest as CompactService['template']), env };
}

function fromTemplate(t: CompactService['template'], host: CompactHost): PlannedContainer {
  const env = Object.fromEntries(Object.entries(t.env).map(([k, v]) => [k, v === OWN_ADDRESS ? host.address : v]));
  return { ...t, host: host.name, hostAddress: host.address, env };
}

/** Values stored once, by content. */
class Interned<T> {
  readonly values: T[] = [];
  private readonly byKey = new Map<string, number>();

  index(value: T): number {
    const key = JSON.stringify(value);
    let i = this.byKey.get(key);
    if (i === undefined) {
      i = this.values.push(value) - 1;
      this.byKey.set(key, i);
    }
    return i;
  }
}
