// Preflight on one host over SSH, read-only: the facts behind each check (model/preflight.ts gives the verdicts).
// Shared by `contrail-deploy check` (every check, a report) and by a run's host preparation, which runs the same checks
// first and fails the step on them, so a run stops early and clearly instead of halfway.
import * as fs from 'fs';
import { ApplicationFailure } from '@temporalio/common';
import type { PrepareRequest } from '../model/activity-types';
import type { PlannedHost } from '../model/plan';
import {
  clockResult, DEFAULT_PREFLIGHT_LIMITS, diskResult, dockerResult, holderOf, modulesResult, parseContainerPids, parseDisk, parseHostClock, parseListeners, parseParents, parseProcesses,
  parseRegistryProbe, parseSize, portsResult, preflightFailure, registryResult, sudoResult,
  type CheckName, type CheckResult, type Holder, type HostReport, type PlannedPort, type PreflightLimits,
} from '../model/preflight';
import { shq } from '../model/shell';
import { maskSecrets } from '../lib/secrets';
import { SshError, withHost, type HostSession, type SshTarget } from '../lib/ssh';

export interface PreflightInput {
  host: Pick<PlannedHost, 'name' | 'address' | 'directories' | 'kernelModules' | 'ports'>;
  /** The registry the host pulls from, with the CA file (on this machine) that preparation installs there. */
  registry: { address: string; ca: string | null } | null;
  limits: PreflightLimits;
}

// Each command is short; a hung one must not outlive the prepare activity's heartbeat timeout (30 s).
const COMMAND_TIMEOUT_MS = 20000;

/** `check`: every check on one host. Never throws: a host that cannot be reached is a failed ssh check. */
export async function checkHost(target: SshTarget, input: PreflightInput): Promise<HostReport> {
  const report = { host: input.host.name, address: input.host.address };
  try {
    return await withHost(target, async (session) => ({
      ...report,
      results: [{ check: 'ssh', status: 'ok', detail: `${target.user}@${target.address}:${target.port}${via(target)}, host key pinned` } as CheckResult, ...(await hostChecks(session, input))],
    }));
  } catch (e) {
    const unreachable = !(e instanceof SshError) || e.retryable;
    const ssh: CheckResult = {
      check: 'ssh', status: 'fail', transient: unreachable, detail: maskSecrets((e as Error).message),
      ...(unreachable ? { fix: "check that the host is up and its sshd listens there, and the topology's ssh settings (user, keyFile, port)" } : {}),
    };
    const rest = (['sudo', 'docker', 'disk', 'modules', 'ports', 'clock', 'registry'] as CheckName[]).map((check): CheckResult => ({ check, status: 'skipped', detail: 'not checked: no SSH session' }));
    return { ...report, results: [ssh, ...rest] };
  }
}

/**
 * A run's preparation, first: the same checks, on the session it already has. A failure names the host and each
 * failed check with what to do; it is not retried (the step parks) unless it may pass on its own (an unreachable
 * registry, an engine that does not answer). A port held by the container that needs it is fine (a redeploy).
 */
export async function preflightBeforePrepare(session: HostSession, req: PrepareRequest): Promise<void> {
  const results = await hostChecks(session, { host: req.host, registry: req.registry ?? null, limits: workerLimits() });
  const verdict = preflightFailure({ host: req.host.name, address: req.host.address, results });
  if (!verdict) return;
  const message = maskSecrets(verdict.message);
  throw verdict.retryable ? ApplicationFailure.retryable(message, verdict.type) : ApplicationFailure.nonRetryable(message, verdict.type);
}

/** The limits a run checks against: the defaults, or the worker's CONTRAIL_PREFLIGHT_MIN_FREE (a size: 512M, 2G) and
 *  CONTRAIL_PREFLIGHT_MAX_SKEW (seconds). */
export function workerLimits(env: NodeJS.ProcessEnv = process.env): PreflightLimits {
  const minFree = env.CONTRAIL_PREFLIGHT_MIN_FREE ? parseSize(env.CONTRAIL_PREFLIGHT_MIN_FREE) : null;
  const maxSkew = env.CONTRAIL_PREFLIGHT_MAX_SKEW ? Number(env.CONTRAIL_PREFLIGHT_MAX_SKEW) : NaN;
  return {
    minFreeBytes: minFree ?? DEFAULT_PREFLIGHT_LIMITS.minFreeBytes,
    maxClockSkewMs: Number.isFinite(maxSkew) && maxSkew >= 0 ? maxSkew * 1000 : DEFAULT_PREFLIGHT_LIMITS.maxClockSkewMs,
  };
}

