// The topology: hosts, registry, SSH, roles (directories, kernel modules), services and their placement, stage order.
import { ConfigError, type ConfigProblem } from './config-error';
import { CAPABILITY, ENV_NAME, NAME, readHealth, VOLUME } from './catalog';
import { DEFAULT_CONCURRENCY, DEFAULT_ROLLOUT, DEFAULT_STAGES, type Catalog, type DirectorySpec, type HostSpec, type JumpHostSpec, type RoleSpec, type SecretRef, type ServiceSpec, type SimulationSpec, type SshSpec, type Topology, type UpgradeStrategy } from './types';
import { isMap, isScalar } from 'yaml';
import { ADDRESS_PROVIDERS, deriveAddresses } from './addresses';
import { placeService } from './placement';
import { checkHostsAndPorts } from './topology-checks';
import { YamlReader, type YamlNode } from './yaml-reader';

// Characters only; model/topology-checks.ts checks the address itself.
const ADDRESS = { pattern: /^[A-Za-z0-9.:-]{1,253}$/, hint: 'an IPv4 or IPv6 address or a DNS name' };
const REGISTRY = { pattern: /^[a-z0-9.-]+(:\d{1,5})?$/i, hint: 'host:port, e.g. 10.0.0.1:5000' };
const RELEASE = { pattern: /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, hint: 'a Docker tag: letters, digits, ".", "_" and "-"' };
const HOST_PATH = { pattern: /^\/(?!.*(^|\/)\.\.?(\/|$))[A-Za-z0-9._/-]*$/, hint: 'an absolute path without "..", "." or shell characters, e.g. /dockervolumes/cassandra1' };
const FILE_PATH = { pattern: /^[^\0\n;&|`$<>]+$/, hint: 'a file path (relative paths are relative to this file; "@lab/" is the lab state directory)' };
const ADDRESS_VAR = { pattern: /^[A-Z][A-Z0-9_]*$/, hint: 'an address variable such as KEYSTONE_SERVER' };
const ADDRESS_LIST = { pattern: /^[A-Za-z0-9.-]+(,[A-Za-z0-9.-]+)*$/, hint: 'one address or host name, or several separated by commas' };
const MODULE = { pattern: /^[a-z0-9_-]{1,64}$/, hint: 'a kernel module name such as kvm or vrouter' };
const MODE = { pattern: /^0?[0-7]{3}$/, hint: 'an octal mode such as "0755"' };
const OWNER = { pattern: /^[a-z_][a-z0-9_-]*(:[a-z_][a-z0-9_-]*)?$|^\d+(:\d+)?$/, hint: 'user[:group] or uid[:gid]' };
const USER = { pattern: /^[a-z_][a-z0-9_-]{0,31}$/, hint: 'a Unix user name' };
const DOCKER_ACCESS = { pattern: /^(sudo|group)$/, hint: 'sudo (the engine through sudo -n, the default for a non-root user) or group (the user is in the docker group)' };
const SECRET_NAME = { pattern: /^[A-Z][A-Z0-9_]{0,63}$/, hint: 'an upper-case name such as REGISTRY_PASSWORD' };
/** Env names that carry credentials must come from a secret reference, never a value in the file. */
const SECRET_LIKE = /PASSWORD|PASSWD|TOKEN|SECRET|PRIVATE_KEY|CREDENTIAL/i;

export interface TopologyContext {
  /** Directory that "@lab/" paths start from. */
  labDir: string;
  /** Reads and parses the catalog at an absolute path. */
  loadCatalog(file: string): Catalog;
}

export function parseTopology(file: string, text: string, ctx: TopologyContext): Topology {
  const r = new YamlReader(file, text);
  r.done(); // syntax problems first: nothing below is meaningful without a document
  const top = r.map(r.root, '', {
    required: ['name', 'release', 'catalog', 'registry', 'hosts', 'services'],
    optional: ['ssh', 'roles', 'stages', 'addresses', 'env', 'secrets', 'concurrency', 'rollout', 'simulate'],
  });
  r.done();
  const m = top!;
  const dir = dirname(file);
  const path = (node: YamlNode, field: string) => {
    const p = r.str(node, field, FILE_PATH);
    return p === undefined ? undefined : resolvePath(dir, p, ctx.labDir);
  };

  const name = r.str(m.get('name'), 'name', NAME);
  const release = r.str(m.get('release'), 'release', RELEASE);
  const catalogFile = path(m.get('catalog'), 'catalog');

  const reg = r.map(m.get('registry'), 'registry', { required: ['address', 'username', 'password'], optional: ['ca'] });
  const registry = reg && {
    address: r.str(reg.get('address'), 'registry.address', REGISTRY) ?? '',
    ca: reg.has('ca') ? path(reg.get('ca'), 'registry.ca') ?? null : null,
    username: r.str(reg.get('username'), 'registry.username', USER) ?? '',
    password: readSecretRef(r, reg.get('password'), 'registry.password') ?? { secret: '' },
  };

  const sshNode = m.get('ssh');
  const sshMap = sshNode === undefined ? new Map<string, YamlNode>() : r.map(sshNode, 'ssh', { optional: ['user', 'keyFile', 'knownHosts', 'docker', 'jumpHost'] });
  const sshUser = (sshMap && r.optStr(sshMap.get('user'), 'ssh.user', 'root', USER)) ?? 'root';
  const ssh: SshSpec | undefined = sshMap && {
    user: sshUser,
    keyFile: sshMap.has('keyFile') ? path(sshMap.get('keyFile'), 'ssh.keyFile') ?? null : null,
    knownHosts: sshMap.has('knownHosts') ? path(sshMap.get('knownHosts'), 'ssh.knownHosts') ?? '' : resolvePath(dir, '~/.ssh/known_hosts', ctx.labDir),
    ...(sshMap.has('docker') ? { docker: r.str(sshMap.get('docker'), 'ssh.docker', DOCKER_ACCESS) as 'sudo' | 'group' | undefined } : {}),
    ...(sshMap.has('jumpHost') ? { jumpHost: readJumpHost(r, sshMap.get('jumpHost'), 'ssh.jumpHost', sshUser) ?? null } : {}),
  };

  const hosts: HostSpec[] = [];
  (r.list(m.get('hosts'), 'hosts') ?? []).forEach((node, i) => {
    const f = `hosts[${i}]`;
    const h = r.map(node, f, { required: ['name', 'address', 'roles'], optional: ['sshPort', 'jumpHost'] });
    if (!h) return;
    const hostName = r.str(h.get('name'), `${f}.name`, NAME) ?? '';
    if (h.has('jumpHost') && ssh) {
      const jump = readJumpHost(r, h.get('jumpHost'), `${f}.jumpHost`, sshUser);
      if (jump !== undefined) ssh.hostJumpHosts = { ...ssh.hostJumpHosts, [hostName]: jump };
    }
    hosts.push({
      name: hostName,
      address: r.str(h.get('address'), `${f}.address`, ADDRESS) ?? '',
      sshPort: h.has('sshPort') ? r.int(h.get('sshPort'), `${f}.sshPort`, 1, 65535) ?? 22 : 22,
      roles: r.strList(h.get('roles'), `${f}.roles`, NAME) ?? [],
    });
  });

  const roles: Record<string, RoleSpec> = {};
  for (const [keyNode, valueNode] of r.pairs(m.get('roles'), 'roles') ?? []) {
    const role = r.str(keyNode, 'roles', NAME);
    if (role === undefined) continue;
    const f = `roles.${role}`;
    const rm = r.map(valueNode, f, { optional: ['directories', 'kernelModules'] });
    if (!rm) continue;
    roles[role] = {
      directories: (r.list(rm.get('directories'), `${f}.directories`) ?? []).map((d, i) => readDirectory(r, d, `${f}.directories[${i}]`)).filter((d): d is DirectorySpec => !!d),
      kernelModules: r.strList(rm.get('kernelModules'), `${f}.kernelModules`, MODULE) ?? [],
    };
  }

  const addresses: Record<string, string> = {};
  for (const [k, v] of r.pairs(m.get('addresses'), 'addresses') ?? []) {
    const key = r.str(k, 'addresses', ADDRESS_VAR);
    const value = key === undefined ? undefined : r.str(v, `addresses.${key}`, ADDRESS_LIST);
    if (key !== undefined && value !== undefined) addresses[key] = value;
  }

  const env: Record<string, string> = {};
  for (const [k, v] of r.pairs(m.get('env'), 'env') ?? []) {
    const key = r.str(k, 'env', ENV_NAME);
    if (key === undefined) continue;
    if (SECRET_LIKE.test(key)) {
      r.problem(v, `env.${key}`, `${key} looks like a credential`, `move it to secrets: { ${key}: { secret: NAME } }`);
      continue;
    }
    const value = r.str(v, `env.${key}`);
    if (value !== undefined) env[key] = value;
  }
  const secrets: Record<string, SecretRef> = {};
  for (const [k, v] of r.pairs(m.get('secrets'), 'secrets') ?? []) {
    const key = r.str(k, 'secrets', ENV_NAME);
    const ref = key === undefined ? undefined : readSecretRef(r, v, `secrets.${key}`);
    if (key !== undefined && ref) secrets[key] = ref;
  }

  const conc = m.has('concurrency') ? r.map(m.get('concurrency'), 'concurrency', { optional: ['builds', 'pushes', 'hosts'] }) : undefined;
  const concurrency = {
    builds: conc?.has('builds') ? r.int(conc.get('builds'), 'concurrency.builds', 1, 64) ?? 0 : DEFAULT_CONCURRENCY.builds,
    pushes: conc?.has('pushes') ? r.int(conc.get('pushes'), 'concurrency.pushes', 1, 64) ?? 0 : DEFAULT_CONCURRENCY.pushes,
    hosts: conc?.has('hosts') ? r.int(conc.get('hosts'), 'concurrency.hosts', 1, 1000) ?? 0 : DEFAULT_CONCURRENCY.hosts,
  };
  const ro = m.has('rollout') ? r.map(m.get('rollout'), 'rollout', { optional: ['computeCanary', 'computeBatchPercent', 'parkTimeout', 'maxUnavailable', 'upgrade'] }) : undefined;
  const rollout = {
    computeCanary: ro?.has('computeCanary') ? r.int(ro.get('computeCanary'), 'rollout.computeCanary', 0, 1000) ?? 0 : DEFAULT_ROLLOUT.computeCanary,
    computeBatchPercent: ro?.has('computeBatchPercent') ? r.int(ro.get('computeBatchPercent'), 'rollout.computeBatchPercent', 1, 100) ?? 0 : DEFAULT_ROLLOUT.computeBatchPercent,
    parkTimeoutSeconds: ro?.has('parkTimeout') ? durationSeconds(r.str(ro.get('parkTimeout'), 'rollout.parkTimeout', DURATION)) ?? 0 : DEFAULT_ROLLOUT.parkTimeoutSeconds,
    // Only when set: plans (and their hashes) of topologies without them stay as they were.
    ...(ro?.has('maxUnavailable') ? { maxUnavailable: r.int(ro.get('maxUnavailable'), 'rollout.maxUnavailable', 1, 1000) ?? 1 } : {}),
    ...(ro?.has('upgrade') ? { upgrade: r.str(ro.get('upgrade'), 'rollout.upgrade', UPGRADE) as UpgradeStrategy } : {}),
  };

  const simulate = m.has('simulate') ? readSimulation(r, m.get('simulate'), hosts) : undefined;

  const stages = m.has('stages') ? r.strList(m.get('stages'), 'stages', NAME) ?? [] : [...DEFAULT_STAGES];
  const services: ServiceSpec[] = [];
  (r.list(m.get('services'), 'services') ?? []).forEach((node, i) => {
    const s = readService(r, node, `services[${i}]`, stages);
    if (s) services.push(s);
  });
  r.done();

  let catalog: Catalog | undefined;
  try {
    catalog = ctx.loadCatalog(catalogFile!);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    r.problem(m.get('catalog'), 'catalog', `cannot read the catalog ${catalogFile}: ${(e as Error).message}`);
    r.done();
  }
  const topology: Topology = { file, name: name!, release: release!, catalog: catalog!, registry: registry!, ssh: ssh!, hosts, roles, services, stages, addresses, env, secrets, concurrency, rollout, ...(simulate ? { simulate } : {}) };
  checkReferences(r, topology, m);
  checkHostsAndPorts(r, topology, m);
  r.done();
  return topology;
}

/** The `simulate:` block (scale measurements only): latencies and failure rates of the simulated host work. */
function readSimulation(r: YamlReader, node: YamlNode, hosts: HostSpec[]): SimulationSpec | undefined {
  const m = r.map(node, 'simulate', { required: ['latencyMs'], optional: ['transientFailureRate', 'permanentFailureRate', 'failHosts'] });
  if (!m) return undefined;
  const lm = r.map(m.get('latencyMs'), 'simulate.latencyMs', { required: ['median', 'p95'] });
  const median = lm && readNumber(r, lm.get('median'), 'simulate.latencyMs.median', LATENCY_MS);
  const p95 = lm && readNumber(r, lm.get('p95'), 'simulate.latencyMs.p95', LATENCY_MS);
  if (median !== undefined && p95 !== undefined && p95 < median) {
    r.problem(lm?.get('p95'), 'simulate.latencyMs.p95', `p95 ${p95} is below the median ${median}`, 'the 95th percentile is at least the median');
  }
  const rate = (key: string) => (m.has(key) ? readNumber(r, m.get(key), `simulate.${key}`, RATE) : 0);
  const names = new Set(hosts.map((h) => h.name));
  const failHosts = (r.list(m.get('failHosts'), 'simulate.failHosts') ?? []).flatMap((item, i) => {
    const field = `simulate.failHosts[${i}]`;
    const name = r.str(item, field, NAME);
    if (name === undefined) return [];
    if (!names.has(name)) {
      r.problem(item, field, `host "${name}" is not in hosts`, `hosts: ${[...names].slice(0, 10).join(', ')}${names.size > 10 ? ', ...' : ''}`);
      return [];
    }
    return [name];
  });
  const transientFailureRate = rate('transientFailureRate');
  const permanentFailureRate = rate('permanentFailureRate');
  if (median === undefined || p95 === undefined || transientFailureRate === undefined || permanentFailureRate === undefined) return undefined;
  return { latencyMs: { median, p95 }, transientFailureRate, permanentFailureRate, failHosts };
}

// A simulated step's latency stays below the activities' start-to-close timeouts (10 minutes for host work).
const LATENCY_MS = { min: 0, minExclusive: true, max: 300000, hint: 'milliseconds, more than 0 and at most 300000' };
const RATE = { min: 0, minExclusive: false, max: 1, hint: 'a share from 0 to 1, e.g. 0.005' };

/** A number (whole or not) in a range; YamlReader.int takes whole numbers only. */
function readNumber(r: YamlReader, node: YamlNode, field: string, range: { min: number; minExclusive: boolean; max: number; hint: string }): number | undefined {
  if (!isScalar(node) || typeof node.value !== 'number' || !Number.isFinite(node.value)) {
    return r.problem(node, field, `expected a number, got ${isScalar(node) ? JSON.stringify(node.value) : 'no number'}`, range.hint);
  }
  const v = node.value;
  if (v > range.max || v < range.min || (range.minExclusive && v === range.min)) return r.problem(node, field, `${v} is out of range`, range.hint);
  return v;
}

/**
 * A bastion: `{address, user, port}` (user defaults to ssh.user, port to 22), or `none` for a host reached directly.
 * Undefined when the value is wrong (the problem is recorded).
 */
function readJumpHost(r: YamlReader, node: YamlNode, field: string, defaultUser: string): JumpHostSpec | null | undefined {
  if (isScalar(node) && node.value === 'none') return null;
  const j = r.map(node, field, { required: ['address'], optional: ['user', 'port'] });
  if (!j) return undefined;
  const address = r.str(j.get('address'), `${field}.address`, ADDRESS);
  const user = r.optStr(j.get('user'), `${field}.user`, defaultUser, USER);
  const port = j.has('port') ? r.int(j.get('port'), `${field}.port`, 1, 65535) : 22;
  return address && user && port ? { address, user, port } : undefined;
}

function readSecretRef(r: YamlReader, node: YamlNode, field: string): SecretRef | undefined {
  const m = r.map(node, field, { required: ['secret'] });
  if (!m) {
    r.problems.pop();
    return r.problem(node, field, 'a secret must be a reference, not a value', 'write { secret: NAME } and put NAME=value in the secrets file or the environment of the worker');
  }
  const name = r.str(m.get('secret'), `${field}.secret`, SECRET_NAME);
  return name === undefined ? undefined : { secret: name };
}

function readDirectory(r: YamlReader, node: YamlNode, field: string): DirectorySpec | undefined {
  const d = r.map(node, field, { required: ['path'], optional: ['mode', 'owner'] });
  if (!d) return undefined;
  return {
    path: r.str(d.get('path'), `${field}.path`, HOST_PATH) ?? '',
    mode: r.optStr(d.get('mode'), `${field}.mode`, '0755', MODE) ?? '0755',
    ...(d.has('owner') ? { owner: r.str(d.get('owner'), `${field}.owner`, OWNER) ?? 'root:root' } : {}),
  };
}

function readService(r: YamlReader, node: YamlNode, field: string, stages: string[]): ServiceSpec | undefined {
  const s = r.map(node, field, { required: ['name', 'image', 'stage'], optional: ['roles', 'hosts', 'env', 'volumes', 'privileged', 'capAdd', 'health'] });
  if (!s) return undefined;
  const stage = r.str(s.get('stage'), `${field}.stage`, NAME);
  if (stage !== undefined && !stages.includes(stage)) r.problem(s.get('stage'), `${field}.stage`, `unknown stage "${stage}"`, `stages: ${stages.join(', ')}`);
  const env: Record<string, string | { secret: string }> = {};
  for (const [k, v] of r.pairs(s.get('env'), `${field}.env`) ?? []) {
    const key = r.str(k, `${field}.env`, ENV_NAME);
    if (key === undefined) continue;
    const f = `${field}.env.${key}`;
    if (SECRET_LIKE.test(key) && !isMap(v)) {
      r.problem(v, f, `${key} looks like a credential and is given as a plain value`, `write ${key}: { secret: NAME } and put NAME=value in the secrets file`);
      continue;
    }
    const value = isMap(v) ? readSecretRef(r, v, f) : r.str(v, f);
    if (value !== undefined) env[key] = value;
  }
  return {
    name: r.str(s.get('name'), `${field}.name`, NAME) ?? '',
    image: r.str(s.get('image'), `${field}.image`, NAME) ?? '',
    stage: stage ?? '',
    roles: r.strList(s.get('roles'), `${field}.roles`, NAME) ?? [],
    hosts: r.strList(s.get('hosts'), `${field}.hosts`, NAME) ?? [],
    env,
    volumes: r.strList(s.get('volumes'), `${field}.volumes`, VOLUME) ?? [],
    ...(s.has('privileged') ? { privileged: r.bool(s.get('privileged'), `${field}.privileged`, false) } : {}),
    capAdd: r.strList(s.get('capAdd'), `${field}.capAdd`, CAPABILITY) ?? [],
    health: s.has('health') ? readHealth(r, s.get('health'), `${field}.health`) : undefined,
  };
}

function checkReferences(r: YamlReader, t: Topology, m: Map<string, YamlNode>): void {
  const problems: ConfigProblem[] = [];
  const add = (field: string, message: string, hint?: string) => problems.push({ file: t.file, field, message, hint });
  const hostNames = new Set<string>();
  for (const h of t.hosts) {
    if (hostNames.has(h.name)) add(`hosts.${h.name}`, `duplicate host name "${h.name}"`);
    hostNames.add(h.name);
  }
  const images = new Set(t.catalog.images.map((i) => i.name));
  const serviceNames = new Set<string>();
  for (const s of t.services) {
    if (serviceNames.has(s.name)) add(`services.${s.name}`, `duplicate service name "${s.name}"`);
    serviceNames.add(s.name);
    if (!images.has(s.image)) add(`services.${s.name}.image`, `image "${s.image}" is not in the catalog ${t.catalog.file}`, `catalog images: ${[...images].join(', ')}`);
    for (const h of s.hosts) if (!hostNames.has(h)) add(`services.${s.name}.hosts`, `host "${h}" is not in hosts`, `hosts: ${[...hostNames].join(', ')}`);
    if (placeService(t, s).length === 0) {
      add(`services.${s.name}`, `service "${s.name}" is placed on no host`, s.roles.length ? `no host has role ${s.roles.join(' or ')}` : 'give it roles: [...] or hosts: [...]');
    }
  }
  checkDependencies(t, add);
  for (const s of t.services) {
    for (const variable of t.catalog.images.find((i) => i.name === s.image)?.secrets ?? []) {
      if (s.env[variable] === undefined && !t.secrets[variable]) {
        add(`services.${s.name}`, `image ${s.image} needs the credential ${variable}`, `add secrets: { ${variable}: { secret: NAME } } and put NAME=value in the secrets file`);
      }
    }
  }
  for (const problem of problems) {
    r.problem(m.get('services'), problem.field ?? '', problem.message, problem.hint);
  }
}

export function dirname(p: string): string {
  const i = p.lastIndexOf('/');
  return i <= 0 ? '/' : p.slice(0, i);
}

/** Resolves a path from a topology: "@lab/x" in the lab dir, "~/x" in $HOME (kept symbolic here), else relative to dir. */
export function resolvePath(dir: string, p: string, labDir: string): string {
  if (p.startsWith('@lab/')) return normalize(`${labDir}/${p.slice(5)}`);
  if (p.startsWith('/') || p.startsWith('~/')) return normalize(p);
  return normalize(`${dir}/${p}`);
}

function normalize(p: string): string {
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return (p.startsWith('/') ? '/' : '') + out.join('/');
}

/** Every address an image needs must come from a placed service or an override, from a stage no later than its own. */
function checkDependencies(t: Topology, add: (field: string, message: string, hint?: string) => void): void {
  const images = new Map(t.catalog.images.map((i) => [i.name, i]));
  const derived = deriveAddresses(t);
  const stageIndex = (stage: string) => t.stages.indexOf(stage);
  for (const s of t.services) {
    for (const variable of images.get(s.image)?.needs ?? []) {
      if (s.env[variable] !== undefined) continue;
      const address = derived[variable];
      if (!address) {
        const provider = ADDRESS_PROVIDERS[variable];
        add(`services.${s.name}`, `${s.name} needs ${variable}, but ${provider ? `no service runs image ${provider}` : 'nothing provides it'}`, `place a ${provider ?? 'provider'} service, or set addresses.${variable}`);
        continue;
      }
      for (const providerName of address.providers) {
        const provider = t.services.find((p) => p.name === providerName)!;
        if (stageIndex(provider.stage) > stageIndex(s.stage)) {
          add(`stages`, `the stage order contradicts a dependency: ${s.name} (stage ${s.stage}) needs ${variable} from ${provider.name} (stage ${provider.stage}, later)`, `move ${provider.stage} before ${s.stage} in stages, or ${provider.name} to an earlier stage`);
        }
      }
    }
  }
}

const UPGRADE = { pattern: /^(rolling|recreate)$/, hint: 'rolling (one at a time, the old container kept until the new one passes) or recreate (all at once)' };
const DURATION = { pattern: /^\d+(s|m|h|d)$/, hint: 'a number with a unit: "90s", "30m", "24h", "7d"; "0s" fails a step at once' };
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

function durationSeconds(text: string | undefined): number | undefined {
  return text === undefined ? undefined : Number(text.slice(0, -1)) * UNIT_SECONDS[text.slice(-1)];
}
