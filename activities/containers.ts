// Containers on the test/production hosts (deploy task queue): reconcile one container, then gate on its health.
import * as crypto from 'crypto';
import { Context, sleep } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type Docker from 'dockerode';
import { TOPOLOGY_LABEL } from '../model/drift';
import { engineHealthConfig, engineVouches } from '../model/engine-health';
import type { Dependency, HostRef, PlannedContainer } from '../model/plan';
import { previousName } from '../model/rollout';
import { Semaphore } from '../model/semaphore';
import { stableJson } from '../model/stable-json';
import type { SecretRef } from '../model/types';
import type { HealthRequest, HealthResult, PreviousRequest, PullRequest, PullResult, QuorumRequest, QuorumResult, RegistryRef, SshSettings, StartRequest, StartResult, SurveyedContainer, SurveyRequest, SurveyResult } from '../model/activity-types';
import { followStream } from '../lib/docker';
import { demuxLogs } from '../lib/docker-frames';
import { DigestKeyUnusable, maskSecrets, resolveSecret, SecretNotFound, secretDigest } from '../lib/secrets';
import { httpProbe, tcpProbe, type ProbeVia } from '../lib/probes';
import { probeVia, sshTarget, withHost } from '../lib/ssh';
import { refuseSimulated, withHostFailures } from './hosts';
import { keepAlive } from './heartbeat';
import { RUN_LABEL } from './images';

export const SPEC_HASH_LABEL = 'net.contrail-deploy.spec-hash';

export async function startContainer(req: StartRequest): Promise<StartResult> {
  refuseSimulated('startContainer', req);
  const c = req.container;
  const specHash = specHashOrFail(c, req.imageRef);
  let previous: string | undefined;
  return withHostFailures(c.host, () =>
    withHost(sshTarget(req.host, req.ssh), async (session) => {
      const docker = session.docker();
      // Only "no such container" means absent; any other error is retried, never taken for absence.
      const existing = await docker.getContainer(c.name).inspect().catch((e: { statusCode?: number }) => {
        if (e.statusCode === 404) return undefined;
        throw e;
      });
      // A container in its restart policy's back-off counts as running for the engine; not here: it is started anew.
      if (existing && existing.Config.Labels?.[SPEC_HASH_LABEL] === specHash && existing.State.Running && !existing.State.Restarting) {
        return { container: c.name, host: c.host, id: existing.Id, outcome: 'unchanged' as const };
      }
      const running = existing?.State.Running && !existing.State.Restarting;
      if (req.replaceInTurn && running) return { container: c.name, host: c.host, id: existing.Id, outcome: 'unchanged' as const, waitsForTurn: true };
      await pullImage(docker, req.imageRef, req.registry);
      // Pulled first: the old container is stopped only once its replacement can start at once.
      previous = req.keepPrevious ? await keepPrevious(docker, c.name, existing, specHash) : undefined;
      if (existing && !req.keepPrevious) await docker.getContainer(existing.Id).remove({ force: true });
      // Not in the spec hash: containers made before the engine ran the checks are not restarted for it (the survey
      // asks them directly instead).
      const healthcheck = engineHealthConfig(c);
      const spec: Docker.ContainerCreateOptions = {
        name: c.name,
        Image: req.imageRef,
        ...(c.command ? { Cmd: c.command } : {}),
        Env: Object.entries(c.env).map(([k, v]) => `${k}=${resolveEnv(v)}`),
        Labels: { ...c.labels, [RUN_LABEL]: req.runId, [SPEC_HASH_LABEL]: specHash, 'net.contrail-deploy.service': c.service, 'net.contrail-deploy.stage': c.stage, ...(req.topology ? { [TOPOLOGY_LABEL]: req.topology } : {}) },
        ...(healthcheck ? { Healthcheck: healthcheck } : {}),
        HostConfig: {
          NetworkMode: 'host',
          Binds: c.volumes,
          Privileged: c.privileged,
          CapAdd: c.capAdd,
          RestartPolicy: { Name: 'unless-stopped' },
        },
      };
      const created = await docker.createContainer(spec).catch(async (e: { statusCode?: number }) => {
        if (e.statusCode !== 409) throw e;
        // The name is taken: an earlier attempt of this step (whose worker looked dead and was retried) created it
        // meanwhile. This attempt's container replaces it.
        await docker.getContainer(c.name).remove({ force: true });
        return docker.createContainer(spec);
      });
      await created.start();
      return { container: c.name, host: c.host, id: created.id, outcome: existing || previous ? ('recreated' as const) : ('created' as const), ...(previous ? { previous } : {}) };
    }).catch(async (e: unknown) => {
      // Nothing is lost when a replacement cannot even start: the kept container runs again before the step fails.
      if (previous) await restorePrevious({ container: c, host: req.host, ssh: req.ssh, previous }).catch(() => undefined);
      throw dockerFailure(`host ${c.host}: step start ${c.name}`, e);
    }),
  );
}