async function hostChecks(s: HostSession, input: PreflightInput): Promise<CheckResult[]> {
  const { host } = input;
  const sudo = await guard('sudo', () => checkSudo(s));
  // Naming the process behind a port takes root (ss -p reads every process's file descriptors).
  const ports = sudo.status === 'ok' ? guard('ports', () => checkPorts(s, host.ports ?? [])) : Promise.resolve<CheckResult>({ check: 'ports', status: 'skipped', detail: 'not checked: needs root (see sudo)' });
  const rest = await Promise.all([
    guard('docker', () => checkDocker(s)),
    guard('disk', () => checkDisk(s, host.directories.map((d) => d.path), input.limits)),
    guard('modules', () => checkModules(s, host.kernelModules)),
    ports,
    guard('clock', () => checkClock(s, input.limits)),
    guard('registry', () => checkRegistry(s, input.registry)),
  ]);
  return [sudo, ...rest];
}

/** A check that could not run to its end (a channel lost, a command timed out) is a failure worth retrying. */
async function guard(check: CheckName, fn: () => Promise<CheckResult>): Promise<CheckResult> {
  try {
    return await fn();
  } catch (e) {
    return { check, status: 'fail', transient: true, detail: `could not check: ${maskSecrets((e as Error).message)}`, fix: 'check again; if it persists, look at the host' };
  }
}

async function checkSudo(s: HostSession): Promise<CheckResult> {
  if (s.target.user === 'root') return sudoResult('root', null);
  return sudoResult(s.target.user, await s.exec(s.asRoot('true'), COMMAND_TIMEOUT_MS));
}

/** The engine as the pipeline reaches it: its API over SSH (docker system dial-stdio). */
async function checkDocker(s: HostSession): Promise<CheckResult> {
  try {
    const v = await withTimeout(s.docker().version(), COMMAND_TIMEOUT_MS, 'the Docker API did not answer');
    return dockerResult({ version: v.Version, apiVersion: v.ApiVersion });
  } catch (e) {
    return dockerResult({ error: maskSecrets((e as Error).message) });
  }
}

/** Free space of the filesystem that holds each directory, or will hold it (its nearest existing ancestor). */
async function checkDisk(s: HostSession, dirs: string[], limits: PreflightLimits): Promise<CheckResult> {
  if (!dirs.length) return diskResult([], [], limits);
  const script = `for p in ${dirs.map(shq).join(' ')}; do q="$p"; while [ ! -e "$q" ]; do q=$(dirname "$q"); done
    LC_ALL=C df -Pk "$q" | awk -v p="$p" 'NR==2 {printf "%s\\t%s\\t%s\\n", p, $4, $NF}'; done`;
  const r = await s.exec(script, COMMAND_TIMEOUT_MS);
  return diskResult(dirs, parseDisk(r.stdout), limits);
}

/** Each module loaded (/sys/module) or loadable (modinfo finds it for the running kernel). */
async function checkModules(s: HostSession, modules: string[]): Promise<CheckResult> {
  if (!modules.length) return modulesResult([], '');
  const script = `PATH="$PATH:/usr/sbin:/sbin"; uname -r
    for m in ${modules.map(shq).join(' ')}; do
      if [ -d "/sys/module/$(echo "$m" | tr - _)" ]; then echo "$m loaded"; elif modinfo "$m" >/dev/null 2>&1; then echo "$m loadable"; else echo "$m missing"; fi
    done`;
  return modulesResult(modules, (await s.exec(script, COMMAND_TIMEOUT_MS)).stdout);
}

/** Who listens on each planned port (ss -ltnp), and for a busy one, the container it belongs to if any. */
async function checkPorts(s: HostSession, ports: PlannedPort[]): Promise<CheckResult> {
  if (!ports.length) return portsResult([], [], new Map());
  const ss = await s.exec(s.asRoot('PATH="$PATH:/usr/sbin:/sbin"; ss -Hltnp'), COMMAND_TIMEOUT_MS);
  if (ss.code !== 0) {
    return { check: 'ports', status: 'fail', detail: `ss -ltnp failed (${maskSecrets(ss.stderr.trim()) || `exit ${ss.code}`})`, fix: 'install iproute2 on the host (ss)' };
  }
  const planned = new Set(ports.map((p) => p.port));
  const busy = parseListeners(ss.stdout).filter((l) => planned.has(l.port));
  const holders = new Map<number, Holder[]>();
  if (busy.length) {
    const { containers, parents } = await processTree(s);
    for (const l of busy) holders.set(l.port, [...(holders.get(l.port) ?? []), holderOf(l, containers, parents)]);
  }
  return portsResult(ports, busy, holders);
}

