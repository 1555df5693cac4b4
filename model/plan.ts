// The plan: everything a run needs, computed from a topology without I/O. It is the workflow's input, so it holds
// secret NAMES only, never values.
import { BASE_IMAGE_ARG, buildLevels } from './catalog';
import { ADDRESS_PROVIDERS, deriveAddresses, type DerivedAddress } from './addresses';
import { placeService } from './placement';
import { hostPorts, type PlannedPort } from './preflight';
import { stepId } from './steps';
import type { Concurrency, DirectorySpec, HealthCheck, ImageSpec, QuorumCheck, Rollout, SecretRef, SimulationSpec, SshSpec, Topology } from './types';

export interface PlannedImage {
  name: string;
  /** Absolute path of the build context on the build worker. */
  contextDir: string;
  dockerfile: string;
  parent: string | null;
  /** External base for a root image (made locally by the lab). */
  base: string | null;
  level: number;
  labels: Record<string, string>;
  buildArgs: Record<string, string>;
  /** Repository in the registry, without tag: registry/name. */
  repository: string;
}

export interface PlannedHost {
  name: string;
  address: string;
  sshPort: number;
  roles: string[];
  directories: DirectorySpec[];
  kernelModules: string[];
  /** The ports its containers listen on (model/preflight.ts): checked free before anything changes on the host. */
  ports?: PlannedPort[];
}

/** A host as the activities reach it. */
export type HostRef = Pick<PlannedHost, 'name' | 'address' | 'sshPort'>;

export function hostRef(h: PlannedHost): HostRef {
  return { name: h.name, address: h.address, sshPort: h.sshPort };
}

/** The members of each clustered service among items (each item stands for one container): service -> its members. */
export function clustersOf<T>(items: T[], containerOf: (item: T) => PlannedContainer): Map<string, T[]> {
  const clusters = new Map<string, T[]>();
  for (const item of items) {
    const c = containerOf(item);
    if (c.quorum) clusters.set(c.service, [...(clusters.get(c.service) ?? []), item]);
  }
  return clusters;
}

export interface PlannedContainer {
  /** Container name on its host (the service name). */
  name: string;
  service: string;
  host: string;
  hostAddress: string;
  image: string;
  stage: string;
  env: Record<string, string | SecretRef>;
  volumes: string[];
  privileged: boolean;
  capAdd: string[];
  labels: Record<string, string>;
  health: HealthCheck | null;
  /** Why the image is a stand-in, or null for the real software. */
  standin: string | null;
  /** Overrides the image's CMD when set. */
  command: string[] | null;
  /** What it needs from other services (its image's `needs`), where they answer: a gate that times out probes these
   *  and names the ones that do not answer. */
  dependencies?: Dependency[];
  /** Set for a member of a clustered service: its stage is done when a quorum of the members is (see QuorumCheck). */
  quorum?: QuorumCheck;
}

export interface Dependency {
  /** The address variable it gets, e.g. CASSANDRA_SERVER. */
  variable: string;
  service: string;
  host: string;
  /** address:port probed from outside. */
  endpoint: string;
}

export interface PlannedStage {
  name: string;
  containers: PlannedContainer[];
}

export interface Plan {
  topology: string;
  topologyFile: string;
  release: string;
  registry: { address: string; ca: string | null; username: string; password: SecretRef };
  ssh: SshSpec;
  images: PlannedImage[];
  hosts: PlannedHost[];
  stages: PlannedStage[];
  concurrency: Concurrency;
  rollout: Rollout;
  /** The topology's `simulate:` block: every host activity goes to the simulated worker (see SimulationSpec). */
  simulate?: SimulationSpec;
}

export const STANDIN_LABEL = 'net.contrail-deploy.standin';

export interface PlanOptions {
  /** Absolute directory of the catalog file, to resolve build contexts. */
  catalogDir: string;
}

