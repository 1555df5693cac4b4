// Workers on several machines, against the lab's Temporal cluster (mutual TLS): two build workers, each beside its own
// Docker engine (the lab's build engine here, and the second build host's in namespace cdlab-build2), serve the one
// build queue; a deploy worker on the operations host (namespace cdlab-ops: SSH to the hosts and the frontend, nothing
// else) runs the pipeline and probes health through each host's SSH connection. The build-graph and resume scenarios
// run here once against the cluster, and one build worker is SIGKILLed mid-build.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { buildImage } from '../../activities/images';
import { PROJECT_ROOT } from '../../lib/paths';
import type { PlannedImage } from '../../model/plan';
import type { RunSummary, Step } from '../../model/steps';
import { scratchDir } from '../helpers/files';
import { activityAttempts } from '../helpers/history';
import { cli, cliInBackground, labStatus, labTopology, lastJsonLine, registryGet, secret, sshRun, uniqueSuffix, type LabStatus } from '../helpers/lab';
import { clusterClientEnv, ensureCluster } from '../helpers/temporal';
import { clusterHistories, ensureWorkerHosts, startClusterWorker, type ClusterWorker, type WorkerHostsStatus } from '../helpers/cluster-workers';

jest.setTimeout(20 * 60 * 1000);

const suffix = uniqueSuffix();
const queuePrefix = `cw-${suffix}`;
let lab: LabStatus;
let hosts: WorkerHostsStatus;
let clientEnv: Record<string, string>;
const workers: ClusterWorker[] = [];
let buildA: ClusterWorker; // beside the lab's build engine
let buildB: ClusterWorker; // beside the second build host's engine
let deploy: ClusterWorker;

/** Only the cluster's settings (none from the developer's shell), this file's task queues, and what a machine adds. */
function clusterEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('TEMPORAL_') || k === 'CONTRAIL_DOCKER_HOST' || k === 'DOCKER_HOST' || k === 'CONTRAIL_PROBES') delete env[k];
  return { ...env, ...clientEnv, CONTRAIL_TASK_QUEUE_PREFIX: queuePrefix, ...extra };
}

/** The settings of a worker on another lab machine: the frontend through the lab bridge (same TLS name and files). */
const remoteEnv = (extra: Record<string, string> = {}) => clusterEnv({ TEMPORAL_ADDRESS: hosts.frontendRelay.address, ...extra });

async function start(args: string[], env: NodeJS.ProcessEnv, netns?: string): Promise<ClusterWorker> {
  const w = await startClusterWorker(args, env, netns);
  workers.push(w);
  return w;
}
const startBuildA = () => start(['--queues', 'build', '--build-slots', '1'], clusterEnv({ CONTRAIL_DOCKER_HOST: lab.docker.host }));
const startBuildB = () => start(['--queues', 'build', '--build-slots', '1'], remoteEnv({ CONTRAIL_DOCKER_HOST: hosts.build2.dockerHost, CONTRAIL_BUILD_PROXY: hosts.build2.buildProxy }), hosts.build2.namespace);

const engines = () => ({ a: lab.docker.host, b: hosts.build2.dockerHost });
function engineHas(host: string, ref: string): boolean {
  return spawnSync('docker', ['-H', host, 'image', 'inspect', ref], { encoding: 'utf8' }).status === 0;
}

const auth = () => ({ user: lab.registry.username, password: secret(lab, lab.registry.passwordSecret) });
async function registryTags(name: string): Promise<string[]> {
  const r = await registryGet(lab, `/v2/${name}/tags/list`, auth());
  return r.status === 200 ? ((JSON.parse(r.body) as { tags: string[] | null }).tags ?? []).sort() : [];
}
/** How many manifests the registry stores for a repository (each push of a different image adds one). */
function manifestRevisions(name: string): number {
  const dir = path.join(lab.labDir, 'registry/data/docker/registry/v2/repositories', name, '_manifests/revisions/sha256');
  return fs.existsSync(dir) ? fs.readdirSync(dir).length : 0;
}

function attemptsOf(runId: string) {
  return activityAttempts(clusterHistories(runId, clientEnv.TEMPORAL_CLI, clusterEnv()));
}

type Summary = RunSummary & { releaseTag: { tag: string; moved: boolean } | null };

beforeAll(async () => {
  ensureCluster();
  lab = labStatus();
  hosts = ensureWorkerHosts();
  clientEnv = clusterClientEnv();
  buildA = await startBuildA();
  buildB = await startBuildB();
  deploy = await start(['--queues', 'deploy'], clusterEnv());
});

afterAll(async () => {
  for (const w of workers) await w.stop();
});

