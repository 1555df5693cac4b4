// Preflight: what to check on a host before anything changes there, the limits, and how the facts a host reports turn
// into a verdict with what to do. Pure: the commands run over SSH in activities/preflight.ts, which hands their output
// here. `contrail-deploy check` shows the verdicts; a run's preparation fails on them (its first step on each host).
import type { PlannedContainer, PlannedStage } from './plan';
import { listeningPorts } from './topology-checks';
import type { Topology } from './types';

export type CheckName = 'ssh' | 'sudo' | 'docker' | 'disk' | 'modules' | 'ports' | 'clock' | 'registry';
/** In the order a table shows them (and the order they matter: nothing else runs without SSH). */
export const CHECKS: CheckName[] = ['ssh', 'sudo', 'docker', 'disk', 'modules', 'ports', 'clock', 'registry'];

/** ok; warn: worth knowing, not a failure (e.g. the registry CA is not installed yet: preparation installs it);
 *  fail: a run would fail on this host; skipped: could not be checked because an earlier check failed. */
export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skipped';

export interface CheckResult {
  check: CheckName;
  status: CheckStatus;
  detail: string;
  /** What to do, for a failure or a warning. */
  fix?: string;
  /** A failure that may pass on its own (a connection, an engine restarting): a run retries it before it parks. */
  transient?: boolean;
}

export interface HostReport {
  host: string;
  address: string;
  results: CheckResult[];
}

export interface PreflightLimits {
  /** Free space each filesystem holding a planned directory must have. */
  minFreeBytes: number;
  /** How far a host's clock may be from the worker's (ZooKeeper and Cassandra need agreeing clocks). */
  maxClockSkewMs: number;
}

// 2 GiB: a control-plane host writes databases and logs under its directories (Cassandra, MariaDB, ZooKeeper), and a
// full disk shows up late and far from its cause (a database that stops, a crash-looping container).
export const DEFAULT_PREFLIGHT_LIMITS: PreflightLimits = { minFreeBytes: 2 * 1024 ** 3, maxClockSkewMs: 2000 };

// The Docker API over SSH is `docker system dial-stdio`, which came with Docker 18.09 (API 1.39).
export const MIN_DOCKER_API = '1.39';

/** A port a container planned on a host listens on (host networking: on the host itself). */
export interface PlannedPort {
  port: number;
  container: string;
}

// ---- what a host's plan needs ----

/**
 * The ports a container listens on, as the load-time port collision check reckons them (model/topology-checks.ts):
 * the ports its service's own health check names (a service that sets one has moved there, as smoke-web does with
 * LISTEN_PORT), otherwise the catalog's `ports` of its image and its image's health port.
 */
export function containerPorts(t: Pick<Topology, 'services' | 'catalog'>, c: Pick<PlannedContainer, 'service' | 'image'>): number[] {
  const service = t.services.find((s) => s.name === c.service);
  const image = t.catalog.images.find((i) => i.name === c.image);
  return service ? listeningPorts(service, image).ports : [];
}

/** Every port the containers planned on a host need, each once (the first container that needs it), in port order. */
export function hostPorts(t: Pick<Topology, 'services' | 'catalog'>, stages: PlannedStage[], host: string): PlannedPort[] {
  const byPort = new Map<number, PlannedPort>();
  for (const c of stages.flatMap((s) => s.containers).filter((x) => x.host === host)) {
    for (const port of containerPorts(t, c)) if (!byPort.has(port)) byPort.set(port, { port, container: c.name });
  }
  return [...byPort.values()].sort((a, b) => a.port - b.port);
}

// ---- verdicts, from what the host said ----

export function sudoResult(user: string, r: { code: number; stderr: string } | null): CheckResult {
  if (!r) return { check: 'sudo', status: 'ok', detail: 'root login: not needed' };
  if (r.code === 0) return { check: 'sudo', status: 'ok', detail: `${user} runs commands as root with sudo -n` };
  return {
    check: 'sudo', status: 'fail',
    detail: `${user} cannot run "sudo -n true" (${firstLine(r.stderr) || `exit ${r.code}`})`,
    fix: `let ${user} run commands as root without a password: a line "${user} ALL=(root) NOPASSWD: ALL" in /etc/sudoers.d/contrail-deploy on the host`,
  };
}

