// `contrail-deploy check <topology>`: preflight of every host, read-only, before a run (the same checks a run's
// preparation makes first on each host).
import { loadPlan } from '../lib/load';
import { DEFAULT_PREFLIGHT_LIMITS, bytes, failed, parseSize, renderReports, type HostReport, type PreflightLimits } from '../model/preflight';
import { Semaphore } from '../model/semaphore';
import type { Command } from './command';
import { onePositional, UsageError } from './usage';

export const checkCommand: Command = {
  name: 'check',
  summary: 'preflight of every host, read-only: SSH, sudo, Docker, free space, kernel modules, ports, clock, registry',
  usage: `Usage: contrail-deploy check <topology.yaml> [--json] [--min-free SIZE] [--max-skew SECONDS]

  Checks every host of the topology, changing nothing, a few hosts at a time (the topology's concurrency.hosts):
    ssh       reachable, host key pinned in ssh.knownHosts, the key accepted
    sudo      a non-root ssh.user runs commands as root without a password (sudo -n)
    docker    the engine answers over SSH, and its API version (at least 1.39)
    disk      free space on the filesystems of the host's planned directories (default at least ${bytes(DEFAULT_PREFLIGHT_LIMITS.minFreeBytes)})
    modules   each kernel module of the host's roles loaded, or loadable (modinfo)
    ports     each port its planned containers listen on free, or held by that very container; anything else
              holding one is named (the process, or the container)
    clock     the host's clock against this machine's (default at most ${DEFAULT_PREFLIGHT_LIMITS.maxClockSkewMs / 1000} s apart)
    registry  https://REGISTRY/v2/ reached from the host with the topology's CA; warns when the Docker engine does
              not trust that CA yet (a run's preparation installs it)
  Prints a table, then each failure with what to do; exits 1 when a check failed, 0 otherwise. A run makes the same
  checks first on each host, and its preparation fails (and parks) on them.
  --json             one JSON object: {topology, ok, limits, hosts: [{host, address, results: [{check, status, detail, fix}]}]}
  --min-free SIZE    free space each filesystem must have (512M, 2G, ...)
  --max-skew SECONDS how far a host's clock may be from this machine's`,
  options: { json: { type: 'boolean' }, 'min-free': { type: 'string' }, 'max-skew': { type: 'string' } },
  async run({ values, positionals }) {
    const file = onePositional(positionals, 'topology file');
    const limits = limitsFrom(values);
    const { plan } = loadPlan(file);
    if (plan.simulate) {
      console.error(`contrail-deploy check: ${plan.topologyFile} is a simulated topology (simulate:): its hosts do not exist, so there is nothing to check`);
      return 2;
    }
    // SSH loads only for the commands that reach hosts, not on every CLI start.
    const [{ checkHost }, { sshTarget }] = await Promise.all([import('../activities/preflight'), import('../lib/ssh')]);
    const slots = new Semaphore(plan.concurrency.hosts);
    const reports: HostReport[] = await Promise.all(
      plan.hosts.map((host) => slots.run(() => checkHost(sshTarget(host, plan.ssh), { host, registry: { address: plan.registry.address, ca: plan.registry.ca }, limits }))),
    );
    const ok = reports.every((r) => !failed(r).length);
    if (values.json) console.log(JSON.stringify({ topology: plan.topology, ok, limits, hosts: reports }));
    else console.log(`check ${plan.topology} (${plan.topologyFile}): ${plan.hosts.length} hosts\n\n${renderReports(reports)}`);
    return ok ? 0 : 1;
  },
};

export function limitsFrom(values: Record<string, unknown>): PreflightLimits {
  const limits = { ...DEFAULT_PREFLIGHT_LIMITS };
  if (values['min-free'] !== undefined) {
    const size = parseSize(String(values['min-free']));
    if (size === null) throw new UsageError(`--min-free takes a size such as 512M or 2G, not "${String(values['min-free'])}"`);
    limits.minFreeBytes = size;
  }
  if (values['max-skew'] !== undefined) {
    const s = Number(values['max-skew']);
    if (!Number.isFinite(s) || s < 0) throw new UsageError(`--max-skew takes a number of seconds, not "${String(values['max-skew'])}"`);
    limits.maxClockSkewMs = s * 1000;
  }
  return limits;
}