describe('the second build host and the operations host', () => {
  test('lab status reports them; the operations host reaches SSH and the frontend, and nothing else', () => {
    expect(hosts.build2.up).toBe(true);
    expect(hosts.ops.up).toBe(true);
    const reach = (address: string, port: number) =>
      spawnSync('nsenter', [`--net=/var/run/netns/${hosts.ops.namespace}`, 'timeout', '3', 'bash', '-c', `exec 3<>/dev/tcp/${address}/${port}`]).status === 0;
    const [relayAddress, relayPort] = hosts.frontendRelay.address.split(':');
    expect(reach(lab.hosts[0].address, 22)).toBe(true);
    expect(reach(relayAddress, Number(relayPort))).toBe(true);
    const [registryAddress, registryPort] = lab.registry.address.split(':');
    expect(reach(registryAddress, Number(registryPort))).toBe(false);
  });

  test('builds on the second build host reach package sources through the build proxy only, and the proxy stays out of the image', async () => {
    // A name that is no package source is refused by the proxy itself (before any lookup or connection).
    const viaProxy = (url: string) =>
      spawnSync('nsenter', [`--net=/var/run/netns/${hosts.build2.namespace}`, 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '20', '-x', hosts.build2.buildProxy, url], { encoding: 'utf8' }).stdout;
    expect(viaProxy('http://not-a-package-source.invalid/')).toBe('403');
    // A real build on build2's engine, as its build worker runs it: apt-get fetches a package through the proxy.
    const name = `proxied-${suffix}`;
    const image: PlannedImage = {
      name, contextDir: scratchDir({ Dockerfile: `ARG BASE_IMAGE\nFROM \${BASE_IMAGE}\nLABEL e2e.build=${name}\nRUN apt-get update -qq && cd /tmp && apt-get download -qq hello && ls /tmp/hello_*.deb\n` }),
      dockerfile: 'Dockerfile', parent: null, base: 'debian:bookworm-slim', level: 0, labels: {}, buildArgs: {}, repository: `${lab.registry.address}/${name}`,
    };
    const saved = { host: process.env.CONTRAIL_DOCKER_HOST, proxy: process.env.CONTRAIL_BUILD_PROXY };
    Object.assign(process.env, { CONTRAIL_DOCKER_HOST: hosts.build2.dockerHost, CONTRAIL_BUILD_PROXY: hosts.build2.buildProxy });
    try {
      const registry = { address: lab.registry.address, ca: lab.registry.ca, username: lab.registry.username, password: { secret: lab.registry.passwordSecret } };
      const built = (await new MockActivityEnvironment().run(buildImage, { runId: 'proxy-test', release: 't', image, parentRef: null, registry })) as Awaited<ReturnType<typeof buildImage>>;
      expect(built.skipped).toBe(false);
      expect(fs.readFileSync(built.logFile, 'utf8')).toMatch(/hello_[^ ]*\.deb/);
      const history = spawnSync('docker', ['-H', hosts.build2.dockerHost, 'history', '--no-trunc', built.tag], { encoding: 'utf8' }).stdout;
      expect(history).toContain('apt-get download');
      expect(history).not.toContain(hosts.build2.buildProxy.replace(/^http:\/\//, ''));
    } finally {
      for (const [k, v] of [['CONTRAIL_DOCKER_HOST', saved.host], ['CONTRAIL_BUILD_PROXY', saved.proxy]] as const) if (v === undefined) delete process.env[k]; else process.env[k] = v;
    }
  });

  test('the second engine has the lab base images, with the same image ids as the build engine', () => {
    for (const image of ['busybox:local', 'debian:bookworm-slim']) {
      const id = (host: string) => spawnSync('docker', ['-H', host, 'image', 'inspect', '-f', '{{.Id}}', image], { encoding: 'utf8' }).stdout.trim();
      expect(id(engines().b)).toBe(id(engines().a));
      expect(id(engines().a)).toMatch(/^sha256:/);
    }
  });
});

describe('a tree built by two build workers, each beside its own engine', () => {
  const names = { base: `cw${suffix}`, subs: [1, 2, 3, 4].map((i) => `cw${suffix}-s${i}`), grand: `cw${suffix}-s1-g` };
  const all = [names.base, ...names.subs, names.grand];
  let topology: string;
  let first: Summary;

  beforeAll(() => {
    const parentOf = (n: string) => (n === names.base ? null : n === names.grand ? names.subs[0] : names.base);
    const files: Record<string, string> = {
      'catalog.yaml': `images:\n${all.map((n) => `  - name: ${n}\n    ${parentOf(n) ? `parent: ${parentOf(n)}` : 'base: busybox:local'}\n    labels: { net.juniper.contrail: common }`).join('\n')}\n`,
    };
    // Each build takes a few seconds, so that two run at once (one on each worker: each has one slot).
    for (const n of all) files[`${n}/Dockerfile`] = `ARG BASE_IMAGE=${parentOf(n) ?? 'busybox:local'}\nFROM \${BASE_IMAGE}\nRUN echo ${n} > /${n.replace(/-/g, '_')}; sleep 4\n`;
    const dir = scratchDir(files);
    topology = path.join(dir, 'cw.yaml');
    fs.writeFileSync(topology, labTopology(lab, { name: `cw${suffix}`, release: `cw-${suffix}`, catalog: path.join(dir, 'catalog.yaml'), services: `  - { name: cw-${suffix}, image: ${names.grand}, stage: common, roles: [controller] }` }));
  });

  test('every image is built once, the builds spread over both engines, each sub after its own parent was pushed', async () => {
    const r = await cli(['build', topology, '--json', '--builds', '2'], clusterEnv());
    if (r.code !== 0) throw new Error(`build failed (${r.code}):\n${r.stdout}\n${r.stderr}\n${buildA.output()}\n${buildB.output()}`);
    first = lastJsonLine<Summary>(r.stdout);
    expect(first).toMatchObject({ status: 'completed', images: { built: 6, skipped: 0, failed: 0, blocked: 0 }, releaseTag: { tag: `cw-${suffix}`, moved: true } });
    // Built once: one attempt of buildImage per image.
    const builds = attemptsOf(first.runId).filter((a) => a.type === 'buildImage');
    expect(builds.map((a) => (a.input as { image: { name: string } }).image.name).sort()).toEqual([...all].sort());
    expect(builds.every((a) => a.attempt === 1)).toBe(true);
    // Where each was built: the engine that holds its input-hash tag; exactly one of the two.
    const builtOn: Record<string, 'a' | 'b'> = {};
    for (const n of all) {
      const tag = `${lab.registry.address}/${n}:${(await registryTags(n)).find((t) => t.startsWith('input-'))}`;
      const on = (['a', 'b'] as const).filter((e) => engineHas(engines()[e], tag));
      expect({ image: n, engines: on }).toEqual({ image: n, engines: [expect.stringMatching(/^[ab]$/)] });
      builtOn[n] = on[0];
    }
    expect(new Set(Object.values(builtOn))).toEqual(new Set(['a', 'b']));
    // A sub built on the other engine than its parent got the parent from the registry, by the digest this run pushed.
    const crossed = names.subs.filter((s) => builtOn[s] !== builtOn[names.base]);
    expect(crossed.length).toBeGreaterThan(0);
    for (const s of crossed) expect(engineHas(engines()[builtOn[s]], first.digests[names.base])).toBe(true);
    const steps = lastJsonLine<{ steps: Step[] }>((await cli(['status', first.runId, '--json'], clusterEnv())).stdout).steps;
    const pushedAt = (n: string) => Date.parse(steps.find((s) => s.id === `push:${n}`)!.endTime!);
    for (const n of [...names.subs, names.grand]) {
      const parent = n === names.grand ? names.subs[0] : names.base;
      expect(Date.parse(steps.find((s) => s.id === `build:${n}`)!.startTime!)).toBeGreaterThanOrEqual(pushedAt(parent));
    }
  });

  test('the registry holds each image once, under its input hash and the release tag, at the digest the summary names', async () => {
    for (const n of all) {
      const tags = await registryTags(n);
      expect(tags).toEqual([`cw-${suffix}`, expect.stringMatching(/^input-[0-9a-f]{32}$/)]);
      expect(manifestRevisions(n)).toBe(1);
      const r = await registryGet(lab, `/v2/${n}/manifests/cw-${suffix}`, auth(), 'application/vnd.docker.distribution.manifest.v2+json');
      expect(`${lab.registry.address}/${n}@${String(r.headers['docker-content-digest'])}`).toBe(first.digests[n]);
    }
  });

  test('the input-hash skip works whichever engine is asked: with only the second build worker, nothing is built', async () => {
    await buildA.stop();
    try {
      // The images the second engine holds (by id: publishRelease may add the release tag to images it has, as the
      // guide's `docker images` on the build host shows them, which is not a build).
      const imageIds = () => [...new Set(spawnSync('docker', ['-H', engines().b, 'images', '-q', '--no-trunc'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean))].sort();
      const before = imageIds();
      const r = await cli(['build', topology, '--json'], clusterEnv());
      const again = lastJsonLine<Summary>(r.stdout);
      expect(again).toMatchObject({ status: 'completed', images: { built: 0, skipped: 6 } });
      expect(again.digests).toEqual(first.digests);
      expect(imageIds()).toEqual(before);
      // The lookup ran on the second build worker (the only one polling), and nothing was built.
      const histories = clusterHistories(again.runId, clientEnv.TEMPORAL_CLI, clusterEnv());
      expect(activityAttempts(histories).map((a) => a.type)).toEqual(['lookupImages', 'publishRelease']);
      const identities = histories.flatMap((h) => h.events).map((e) => e.activityTaskStartedEventAttributes?.identity).filter(Boolean);
      expect(identities.every((i) => i!.startsWith(`${buildB.pid}@`))).toBe(true);
    } finally {
      buildA = await startBuildA();
    }
  });
});

describe('SIGKILL of one build worker mid-build', () => {
  const image = `cwk${suffix}`;
  let topology: string;

  beforeAll(() => {
    const dir = scratchDir({
      'catalog.yaml': `images:\n  - name: ${image}\n    base: busybox:local\n    labels: { net.juniper.contrail: common }\n`,
      [`${image}/Dockerfile`]: `ARG BASE_IMAGE=busybox:local\nFROM \${BASE_IMAGE}\nRUN echo ${suffix} > /id; for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo tick $i; sleep 1; done\n`,
    });
    topology = path.join(dir, 'cwk.yaml');
    fs.writeFileSync(topology, labTopology(lab, { name: `cwk${suffix}`, release: `cwk-${suffix}`, catalog: path.join(dir, 'catalog.yaml'), services: `  - { name: cwk-${suffix}, image: ${image}, stage: common, roles: [controller] }` }));
  });

  test('the other build worker takes the build after the heartbeat timeout; the run completes; the image is in the registry once', async () => {
    const run = cliInBackground(['build', topology, '--json'], clusterEnv());
    const runId = await run.runId;
    const log = path.join(PROJECT_ROOT, '.lab/build-logs', runId, `${image}.log`);
    const deadline = Date.now() + 120000;
    while (!(fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('tick 3'))) {
      if (Date.now() > deadline) throw new Error(`the build of ${image} did not start:\n${buildA.output()}\n${buildB.output()}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    // Which worker runs it: the pending activity's worker identity (pid@host).
    const described = spawnSync(clientEnv.TEMPORAL_CLI, ['workflow', 'describe', '-w', `${runId}/images`, '-o', 'json'], { encoding: 'utf8', env: clusterEnv() });
    const pending = (JSON.parse(described.stdout) as { pendingActivities?: { activityType: { name: string }; lastWorkerIdentity: string }[] }).pendingActivities ?? [];
    const identity = pending.find((p) => p.activityType.name === 'buildImage')!.lastWorkerIdentity;
    const [victim, survivor] = identity.startsWith(`${buildA.pid}@`) ? [buildA, buildB] : [buildB, buildA];
    expect(identity.startsWith(`${victim.pid}@`)).toBe(true);
    victim.child.kill('SIGKILL');
    const result = await run.result;
    expect(result.code).toBe(0);
    const summary = lastJsonLine<Summary>(result.stdout);
    expect(summary).toMatchObject({ status: 'completed', images: { built: 1, failed: 0 } });
    // The build the dead worker never finished timed out (no heartbeat); the survivor's attempt built it.
    const histories = clusterHistories(runId, clientEnv.TEMPORAL_CLI, clusterEnv());
    const builds = activityAttempts(histories).filter((a) => a.type === 'buildImage');
    expect(builds.map((a) => a.attempt)).toEqual([2]);
    expect(builds[0].lastFailure).toMatch(/heartbeat/i);
    const startedBy = histories.flatMap((h) => h.events).map((e) => e.activityTaskStartedEventAttributes).filter((a) => a?.attempt === 2).map((a) => a!.identity);
    expect(startedBy).toEqual([expect.stringMatching(new RegExp(`^${survivor.pid}@`))]);
    // In the registry once: one manifest, under its input hash and the release tag.
    expect(await registryTags(image)).toEqual([`cwk-${suffix}`, expect.stringMatching(/^input-/)]);
    expect(manifestRevisions(image)).toBe(1);
    if (victim === buildA) buildA = await startBuildA();
    else buildB = await startBuildB();
  });
});

describe('the deploy worker on the operations host (SSH and the frontend only), with a resume', () => {
  const front = `cw-front-${suffix}`;
  const back = `cw-back-${suffix}`;
  const dataDir = `/dockervolumes/cw-${suffix}`;
  const ports = [25000 + Math.floor(Math.random() * 8000), 33000 + Math.floor(Math.random() * 8000)];
  let topology: string;
  let failed: Summary;

  beforeAll(async () => {
    // Only the operations host's deploy worker polls this file's deploy queue from now on.
    await deploy.stop();
    deploy = await start(['--queues', 'deploy', '--probes', 'ssh'], remoteEnv(), hosts.ops.namespace);
    topology = path.join(scratchDir({}), 'cwd.yaml');
    // front answers on a port and a URL; back's gate also asks for a file that only an operator's fix creates.
    fs.writeFileSync(topology, labTopology(lab, {
      name: `cwd${suffix}`, release: `cwd-${suffix}`, catalog: path.join(PROJECT_ROOT, 'images/smoke.yaml'),
      services: `  - { name: ${front}, image: smoke-web, stage: common, roles: [controller], env: { LISTEN_PORT: "${ports[0]}" }, health: { tcp: ${ports[0]}, http: { port: ${ports[0]}, path: /smoke.conf }, timeoutSeconds: 60 } }
  - { name: ${back}, image: smoke-web, stage: database, roles: [controller], env: { LISTEN_PORT: "${ports[1]}" }, volumes: ["${dataDir}:/data"], health: { tcp: ${ports[1]}, command: [test, -f, /data/ready], timeoutSeconds: 5 } }`,
    }));
  });
  afterAll(() => {
    sshRun(lab, 'controller1', `docker rm -f ${front} ${back} >/dev/null 2>&1; rm -rf ${dataDir}`);
  });

  test('a run parks at the gate that cannot pass; the ones that can passed through SSH (the ports are closed to the operations host)', async () => {
    const parked = await cli(['run', topology, '--json'], clusterEnv());
    if (parked.code !== 3) throw new Error(`expected the run to park (${parked.code}):\n${parked.stdout}\n${parked.stderr}\n${deploy.output()}`);
    const aborted = await cli(['abort', lastJsonLine<Summary>(parked.stdout).runId, '--json'], clusterEnv());
    failed = lastJsonLine<Summary>(aborted.stdout);
    expect(failed).toMatchObject({ status: 'failed', failedStep: { id: `health:${back}@controller1` }, containers: { created: 2 } });
    expect(failed.failedStep!.message).toContain('/data/ready');
    const steps = lastJsonLine<{ steps: Step[] }>((await cli(['status', failed.runId, '--json'], clusterEnv())).stdout).steps;
    expect(steps.find((s) => s.id === `health:${front}@controller1`)?.status).toBe('completed');
    // From the operations host, front's port cannot be reached directly: its gate passed through the host's SSH.
    const direct = spawnSync('nsenter', [`--net=/var/run/netns/${hosts.ops.namespace}`, 'timeout', '3', 'bash', '-c', `exec 3<>/dev/tcp/${lab.hosts[0].address}/${ports[0]}`]);
    expect(direct.status).not.toBe(0);
    expect(spawnSync('bash', ['-c', `exec 3<>/dev/tcp/${lab.hosts[0].address}/${ports[0]}`]).status).toBe(0);
  });

  test('after the fix on the host, resume completes a linked run and redoes nothing finished', async () => {
    sshRun(lab, 'controller1', `touch ${dataDir}/ready`);
    const r = await cli(['resume', failed.runId, '--json'], clusterEnv());
    if (r.code !== 0) throw new Error(`resume failed (${r.code}):\n${r.stdout}\n${r.stderr}\n${deploy.output()}`);
    const resumed = lastJsonLine<Summary>(r.stdout);
    expect(resumed).toMatchObject({ status: 'completed', resumedFrom: failed.runId, images: { built: 0, skipped: 2 }, containers: { created: 0, recreated: 0, unchanged: 2 } });
    const attempts = attemptsOf(resumed.runId).map((a) => a.type);
    expect(attempts).not.toContain('buildImage');
    expect(attempts).not.toContain('startContainer');
    // Visibility (PostgreSQL here) follows the run's close within moments: asked a few times.
    const want = [[resumed.runId, 'completed'], [failed.runId, 'failed']];
    let listed: string[][] = [];
    for (let i = 0; i < 20 && JSON.stringify(listed) !== JSON.stringify(want); i++) {
      if (i) await new Promise((done) => setTimeout(done, 500));
      listed = lastJsonLine<{ runId: string; status: string }[]>((await cli(['history', '--release', `cwd-${suffix}`, '--json'], clusterEnv())).stdout).map((h) => [h.runId, h.status]);
    }
    expect(listed).toEqual(want);
    // The deploy worker stayed up on the operations host throughout.
    expect(deploy.child.exitCode).toBeNull();
  });
});