/**
 * Frees the container's name for its replacement, keeping what ran: a running container is stopped and renamed
 * (previousName), anything else removed. Returns the kept container's id. Safe to repeat: when an earlier attempt of
 * the step already kept one, the container now under the name is that attempt's replacement (it has the new spec),
 * removed; a kept container older than what runs now (its replacement passed, the discard failed) is removed instead.
 */
async function keepPrevious(docker: Docker, name: string, existing: Docker.ContainerInspectInfo | undefined, specHash: string): Promise<string | undefined> {
  const kept = await inspectIfExists(docker, previousName(name));
  if (kept) {
    const isReplacement = existing?.Config.Labels?.[SPEC_HASH_LABEL] === specHash;
    if (!existing || isReplacement) {
      if (existing) await docker.getContainer(existing.Id).remove({ force: true });
      return kept.Id;
    }
    await docker.getContainer(kept.Id).remove({ force: true });
  }
  if (!existing) return undefined;
  if (!existing.State.Running || existing.State.Restarting) {
    await docker.getContainer(existing.Id).remove({ force: true });
    return undefined;
  }
  await docker.getContainer(existing.Id).stop({ t: 10 }).catch((e: { statusCode?: number }) => {
    if (e.statusCode !== 304) throw e; // already stopped
  });
  await docker.getContainer(existing.Id).rename({ name: previousName(name) });
  return existing.Id;
}

async function inspectIfExists(docker: Docker, name: string): Promise<Docker.ContainerInspectInfo | undefined> {
  return docker.getContainer(name).inspect().catch((e: { statusCode?: number }) => {
    if (e.statusCode === 404) return undefined;
    throw e;
  });
}

/**
 * A replacement failed (its start, gate or the cluster's quorum): it is removed, and the container it replaced runs
 * again under its own name, the same container (same id, data and spec). Safe to repeat.
 */