/** "1.41" >= "1.39", numerically by part. */
export function apiAtLeast(version: string, min: string): boolean {
  const [a, b] = [version, min].map((v) => v.split('.').map((n) => Number(n) || 0));
  for (let i = 0; i < Math.max(a.length, b.length); i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  return true;
}

export function dockerResult(v: { version: string; apiVersion: string } | { error: string }): CheckResult {
  if ('error' in v) {
    return { check: 'docker', status: 'fail', transient: true, detail: `the Docker engine does not answer (${firstLine(v.error)})`, fix: 'start the Docker engine on the host (systemctl start docker), and give the SSH user access to it (sudo or the docker group)' };
  }
  const detail = `engine ${v.version}, API ${v.apiVersion}`;
  if (!apiAtLeast(v.apiVersion, MIN_DOCKER_API)) return { check: 'docker', status: 'fail', detail: `${detail}: older than API ${MIN_DOCKER_API}`, fix: `upgrade Docker to 18.09 or later (API ${MIN_DOCKER_API}: docker system dial-stdio, which the Docker API over SSH uses)` };
  return { check: 'docker', status: 'ok', detail };
}

export interface DiskFact {
  /** The planned directory. */
  path: string;
  availBytes: number;
  /** Where the filesystem holding it is mounted. */
  mount: string;
}

/** `path<TAB>available KiB<TAB>mount point` lines (the nearest existing ancestor of a directory not made yet). */
export function parseDisk(out: string): DiskFact[] {
  return out.split('\n').map((l) => l.split('\t')).filter((f) => f.length >= 3 && /^\d+$/.test(f[1])).map(([path, kib, mount]) => ({ path, availBytes: Number(kib) * 1024, mount }));
}

export function diskResult(planned: string[], facts: DiskFact[], limits: PreflightLimits): CheckResult {
  if (!planned.length) return { check: 'disk', status: 'ok', detail: 'no directories planned' };
  const missing = planned.filter((p) => !facts.some((f) => f.path === p));
  if (missing.length) return { check: 'disk', status: 'fail', detail: `could not measure the free space for ${missing.join(', ')}`, fix: 'check that df works on the host' };
  // One line per filesystem: several directories often share one.
  const byMount = new Map<string, DiskFact[]>();
  for (const f of facts.filter((x) => planned.includes(x.path))) byMount.set(f.mount, [...(byMount.get(f.mount) ?? []), f]);
  const lines = [...byMount].map(([mount, fs]) => ({ mount, avail: fs[0].availBytes, paths: fs.map((f) => f.path) }));
  const low = lines.filter((l) => l.avail < limits.minFreeBytes);
  const describe = (l: (typeof lines)[number]) => `${bytes(l.avail)} free on ${l.mount} (${l.paths.join(', ')})`;
  if (low.length) {
    return { check: 'disk', status: 'fail', detail: `${low.map(describe).join('; ')}: less than ${bytes(limits.minFreeBytes)}`, fix: `free space on ${low.map((l) => l.mount).join(', ')} of the host, or give a lower limit (check --min-free)` };
  }
  return { check: 'disk', status: 'ok', detail: lines.map(describe).join('; ') };
}

/** First line: the running kernel; then `<module> loaded|loadable|missing`. */
export function modulesResult(planned: string[], out: string): CheckResult {
  if (!planned.length) return { check: 'modules', status: 'ok', detail: 'no kernel modules planned' };
  const [kernel, ...lines] = out.trim().split('\n');
  const state = new Map(lines.map((l) => l.trim().split(/\s+/) as [string, string]));
  const missing = planned.filter((m) => state.get(m) !== 'loaded' && state.get(m) !== 'loadable');
  const detail = planned.map((m) => `${m} ${state.get(m) ?? 'unknown'}`).join(', ');
  if (missing.length) {
    return {
      check: 'modules', status: 'fail',
      detail: `${missing.map((m) => `the kernel lacks module "${m}"`).join(', ')} (kernel ${kernel || 'unknown'}: neither loaded nor found by modinfo)`,
      fix: `install the module package for kernel ${kernel || 'of the host'}, or remove ${missing.join(', ')} from the host's roles`,
    };
  }
  return { check: 'modules', status: 'ok', detail };
}

export interface Listener {
  port: number;
  address: string;
  processes: { name: string; pid: number }[];
}

/** `ss -Hltnp` lines: "LISTEN 0 128 10.0.0.1:8082 0.0.0.0:* users:(("httpd",pid=42,fd=3))". */
export function parseListeners(out: string): Listener[] {
  return out.split('\n').flatMap((line) => {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 5) return [];
    const local = fields[3];
    const port = Number(local.slice(local.lastIndexOf(':') + 1));
    if (!Number.isInteger(port) || port <= 0) return [];
    const processes = [...line.matchAll(/\("([^"]*)",pid=(\d+)/g)].map((m) => ({ name: m[1], pid: Number(m[2]) }));
    return [{ port, address: local.slice(0, local.lastIndexOf(':')), processes }];
  });
}

/** `ps -e -o pid=,ppid=` lines: pid -> parent pid. */
export function parseParents(out: string): Map<number, number> {
  return parseProcesses(out).parents;
}

/** `ps -e -o pid=,ppid=,args=` lines: every process's parent, and each container's runtime shim by container id (a
 *  containerd shim's arguments name the container it runs: `-id <64 hex>`); its processes all descend from it. */
export function parseProcesses(out: string): { parents: Map<number, number>; shims: Map<string, number> } {
  const parents = new Map<number, number>();
  const shims = new Map<string, number>();
  for (const line of out.split('\n')) {
    const m = /^\s*(\d+)\s+(\d+)(?:\s+(.*))?$/.exec(line);
    if (!m) continue;
    parents.set(Number(m[1]), Number(m[2]));
    const shim = /containerd-shim\S*\s.*?-id\s+([0-9a-f]{64})\b/.exec(m[3] ?? '');
    if (shim) shims.set(shim[1], Number(m[1]));
  }
  return { parents, shims };
}

/** `docker inspect --format '{{.Name}} {{.State.Pid}}'` lines: each running container's name and main process. */
export function parseContainerPids(out: string): { name: string; pid: number }[] {
  return out.split('\n').map((l) => /^\/?(\S+) (\d+)$/.exec(l.trim())).filter((m) => m !== null).map((m) => ({ name: m[1], pid: Number(m[2]) }));
}

/** Who holds a port: a container (its main process or a descendant listens) or a process outside any container. */
export type Holder = { container: string } | { process: string; pid: number } | { unknown: true };

/** The container whose main process (or shim) is pid or one of pid's ancestors, else the listening process itself. */
export function holderOf(l: Listener, containers: { name: string; pid: number }[], parents: Map<number, number>): Holder {
  const mainPids = new Map(containers.filter((c) => c.pid > 0).map((c) => [c.pid, c.name]));
  for (const p of l.processes) {
    for (let pid: number | undefined = p.pid, hops = 0; pid && pid > 1 && hops < 64; pid = parents.get(pid), hops++) {
      if (mainPids.has(pid)) return { container: mainPids.get(pid)! };
    }
  }
  return l.processes.length ? { process: l.processes[0].name, pid: l.processes[0].pid } : { unknown: true };
}

export function describeHolder(h: Holder): string {
  if ('container' in h) return `container ${h.container}`;
  if ('process' in h) return `process ${h.process} (pid ${h.pid})`;
  return 'a process ss could not name';
}

/**
 * The planned ports must be free, or held by the very container that needs them (a redeploy: it runs already, and
 * a changed one is replaced by its own name). Anything else holding one (another topology's container, a process
 * outside Docker) would make the planned container fail to bind, or worse, answer its health gate in its place.
 */
export function portsResult(planned: PlannedPort[], listeners: Listener[], holders: Map<number, Holder[]>): CheckResult {
  if (!planned.length) return { check: 'ports', status: 'ok', detail: 'no ports planned' };
  const isOwn = (h: Holder, p: PlannedPort) => 'container' in h && h.container === p.container;
  // A port may have several listeners (IPv4 and IPv6): one that is not the port's own container is enough to fail.
  const busy = planned.filter((p) => listeners.some((l) => l.port === p.port)).map((p) => {
    const hs = holders.get(p.port) ?? [];
    return { ...p, foreign: hs.length ? hs.find((h) => !isOwn(h, p)) : ({ unknown: true } as Holder) };
  });
  const foreign = busy.filter((b) => b.foreign).map((b) => ({ ...b, holder: b.foreign! }));
  const own = busy.filter((b) => !b.foreign);
  // Long lists (a controller plans dozens of ports) are counted, not spelled out; a failure names each foreign holder.
  const ownNote = !own.length ? '' : own.length <= 4 ? `; held by their own containers: ${own.map((b) => `${b.port} (${b.container})`).join(', ')}` : `; ${own.length} held by their own containers`;
  if (foreign.length) {
    const stop = foreign.map((b) => ('container' in b.holder ? `docker rm -f ${b.holder.container}` : 'process' in b.holder ? `kill ${b.holder.pid} (${b.holder.process})` : `find it with "ss -ltnp sport = :${b.port}"`));
    return {
      check: 'ports', status: 'fail',
      detail: foreign.map((b) => `port ${b.port} (needed by ${b.container}) is held by ${describeHolder(b.holder)}`).join('; ') + ownNote,
      fix: `free the port on the host (${stop.join('; ')}), or place the service elsewhere`,
    };
  }
  const list = planned.length <= 8 ? ` (${planned.map((p) => p.port).join(', ')})` : '';
  return { check: 'ports', status: 'ok', detail: `${planned.length - own.length} of ${planned.length} free${list}${ownNote}` };
}

/** The host's clock from `date +%s%N` (nanoseconds; a `date` without %N gives seconds), in milliseconds. */
export function parseHostClock(out: string): { ms: number; resolutionMs: number } | null {
  const s = out.trim();
  if (/^\d{16,}$/.test(s)) return { ms: Number(s.slice(0, -6)) + Number(s.slice(-6)) / 1e6, resolutionMs: 0 };
  if (/^\d{9,11}N?$/.test(s)) return { ms: Number(s.replace('N', '')) * 1000, resolutionMs: 1000 };
  return null;
}

/**
 * The host's clock against the worker's: the host read its clock between sentAt and answeredAt (worker time), so the
 * skew is measured from their midpoint, give or take half the round trip; only what is certainly beyond the limit fails.
 */
export function clockResult(host: { ms: number; resolutionMs: number } | null, sentAt: number, answeredAt: number, limits: PreflightLimits): CheckResult {
  if (!host) return { check: 'clock', status: 'fail', detail: 'the host did not tell its time (date +%s%N)', fix: 'check that date works on the host' };
  const skew = host.ms - (sentAt + answeredAt) / 2;
  const margin = (answeredAt - sentAt) / 2 + host.resolutionMs;
  const detail = `${skew >= 0 ? '+' : '-'}${seconds(Math.abs(skew))} from this machine's clock (±${seconds(margin)})`;
  if (Math.abs(skew) - margin > limits.maxClockSkewMs) {
    return { check: 'clock', status: 'fail', detail: `${detail}: more than ${seconds(limits.maxClockSkewMs)}`, fix: 'synchronise the clocks of the host and the worker (chrony or systemd-timesyncd against the same NTP servers): ZooKeeper and Cassandra need agreeing clocks' };
  }
  return { check: 'clock', status: 'ok', detail };
}

export interface RegistryProbe {
  /** curl's exit code (127: no curl on the host). */
  rc: number;
  /** The HTTP status of GET /v2/ (401 without credentials: it answers). */
  http: number;
  error: string;
  /** The Docker engine's trust of the registry (/etc/docker/certs.d/<registry>/ca.crt) against the topology's CA. */
  trust: 'same' | 'different' | 'none' | 'system';
}

/** Lines `http=<code>`, `rc=<exit>`, `trust=<same|different|none|system>`, anything else: curl's error text. */
export function parseRegistryProbe(out: string): RegistryProbe {
  const value = (k: string) => out.split('\n').find((l) => l.startsWith(`${k}=`))?.slice(k.length + 1).trim() ?? '';
  const error = out.split('\n').filter((l) => l.trim() && !/^(http|rc|trust)=/.test(l)).join(' ').trim();
  const trust = value('trust');
  return { rc: Number(value('rc') || -1), http: Number(value('http') || 0), error, trust: (['same', 'different', 'none', 'system'].includes(trust) ? trust : 'none') as RegistryProbe['trust'] };
}

// curl exit codes: TLS trouble (the certificate does not chain to the CA, or does not name the address) vs the network.
const CURL_TLS = new Set([35, 51, 53, 54, 58, 59, 60, 66, 77, 80, 83, 90, 91]);

export function registryResult(address: string, caFile: string | null, p: RegistryProbe): CheckResult {
  const url = `https://${address}/v2/`;
  if (p.rc === 127) return { check: 'registry', status: 'warn', detail: `not checked: curl is not installed on the host`, fix: `install curl on the host to check ${url} from there` };
  if (CURL_TLS.has(p.rc)) {
    return {
      check: 'registry', status: 'fail',
      detail: `${url}: TLS not trusted with ${caFile ? `the CA ${caFile}` : 'the system CAs'} (curl ${p.rc}: ${p.error || 'TLS error'})`,
      fix: caFile ? `set registry.ca to the CA that signed the registry's certificate (it must name ${address.replace(/:\d+$/, '')})` : 'set registry.ca in the topology to the CA that signed the registry\'s certificate',
    };
  }
  if (p.rc !== 0) return { check: 'registry', status: 'fail', transient: true, detail: `${url} cannot be reached from the host (curl ${p.rc}: ${p.error || 'no answer'})`, fix: `check that the registry runs and that the host's network reaches ${address}` };
  if (p.http !== 200 && p.http !== 401) return { check: 'registry', status: 'fail', detail: `${url} answers HTTP ${p.http}, not a Docker registry's 200 or 401`, fix: `check registry.address: ${address} does not look like a Docker registry` };
  const reached = `${url} answers (HTTP ${p.http}), TLS trusted with ${caFile ? 'the topology\'s CA' : 'the system CAs'}`;
  if (p.trust === 'none') return { check: 'registry', status: 'warn', detail: `${reached}; the Docker engine does not trust the CA yet`, fix: `a run's preparation installs it (/etc/docker/certs.d/${address}/ca.crt)` };
  if (p.trust === 'different') return { check: 'registry', status: 'warn', detail: `${reached}; the Docker engine trusts another CA for it`, fix: `a run's preparation replaces /etc/docker/certs.d/${address}/ca.crt with the topology's CA` };
  return { check: 'registry', status: 'ok', detail: `${reached}${p.trust === 'same' ? ', installed for the Docker engine' : ''}` };
}

// ---- reports ----

export function failed(report: HostReport): CheckResult[] {
  return report.results.filter((r) => r.status === 'fail');
}

/**
 * A run's verdict on a host's preflight: null when nothing failed; else one message naming the host and every failed
 * check with what to do, and whether to retry (only when every failure may pass on its own).
 */
export function preflightFailure(report: HostReport): { message: string; retryable: boolean; type: string } | null {
  const fails = failed(report);
  if (!fails.length) return null;
  const lines = fails.map((r) => `${r.check}: ${r.detail}${r.fix ? ` (fix: ${r.fix})` : ''}`);
  const retryable = fails.every((r) => r.transient);
  const first = fails.find((r) => !r.transient) ?? fails[0];
  return { message: `host ${report.host}: step preflight: ${lines.join('; ')}`, retryable, type: FAILURE_TYPES[first.check] };
}

const FAILURE_TYPES: Record<CheckName, string> = {
  ssh: 'SshUnreachable', sudo: 'SudoRefused', docker: 'DockerEngineDown', disk: 'DiskSpaceLow', modules: 'KernelModuleMissing',
  ports: 'PortBusy', clock: 'ClockSkew', registry: 'RegistryUnreachable',
};

/** The table `check` prints on a terminal: one line per host and check, then each failure with what to do. */
export function renderReports(reports: HostReport[]): string {
  const rows = reports.flatMap((r) => r.results.map((c) => [r.host, c.check, c.status.toUpperCase(), c.detail]));
  const header = ['HOST', 'CHECK', 'RESULT', 'DETAIL'];
  const widths = [0, 1, 2].map((i) => Math.max(header[i].length, ...rows.map((row) => row[i].length)));
  const line = (row: string[]) => row.map((cell, i) => (i < 3 ? cell.padEnd(widths[i]) : cell)).join('  ');
  const out = [line(header), ...rows.map(line)];
  const problems = reports.flatMap((r) => r.results.filter((c) => c.status === 'fail' || c.status === 'warn').map((c) => ({ host: r.host, ...c })));
  const fails = problems.filter((p) => p.status === 'fail');
  if (problems.length) out.push('');
  for (const p of problems) out.push(`${p.status === 'fail' ? 'FAIL' : 'warn'} ${p.host} ${p.check}: ${p.detail}`, ...(p.fix ? [`     what to do: ${p.fix}`] : []));
  out.push('', fails.length ? `${fails.length} check${fails.length === 1 ? '' : 's'} failed on ${new Set(fails.map((f) => f.host)).size} of ${reports.length} hosts` : `every check passed on ${reports.length} host${reports.length === 1 ? '' : 's'}`);
  return out.join('\n');
}

/** "2.0 GiB", "512 KiB". */
export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  for (; n >= 1024 && i < units.length - 1; i++) n /= 1024;
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

/** "512M", "2G", "1.5GiB", "1048576" (bytes) -> bytes; null when not a size. */
export function parseSize(s: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B)?$/i.exec(s.trim());
  if (!m) return null;
  return Math.round(Number(m[1]) * 1024 ** ' KMGT'.indexOf((m[2] || ' ').toUpperCase()));
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 0)} s`;
}

function firstLine(s: string): string {
  return s.trim().split('\n')[0] ?? '';
}