export function makePlan(t: Topology, opts: PlanOptions): Plan {
  const images = buildLevels(t.catalog.images).map(({ image, level }) => ({
    name: image.name,
    contextDir: `${opts.catalogDir}/${image.context}`,
    dockerfile: image.dockerfile,
    parent: image.parent,
    base: image.base,
    level,
    // A stand-in says so in its labels too, so `docker images --filter label=net.contrail-deploy.standin` finds them all.
    labels: image.standin ? { ...image.labels, [STANDIN_LABEL]: 'true' } : image.labels,
    buildArgs: image.buildArgs,
    repository: `${t.registry.address}/${image.name}`,
  }));
  const hosts = t.hosts.map((h) => {
    const roles = h.roles.map((r) => t.roles[r]).filter((r) => r !== undefined);
    return {
      name: h.name,
      address: h.address,
      sshPort: h.sshPort,
      roles: h.roles,
      directories: uniqueBy(roles.flatMap((r) => r.directories), (d) => d.path),
      kernelModules: [...new Set(roles.flatMap((r) => r.kernelModules))],
    };
  });
  const imageSpecs = new Map(t.catalog.images.map((i) => [i.name, i]));
  const addresses = deriveAddresses(t);
  const stages = t.stages.map((stage) => ({
    name: stage,
    containers: t.services
      .filter((s) => s.stage === stage)
      .flatMap((s) =>
        placeService(t, s).map((h) => {
          const image = imageSpecs.get(s.image)!;
          return {
            name: s.name,
            service: s.name,
            host: h.name,
            hostAddress: h.address,
            image: s.image,
            stage,
            // What the original's common.env set by hand on every host, placement knows: HOST_IP and the addresses
            // of the services this image needs. The service's own env wins.
            env: { HOST_IP: h.address, ...t.env, ...neededAddresses([...image.needs, ...image.reads], addresses), ...declaredSecrets(image.secrets, t.secrets), ...s.env },
            volumes: [...new Set([...image.volumes, ...s.volumes])],
            privileged: s.privileged ?? image.privileged,
            capAdd: [...new Set([...image.capAdd, ...s.capAdd])],
            standin: image.standin,
            command: image.command,
            labels: image.labels,
            health: s.health ?? image.health ?? null,
            dependencies: dependenciesOf(image.needs, t, imageSpecs),
            ...(image.quorum ? { quorum: image.quorum } : {}),
          };
        }),
      ),
  }));
  return {
    topology: t.name,
    topologyFile: t.file,
    release: t.release,
    registry: t.registry,
    ssh: t.ssh,
    images,
    hosts: hosts.map((h) => ({ ...h, ports: hostPorts(t, stages, h.name) })),
    stages,
    concurrency: t.concurrency,
    rollout: t.rollout,
    ...(t.simulate ? { simulate: t.simulate } : {}),
  };
}

/** The build arg that makes a Dockerfile build on exactly the given parent reference. */
export function baseImageArg(ref: string): Record<string, string> {
  return { [BASE_IMAGE_ARG]: ref };
}

/** Each container of each service that provides a needed address, with the port it answers on. */
function dependenciesOf(needs: string[], t: Topology, imageSpecs: Map<string, ImageSpec>): Dependency[] {
  return needs.flatMap((variable) => {
    const providerImage = ADDRESS_PROVIDERS[variable];
    const spec = providerImage ? imageSpecs.get(providerImage) : undefined;
    const port = spec?.health?.tcp ?? spec?.health?.http?.port ?? spec?.ports[0];
    if (!spec || !port || t.addresses[variable]) return [];
    return t.services
      .filter((s) => s.image === providerImage)
      .flatMap((s) => placeService(t, s).map((h) => ({ variable, service: s.name, host: h.name, endpoint: `${h.address}:${port}` })));
  });
}

function neededAddresses(needs: string[], addresses: Record<string, DerivedAddress>): Record<string, string> {
  return Object.fromEntries(needs.filter((v) => addresses[v]).map((v) => [v, addresses[v].value]));
}

function declaredSecrets(names: string[], secrets: Record<string, SecretRef>): Record<string, SecretRef> {
  return Object.fromEntries(names.filter((n) => secrets[n]).map((n) => [n, secrets[n]]));
}

function uniqueBy<T>(items: T[], key: (t: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((i) => (seen.has(key(i)) ? false : (seen.add(key(i)), true)));
}

/** Steps that cannot run if this one is skipped: child images and containers of an image, containers of a host. */
export function dependentsOf(plan: Plan, id: string): string[] {
  const [kind, rest] = [id.slice(0, id.indexOf(':')), id.slice(id.indexOf(':') + 1)];
  const containers = plan.stages.flatMap((s) => s.containers);
  if (kind === 'build' || kind === 'push') {
    return [
      ...plan.images.filter((i) => i.parent === rest).map((i) => `build:${i.name}`),
      ...containers.filter((c) => c.image === rest).map((c) => stepId('start', c.name, c.host)),
    ];
  }
  if (kind === 'prepare') return containers.filter((c) => c.host === rest).map((c) => stepId('start', c.name, c.host));
  if (kind === 'start') return [`health:${rest}`];
  return [];
}