type ProcessTree = { containers: { name: string; pid: number }[]; parents: Map<number, number> };

/** Each running container with the process its processes descend from, and every process's parent. Usually one `ps`
 *  and one container listing through the API: a container's shim (named by `ps`) is its processes' ancestor. Where a
 *  container has no containerd shim (another runtime), one `docker inspect` of them all gives the main processes. */
async function processTree(s: HostSession): Promise<ProcessTree> {
  const [ps, listed] = await Promise.all([s.exec(s.asRoot('ps -e -o pid=,ppid=,args='), COMMAND_TIMEOUT_MS), s.docker().listContainers().catch(() => null)]);
  if (ps.code === 0 && listed) {
    const { parents, shims } = parseProcesses(ps.stdout);
    const containers = listed.map((c) => ({ name: (c.Names[0] ?? c.Id).replace(/^\//, ''), pid: shims.get(c.Id) ?? 0 }));
    if (containers.every((c) => c.pid > 0)) return { containers, parents };
  }
  return inspectedTree(s);
}

/** The same from `docker inspect` of every running container (an inspect per container through the API cost about a
 *  second on a host with 40 of them; two docker commands cost about 0.1 s). */
async function inspectedTree(s: HostSession): Promise<ProcessTree> {
  const r = await s.exec(s.asRoot(`docker ps -q | xargs -r docker inspect --format '{{.Name}} {{.State.Pid}}' && echo ${PS_MARK} && ps -e -o pid=,ppid=`), COMMAND_TIMEOUT_MS);
  const [inspected, ps] = r.stdout.split(`${PS_MARK}\n`);
  if (r.code !== 0 || ps === undefined) throw new Error(`docker inspect failed: ${maskSecrets(r.stderr.trim()) || `exit ${r.code}`}`);
  return { containers: parseContainerPids(inspected), parents: parseParents(ps) };
}

const PS_MARK = '--- ps';

// The host's time is read with `date`: the e2e test of a skewed clock (test/e2e/check.test.ts) shadows that command on
// one lab host, since the lab's hosts share this machine's one clock and a real skew cannot be made there.
async function checkClock(s: HostSession, limits: PreflightLimits): Promise<CheckResult> {
  const sentAt = Date.now();
  const r = await s.exec('date +%s%N', COMMAND_TIMEOUT_MS);
  const answeredAt = Date.now();
  return clockResult(r.code === 0 ? parseHostClock(r.stdout) : null, sentAt, answeredAt, limits);
}

/** GET https://REGISTRY/v2/ from the host with the topology's CA (what preparation installs for the engine), and
 *  whether the engine trusts that CA already. */
async function checkRegistry(s: HostSession, registry: PreflightInput['registry']): Promise<CheckResult> {
  if (!registry) return { check: 'registry', status: 'ok', detail: 'no registry planned' };
  let caPem: string | null = null;
  if (registry.ca) {
    try {
      caPem = fs.readFileSync(registry.ca, 'utf8');
    } catch {
      return { check: 'registry', status: 'fail', detail: `the registry CA ${registry.ca} is missing on this machine`, fix: 'fix registry.ca in the topology, or run where the file is' };
    }
  }
  const address = shq(registry.address);
  const script = `caf=; trust=system
    if [ -n ${shq(caPem ? 'ca' : '')} ]; then
      caf=$(mktemp) || exit 1
      printf %s ${shq(Buffer.from(caPem ?? '').toString('base64'))} | base64 -d >"$caf"
      t=/etc/docker/certs.d/${address}/ca.crt
      if [ ! -f "$t" ]; then trust=none; elif cmp -s "$caf" "$t"; then trust=same; else trust=different; fi
    fi
    if command -v curl >/dev/null 2>&1; then
      curl -sS -o /dev/null -w 'http=%{http_code}\\n' --connect-timeout 5 --max-time 10 \${caf:+--cacert "$caf"} https://${address}/v2/ 2>&1; echo "rc=$?"
    else echo rc=127; fi
    echo "trust=$trust"; [ -z "$caf" ] || rm -f "$caf"`;
  const r = await s.exec(script, COMMAND_TIMEOUT_MS);
  return registryResult(registry.address, registry.ca, parseRegistryProbe(r.stdout));
}

function via(target: SshTarget): string {
  const j = target.jumpHost;
  return j ? ` through the bastion ${j.user}@${j.address}:${j.port}` : '';
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} within ${ms / 1000}s`)), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