export async function restorePrevious(req: PreviousRequest): Promise<StartResult> {
  const c = req.container;
  return withHostFailures(c.host, () =>
    withHost(sshTarget(req.host, req.ssh), async (session) => {
      const docker = session.docker();
      const kept = await inspectIfExists(docker, req.previous);
      if (!kept) throw ApplicationFailure.nonRetryable(`host ${c.host}: step restore ${c.name}: the replaced container (${req.previous.slice(0, 12)}) is gone; nothing to start again. Run again to create ${c.name}.`, 'PreviousGone');
      const current = await inspectIfExists(docker, c.name);
      if (current && current.Id !== kept.Id) await docker.getContainer(current.Id).remove({ force: true });
      if (kept.Name.replace(/^\//, '') !== c.name) await docker.getContainer(kept.Id).rename({ name: c.name });
      if (!kept.State.Running) await docker.getContainer(kept.Id).start();
      return { container: c.name, host: c.host, id: kept.Id, outcome: 'unchanged' as const };
    }).catch((e: unknown) => {
      throw dockerFailure(`host ${c.host}: step restore ${c.name}`, e);
    }),
  );
}

/** The replacement passed its gate (and its cluster has quorum again): the kept container goes. Safe to repeat. */
export async function discardPrevious(req: PreviousRequest): Promise<void> {
  const c = req.container;
  return withHostFailures(c.host, () =>
    withHost(sshTarget(req.host, req.ssh), async (session) => {
      await session.docker().getContainer(req.previous).remove({ force: true }).catch((e: { statusCode?: number }) => {
        if (e.statusCode !== 404) throw e;
      });
    }).catch((e: unknown) => {
      throw dockerFailure(`host ${c.host}: step discard ${previousName(c.name)}`, e);
    }),
  );
}

function resolveEnv(v: string | SecretRef): string {
  return typeof v === 'string' ? v : resolveSecret(v.secret);
}

async function pullImage(docker: Docker, imageRef: string, registry: RegistryRef): Promise<void> {
  const auth = { username: registry.username, password: resolveSecret(registry.password.secret), serveraddress: registry.address };
  let status = '';
  const stopHeartbeats = keepAlive(() => ({ pull: imageRef, status }));
  try {
    const stream = (await docker.pull(imageRef, { authconfig: auth })) as NodeJS.ReadableStream;
    await followStream(stream, (e) => (status = e.status ?? status));
  } finally {
    stopHeartbeats();
  }
}

/** Pulls what a host will run ahead of its stage (while earlier stages come up); an image already there is left. */
export async function pullImages(req: PullRequest): Promise<PullResult> {
  refuseSimulated('pullImages', req);
  return withHostFailures(req.host.name, () =>
    withHost(sshTarget(req.host, req.ssh), async (session) => {
      const docker = session.docker();
      const result: PullResult = { host: req.host.name, pulled: [], present: [] };
      // One listing answers for every image (refs are by digest), instead of one request per image.
      const present = new Set((await docker.listImages()).flatMap((i) => i.RepoDigests ?? []));
      for (const ref of req.imageRefs) {
        if (present.has(ref)) {
          result.present.push(ref);
          continue;
        }
        await pullImage(docker, ref, req.registry);
        result.pulled.push(ref);
      }
      return result;
    }).catch((e: unknown) => {
      throw dockerFailure(`host ${req.host.name}: step pull images`, e);
    }),
  );
}

/**
 * What makes a container what it is; a change recreates it. A secret it receives counts by a keyed digest of its value
 * (this installation's key, on the worker), never by the value: a rotated secret recreates exactly the containers
 * that receive it.
 */
export function containerSpecHash(c: PlannedContainer, imageRef: string, digestOf: (secret: string) => string = secretDigest): string {
  const secrets = Object.fromEntries(Object.entries(c.env).flatMap(([k, v]) => (typeof v === 'string' ? [] : [[k, digestOf(v.secret)]])));
  // The command and the secrets join the hash only when there are some, so containers planned before they counted
  // keep their hash.
  const spec = {
    imageRef, env: c.env, volumes: c.volumes, privileged: c.privileged, capAdd: c.capAdd, labels: c.labels,
    ...(c.command ? { command: c.command } : {}),
    ...(Object.keys(secrets).length ? { secretDigests: secrets } : {}),
  };
  return crypto.createHash('sha256').update(stableJson(spec)).digest('hex').slice(0, 24);
}

/** The spec hash, or a failure that is not retried when a secret the container receives is not set on the worker
 *  (or the key of the digests is unusable): the same on every attempt. */
function specHashOrFail(c: PlannedContainer, imageRef: string): string {
  try {
    return containerSpecHash(c, imageRef);
  } catch (e) {
    if (!(e instanceof SecretNotFound || e instanceof DigestKeyUnusable)) throw e;
    throw ApplicationFailure.nonRetryable(`host ${c.host}: step start ${c.name}: ${e.message}, then retry`, e.name);
  }
}

function dockerFailure(context: string, e: unknown): Error {
  if (e instanceof ApplicationFailure) return e;
  const message = maskSecrets(String((e as Error).message ?? e));
  const status = (e as { statusCode?: number }).statusCode;
  if (status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429) {
    return ApplicationFailure.nonRetryable(`${context}: the Docker engine refused: ${message}`, 'ContainerRejected');
  }
  // The runtime cannot create the container as specified (capabilities, devices, privileges): the same every time.
  if (/OCI runtime create failed/.test(message)) {
    return ApplicationFailure.nonRetryable(`${context}: the engine cannot run the container as specified: ${message}. Check the service's privileged and capAdd settings against what the host allows.`, 'ContainerRejected');
  }
  return ApplicationFailure.retryable(`${context}: ${message}`, 'ContainerError');
}

/**
 * Waits until the container answers its health check (a TCP port on its host's address, an HTTP GET, and/or a command
 * run inside it) while it runs steadily: the same process life from the gate's start to its pass (restart count and
 * start time unchanged), up for a moment at least. A port answered by another process while the container crash-loops
 * does not pass it. On timeout, or as soon as the container restarts, names the service, host and what went wrong,
 * with the container's last log lines.
 */
export async function checkHealth(req: HealthRequest): Promise<HealthResult> {
  refuseSimulated('checkHealth', req);
  const c = req.container;
  const started = Date.now();
  const health = c.health;
  if (!health || (!health.tcp && !health.http && !health.command)) return { container: c.name, host: c.host, answeredAfterMs: 0 };
  const deadline = started + health.timeoutSeconds * 1000;
  // The life the gate watches: the container's at the gate's start, or the first one it sees up when the container
  // was not up then (in a restart back-off when a retry began, say).
  let watched = await lifeOf(req).catch(() => undefined);
  let life = watched;
  let lastError = '';
  while (Date.now() < deadline) {
    const result = await probeHealth(c, req.host, req.ssh);
    const seen = await lifeOf(req).catch((e: Error) => e);
    if (seen instanceof Error) {
      // The engine cannot be asked (the host's link is down, say): no pass this round, as with a probe that fails.
      lastError = `the engine does not say how the container runs: ${seen.message}`;
    } else {
      if (restarted(watched, seen)) throw await crashLoopFailure(req, watched!, seen!, result === true);
      life = seen;
      if (!watched?.up) watched = life;
      const steady = result === true ? steadiness(life) : result;
      if (steady === true) return { container: c.name, host: c.host, answeredAfterMs: Date.now() - started };
      lastError = result === true ? `the check answers, but ${steady}` : result;
    }
    Context.current().heartbeat({ waiting: healthCheckText(c), lastError });
    await sleep(1000);
  }
  const [logs, dependencies] = await Promise.all([containerLogTail(req).catch((e: Error) => `(could not read logs: ${e.message})`), dependencyReport(c.dependencies ?? [], probeVia(sshTarget(req.host, req.ssh)))]);
  const state = life?.up ? '' : ` The container ${life ? `is ${life.status} (restart count ${life.restartCount})` : 'does not exist'}.`;
  throw ApplicationFailure.nonRetryable(
    `health gate: ${c.service} on host ${c.host} did not answer on ${healthCheckText(c)} within ${health.timeoutSeconds}s (${maskSecrets(lastError)}).${state}${dependencies}\n--- last log lines of ${c.name} ---\n${maskSecrets(logs)}`,
    'HealthGateTimeout',
  );
}

/** One life of a container's process, as its engine reports it. */
interface ContainerLife {
  id: string;
  /** Running and not in its restart policy's back-off (the engine counts that as running too). */
  up: boolean;
  status: string;
  restartCount: number;
  startedAt: string;
  /** How long this life has lasted, by the engine's own clock (no skew with the worker's). */
  upForMs: number;
}

/** A container must have been up this long in one life to pass: a crash loop's lives last milliseconds. */
const STEADY_MS = 1000;

async function lifeOf(req: HealthRequest): Promise<ContainerLife | undefined> {
  return withHost(sshTarget(req.host, req.ssh), async (s) => {
    const docker = s.docker();
    const info = await docker.getContainer(req.container.name).inspect().catch((e: { statusCode?: number }) => {
      if (e.statusCode === 404) return undefined;
      throw e;
    });
    if (!info) return undefined;
    const up = info.State.Running && !info.State.Restarting && info.State.Pid > 0;
    const engineNow = up ? Date.parse(((await docker.info()) as { SystemTime: string }).SystemTime) : NaN;
    return {
      id: info.Id, up, status: info.State.Restarting ? 'restarting' : info.State.Status, restartCount: info.RestartCount, startedAt: info.State.StartedAt,
      upForMs: up ? engineNow - Date.parse(info.State.StartedAt) : 0,
    };
  });
}

/** The container the gate watches has restarted (a life ended), or was replaced, since: it cannot pass any more. */
function restarted(watched: ContainerLife | undefined, now: ContainerLife | undefined): boolean {
  if (!watched || !now) return false;
  // The engine counts a restart when a life ends; a new start time alone, after a life that had ended, is not one.
  return now.id !== watched.id || now.restartCount !== watched.restartCount || (watched.up && now.startedAt !== watched.startedAt);
}

/** true when the container runs steadily, else what it does instead. */
function steadiness(life: ContainerLife | undefined): true | string {
  if (!life) return 'the container does not exist';
  if (!life.up) return `the container is ${life.status} (restart count ${life.restartCount}), so something else answers`;
  if (!(life.upForMs >= STEADY_MS)) return `the container has been up ${Math.max(0, life.upForMs)} ms only`;
  return true;
}

async function crashLoopFailure(req: HealthRequest, from: ContainerLife, now: ContainerLife, answered: boolean): Promise<ApplicationFailure> {
  const c = req.container;
  const logs = await containerLogTail(req).catch((e: Error) => `(could not read logs: ${e.message})`);
  const what = now.id !== from.id
    ? `was replaced during its health gate (by another run or by hand)`
    : `restarted during its health gate (restart count ${from.restartCount} when the gate began watching it, ${now.restartCount} now, ${now.status}): its process exits and the engine starts it again`;
  const port = answered ? ` Something else answers on ${healthCheckText(c)}: another process holds the port (\`contrail-deploy check\` names it; stop it or give the service another port).` : '';
  return ApplicationFailure.nonRetryable(
    `health gate: ${c.service} on host ${c.host}: container ${c.name} ${what}.${port} Fix the cause its log shows, then \`contrail-deploy retry <run-id>\`.\n--- last log lines of ${c.name} ---\n${maskSecrets(logs)}`,
    'ContainerCrashLoop',
  );
}

function healthUrl(c: PlannedContainer): string {
  return c.health?.http ? `http://${endpoint(c.hostAddress, c.health.http.port)}${c.health.http.path}` : '';
}

/** address:port, an IPv6 address in brackets. */
function endpoint(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** What a container's health check asks, for messages: "10.0.0.1:5672 and command "rabbitmq-diagnostics ping"". */
function healthCheckText(c: PlannedContainer): string {
  const h = c.health;
  return [h?.tcp ? endpoint(c.hostAddress, h.tcp) : '', healthUrl(c), h?.command ? `command "${h.command.join(' ')}"` : ''].filter(Boolean).join(' and ');
}

/**
 * One round of a container's health check: true, or what did not answer. Every configured check must pass: the port
 * from outside, and the service's own tool from inside (unless its engine already vouches for that one).
 */
async function probeHealth(c: PlannedContainer, host: HostRef, ssh: SshSettings, inside = true): Promise<true | string> {
  const health = c.health;
  const via = probeVia(sshTarget(host, ssh)); // a host behind a bastion is probed through it
  try {
    if (health?.tcp) {
      const tcp = await tcpProbe(c.hostAddress, health.tcp, 2000, via);
      if (tcp !== true) return `${endpoint(c.hostAddress, health.tcp)}: ${tcp}`;
    }
    if (health?.http) {
      const http = await httpProbe(healthUrl(c), 2000, via);
      if (http !== true) return `${healthUrl(c)}: ${http}`;
    }
    if (health?.command && inside) return await probeInside(c, host, ssh, health.command);
    return true;
  } catch (e) {
    return (e as Error).message;
  }
}

/**
 * What already runs on a host, in one pass: for each planned container, whether it runs from the plan's spec and
 * answers its health check (and quorum check) now. A run whose images did not change leaves such containers alone
 * without a start and gate step each; anything else goes through the usual reconcile and gate.
 */
export async function surveyHost(req: SurveyRequest): Promise<SurveyResult> {
  refuseSimulated('surveyHost', req);
  return withHostFailures(req.host.name, () =>
    withHost(sshTarget(req.host, req.ssh), async (session) => {
      const docker = session.docker();
      // The engine's clock, asked alongside: how long each container has been up, without skew from the worker's.
      const [listing, engineInfo] = await Promise.all([docker.listContainers({ all: true, filters: { label: [SPEC_HASH_LABEL] } }), docker.info() as Promise<{ SystemTime: string }>]);
      const ours = new Set(listing.flatMap((i) => i.Names.map((n) => n.replace(/^\//, ''))));
      const engineNow = Date.parse(engineInfo.SystemTime);
      // The listing names the image without its digest: each container's own record has it. A few at a time, over
      // kept-open Docker API channels.
      const slots = new Semaphore(4);
      const containers = await Promise.all(
        req.containers.map(async (c) => surveyOne(c, ours.has(c.name) ? await slots.run(() => docker.getContainer(c.name).inspect()) : undefined, engineNow, req)),
      );
      return { host: req.host.name, containers };
    }).catch((e: unknown) => {
      throw dockerFailure(`host ${req.host.name}: step survey containers`, e);
    }),
  );
}

async function surveyOne(c: PlannedContainer, info: Docker.ContainerInspectInfo | undefined, engineNow: number, req: SurveyRequest): Promise<SurveyedContainer> {
  if (!info?.State.Running || info.State.Restarting) return { container: c.name, imageRef: null, healthy: false, note: info ? (info.State.Restarting ? 'restarting' : info.State.Status) : 'absent' };
  // Up a moment at least: a crash-looping container runs for milliseconds at a time, while its port may be another's.
  // Its start and gate then watch it.
  if (!(engineNow - Date.parse(info.State.StartedAt) >= STEADY_MS)) return { container: c.name, imageRef: null, healthy: false, note: 'just started' };
  // The hash of this plan's spec with the image the container runs: equal to its label when nothing else changed.
  // Whether that image is the one the run wants is for the workflow to compare, once its digests are known.
  const imageRef = info.Config.Image;
  let specHash: string;
  try {
    specHash = containerSpecHash(c, imageRef);
  } catch (e) {
    // Its start step says so, and does not retry.
    if (e instanceof SecretNotFound || e instanceof DigestKeyUnusable) return { container: c.name, imageRef, healthy: false, note: e.message };
    throw e;
  }
  if (info.Config.Labels?.[SPEC_HASH_LABEL] !== specHash) return { container: c.name, imageRef, healthy: false, note: 'spec changed' };
  // The ports are asked from here as always; the commands inside only when the engine does not vouch for them.
  const vouched = engineVouches(c, info);
  const [health, quorum] = await Promise.all([
    probeHealth(c, req.host, req.ssh, !vouched),
    c.quorum?.command && !vouched ? probeInside(c, req.host, req.ssh, c.quorum.command) : undefined,
  ]);
  return {
    container: c.name, imageRef, healthy: health === true,
    ...(vouched ? { engineHealthy: true as const } : {}),
    ...(c.quorum ? { inQuorum: health === true && (quorum === undefined || quorum === true) } : {}),
    ...(health === true ? {} : { note: maskSecrets(health) }),
  };
}

/**
 * A clustered service's quorum gate: enough members (a majority of all, `need`) say from the inside that they are in a
 * cluster with quorum (e.g. a ZooKeeper member that is leader or follower). Asked again until the timeout: a cluster
 * forms some seconds after its members start.
 */
export async function checkQuorum(req: QuorumRequest): Promise<QuorumResult> {
  refuseSimulated('checkQuorum', req);
  const everyone = { service: req.service, inQuorum: req.healthy.map((m) => m.host.name) };
  if (!req.command) return everyone;
  const command = req.command;
  const deadline = Date.now() + req.timeoutSeconds * 1000;
  let answers: string[] = [];
  for (;;) {
    const results = await Promise.all(
      req.healthy.map((m) => probeInside(m.container, m.host, req.ssh, command)),
    );
    const inQuorum = req.healthy.filter((_, i) => results[i] === true).map((m) => m.host.name);
    if (inQuorum.length >= req.need && (req.include ?? []).every((h) => inQuorum.includes(h))) return { service: req.service, inQuorum };
    answers = req.healthy.map((m, i) => `${m.host.name}: ${results[i] === true ? 'in quorum' : maskSecrets(String(results[i]))}`);
    if (Date.now() > deadline) break;
    Context.current().heartbeat({ inQuorum });
    await sleep(2000);
  }
  throw ApplicationFailure.nonRetryable(
    `quorum gate: ${req.service} has no quorum within ${req.timeoutSeconds}s: ${req.need} of ${req.members} members must say so${req.include?.length ? `, ${req.include.join(' and ')} among them` : ''} ("${command.join(' ')}" inside each). ${answers.join('; ')}. Check the members' logs and their view of each other (seed and ensemble addresses).`,
    'QuorumNotReached',
  );
}

/** A command run inside a container on its host: true when it exits 0, else what it said or why it could not run. */
function probeInside(c: PlannedContainer, host: HostRef, ssh: SshSettings, command: string[]): Promise<true | string> {
  return withHost(sshTarget(host, ssh), (s) => execProbe(s.docker(), c.name, command)).catch((e: Error) => e.message);
}

/** Runs a command inside the container; true when it exits 0, else what it said. */
async function execProbe(docker: Docker, container: string, cmd: string[]): Promise<true | string> {
  const exec = await docker.getContainer(container).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve) => {
    stream.on('data', (d: Buffer) => chunks.push(d));
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.on('error', () => resolve());
  });
  const info = await exec.inspect();
  return info.ExitCode === 0 ? true : `exit ${info.ExitCode}: ${demuxLogs(Buffer.concat(chunks)).trim().slice(-200)}`;
}

/** After a gate timed out: which of the service's dependencies do not answer either (the likely cause), or that
 *  they all do (then the service itself is at fault). */
async function dependencyReport(deps: Dependency[], via: ProbeVia | undefined): Promise<string> {
  if (!deps.length) return '';
  // Asked as the gate's own probes are (from the service's host when probes go through SSH or a bastion).
  const answers = await Promise.all(deps.map(async (d) => ({ d, ok: (await tcpProbe(...splitEndpoint(d.endpoint), 2000, via)) === true })));
  const down = answers.filter((a) => !a.ok).map(({ d }) => `${d.service} on ${d.host} (${d.endpoint}, its ${d.variable})`);
  if (down.length) return `\nDependencies not answering: ${down.join('; ')}. Bring them up first (earlier stage, or check those hosts).`;
  return `\nIts dependencies answer (${[...new Set(deps.map((d) => d.service))].join(', ')}): look at the service itself.`;
}

function splitEndpoint(endpoint: string): [string, number] {
  const i = endpoint.lastIndexOf(':');
  return [endpoint.slice(0, i), Number(endpoint.slice(i + 1))];
}

async function containerLogTail(req: HealthRequest): Promise<string> {
  return withHost(sshTarget(req.host, req.ssh), async (s) => {
    const buf = (await s.docker().getContainer(req.container.name).logs({ stdout: true, stderr: true, tail: 20 })) as unknown as Buffer;
    return demuxLogs(buf);
  });
}
