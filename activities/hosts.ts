// Host preparation over SSH (deploy task queue): engine check, persistent directories, kernel modules. Everything that
// needs root goes through HostSession.execAsRoot (sudo -n for a non-root user), so a refused sudo is one clear line.
import * as fs from 'fs';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { ItemOutcome, PrepareRequest, PrepareResult } from '../model/activity-types';
import { maskSecrets } from '../lib/secrets';
import { SshError, sshTarget, withHost, type HostSession } from '../lib/ssh';
import { shq } from '../model/shell';
import { preflightBeforePrepare } from './preflight';

export async function prepareHost(req: PrepareRequest): Promise<PrepareResult> {
  refuseSimulated('prepareHost', req);
  const { host } = req;
  return withHostFailures(host.name, () =>
    withHost(sshTarget(host, req.ssh), async (session) => {
      await preflightBeforePrepare(session, req); // the checks of `contrail-deploy check` first: fail early and clearly
      // The items are independent of each other: checked at once, each on its own channel, reported in order.
      const item = async (name: string, ensure: () => Promise<ItemOutcome>) => {
        const outcome = await ensure();
        Context.current().heartbeat(name);
        return { item: name, outcome };
      };
      const ca = req.registry?.ca ? readCa(req.registry.ca) : null;
      const [dockerVersion, items] = await Promise.all([
        checkEngine(session),
        Promise.all([
          ...host.directories.map((dir) => item(`directory ${dir.path}`, () => ensureDirectory(session, dir.path, dir.mode, dir.owner))),
          ...host.kernelModules.map((module) => item(`kernel module ${module}`, () => ensureModule(session, module))),
          ...(req.registry && ca ? [item(`registry trust ${req.registry.address}`, () => ensureRegistryTrust(session, req.registry!.address, ca))] : []),
        ]),
      ]);
      return { host: host.name, dockerVersion, items };
    }),
  );
}

/** The engine's version, through its API (the connection the run's container steps use next). */
async function checkEngine(s: HostSession): Promise<string> {
  await s.ensureEngineAccess('step check Docker engine');
  try {
    return (await s.docker().version()).Version;
  } catch (e) {
    if (e instanceof SshError) throw e;
    throw ApplicationFailure.retryable(`host ${s.target.host}: step check Docker engine: docker does not answer (${maskSecrets((e as Error).message)}). Start the Docker engine on that host.`, 'DockerEngineDown');
  }
}

async function ensureDirectory(s: HostSession, dir: string, mode: string, owner: string | undefined): Promise<ItemOutcome> {
  // One round trip: report what was there, then make it so. Without a declared owner, an existing directory keeps the
  // owner its container gave it (model/types.ts DirectorySpec); a new one is root's, as mkdir makes it.
  const script = `p=${shq(dir)};
    if [ -d "$p" ]; then have="$(stat -c %a:%U:%G "$p")"; else have=none; fi
    mkdir -p "$p" && chmod ${shq(mode)} "$p" ${owner ? `&& chown ${shq(owner)} "$p" ` : ''}|| exit 3
    now="$(stat -c %a:%U:%G "$p")"
    if [ "$have" = none ]; then echo created; elif [ "$have" = "$now" ]; then echo unchanged; else echo changed; fi`;
  const r = await s.execAsRoot(script, 'step prepare', `mkdir -p ${dir}`);
  if (r.code !== 0) {
    throw ApplicationFailure.nonRetryable(`host ${s.target.host}: step create directory ${dir}: ${maskSecrets(r.stderr.trim())}`, 'HostPrepareFailed');
  }
  return r.stdout.trim() as ItemOutcome;
}

/** Loads the module now and lists it in /etc/modules-load.d so that it is loaded again after a reboot. */
async function ensureModule(s: HostSession, module: string): Promise<ItemOutcome> {
  const m = shq(module);
  const script = `conf=/etc/modules-load.d/contrail-deploy.conf; outcome=unchanged
    if [ ! -d /sys/module/${m} ]; then modprobe ${m} 2>&1 || exit 4; outcome=created; fi
    if ! grep -qx ${m} "$conf" 2>/dev/null; then
      mkdir -p /etc/modules-load.d && echo ${m} >>"$conf" || exit 5
      [ $outcome = unchanged ] && outcome=changed
    fi
    echo $outcome`;
  const r = await s.execAsRoot(script, 'step prepare', `modprobe ${module}`);
  if (r.code === 4) {
    throw ApplicationFailure.nonRetryable(
      `host ${s.target.host}: step load kernel module: the kernel lacks module "${module}" (modprobe: ${maskSecrets(r.stdout.trim() || 'failed')}). Install the module package for the running kernel of ${s.target.host}, or remove the module from the host's roles.`,
      'KernelModuleMissing',
    );
  }
  if (r.code !== 0) throw ApplicationFailure.retryable(`host ${s.target.host}: step load kernel module ${module}: ${maskSecrets(r.stderr.trim())}`, 'HostPrepareFailed');
  return r.stdout.trim() as ItemOutcome;
}

/** A request for the simulated worker (topology with `simulate:`) must not reach real hosts. */
export function refuseSimulated(activity: string, req: { simulate?: unknown }): void {
  if (req.simulate === undefined) return;
  throw ApplicationFailure.nonRetryable(
    `${activity} got a simulated request (topology with simulate:) on a real worker: start a simulated worker with "contrail-deploy worker --queues deploy --simulate"`,
    'InvalidPlan',
  );
}

/** SSH errors become Temporal failures: unreachable is retried; a refused key, host key or sudo is not. */
export async function withHostFailures<T>(host: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof SshError) {
      const message = maskSecrets(e.message);
      throw e.retryable ? ApplicationFailure.retryable(message, e.type) : ApplicationFailure.nonRetryable(message, e.type);
    }
    if (e instanceof ApplicationFailure) throw e;
    throw ApplicationFailure.retryable(`host ${host}: ${maskSecrets(String((e as Error).message))}`, 'HostError');
  }
}

function readCa(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    throw ApplicationFailure.nonRetryable(`registry CA ${file} is missing on this worker: fix registry.ca in the topology, or run the worker where the file is`, 'InvalidPlan');
  }
}

/** The host's Docker engine trusts the registry's CA (/etc/docker/certs.d/<registry>/ca.crt), as `docker pull` needs. */
async function ensureRegistryTrust(s: HostSession, address: string, caPem: string): Promise<ItemOutcome> {
  const dir = `/etc/docker/certs.d/${address}`;
  const script = `d=${shq(dir)}; mkdir -p "$d" || exit 3
    printf %s ${shq(Buffer.from(caPem).toString('base64'))} | base64 -d >"$d/ca.crt.new" || exit 3
    if [ ! -f "$d/ca.crt" ]; then outcome=created; elif cmp -s "$d/ca.crt.new" "$d/ca.crt"; then outcome=unchanged; else outcome=changed; fi
    if [ $outcome = unchanged ]; then rm -f "$d/ca.crt.new"; else mv "$d/ca.crt.new" "$d/ca.crt"; fi
    echo $outcome`;
  const r = await s.execAsRoot(script, 'step prepare', `mkdir -p ${dir}`);
  if (r.code !== 0) throw ApplicationFailure.nonRetryable(`host ${s.target.host}: step trust registry ${address}: cannot write ${dir}/ca.crt (${maskSecrets(r.stderr.trim())})`, 'HostPrepareFailed');
  return r.stdout.trim() as ItemOutcome;
}
