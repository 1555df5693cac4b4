// Durable rollouts on the real lab: a host's link drops mid-bring-up (the branch parks, the link returns, retry
// completes the run), and a worker killed with SIGKILL in the middle of a build (a new worker finishes the run, the
// image is built once).
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { PROJECT_ROOT } from '../../lib/paths';
import type { RunSummary, Step } from '../../model/steps';
import { scratchDir } from '../helpers/files';
import { activityAttempts, runHistories } from '../helpers/history';
import { cli, cliInBackground, labStatus, labTopology, lastJsonLine, sshRun, startWorker, uniqueSuffix, type CliResult, type LabStatus, type WorkerProcess } from '../helpers/lab';

jest.setTimeout(400000);

const suffix = uniqueSuffix();
const LAB = path.join(PROJECT_ROOT, 'lab/lab.sh');
let lab: LabStatus;

type Summary = RunSummary & { parked: { id: string; host?: string; error: string }[] };

async function statusOf(runId: string, env: NodeJS.ProcessEnv): Promise<Summary & { steps: Step[] }> {
  return lastJsonLine((await cli(['status', runId, '--json'], env)).stdout);
}
async function until<T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 240000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await get();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v).slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

beforeAll(() => {
  lab = labStatus();
});
afterAll(() => {
  spawnSync('bash', [LAB, 'fault', 'link', 'controller1', 'up']);
});

describe('a host link that drops mid-bring-up', () => {
  const env = { CONTRAIL_TASK_QUEUE_PREFIX: `dl-${suffix}` };
  const first = `dl-first-${suffix}`;
  const second = `dl-second-${suffix}`;
  const ports = [22000 + Math.floor(Math.random() * 9000), 32000 + Math.floor(Math.random() * 9000)];
  let worker: WorkerProcess;
  let topology: string;

  beforeAll(async () => {
    const dir = scratchDir({});
    topology = path.join(dir, 'dl.yaml');
    fs.writeFileSync(topology, labTopology(lab, {
      name: `dl${suffix}`, release: `dl-${suffix}`, catalog: path.join(PROJECT_ROOT, 'images/smoke.yaml'),
      hosts: `  - { name: controller1, address: ${lab.hosts[0].address}, roles: [controller] }\n  - { name: compute1, address: ${lab.hosts[1].address}, roles: [compute] }`,
      roles: '  controller: {}\n  compute: {}',
      // The first stage runs on a compute host and takes 20 s to answer (time for the test to see it start even on a
      // busy machine): the controller's link drops meanwhile, so the controller's preparation (in its first stage, the
      // second) is the step that meets the dead link.
      services: `  - { name: ${first}, image: smoke-web, stage: common, roles: [compute], env: { LISTEN_PORT: "${ports[0]}", START_DELAY: "20" }, health: { tcp: ${ports[0]}, timeoutSeconds: 60 } }
  - { name: ${second}, image: smoke-web, stage: database, roles: [controller], env: { LISTEN_PORT: "${ports[1]}" }, health: { tcp: ${ports[1]}, timeoutSeconds: 30 } }`,
    }));
    worker = await startWorker(env);
  });
  afterAll(async () => {
    await worker?.stop();
    for (const host of ['controller1', 'compute1']) sshRun(lab, host, `docker rm -f ${first} ${second} >/dev/null 2>&1`);
  });

  test('retries, then the branch parks naming host and step; the link returns; retry completes the run', async () => {
    const run = cliInBackground(['run', topology, '--json'], env);
    const runId = await run.runId;
    // The first stage is starting on the compute host: now the controller's link drops, before the second stage
    // reaches it.
    const done = (s: Summary & { steps: Step[] }, id: string) => s.steps.some((x) => x.id === id && x.status === 'completed');
    await until('the first stage starting', () => statusOf(runId, env), (s) => ['prepare:compute1', `start:${first}@compute1`].every((id) => done(s, id)));
    expect(spawnSync('bash', [LAB, 'fault', 'link', 'controller1', 'down']).status).toBe(0);
    let parked: CliResult;
    try {
      parked = await run.result;
    } finally {
      // Whatever happens, the link comes back: the other tests use this host.
      spawnSync('bash', [LAB, 'fault', 'link', 'controller1', 'up']);
    }
    // (The whole output in the message when it did not park: what ran instead.)
    expect({ code: parked.code, stdout: parked.stdout }).toMatchObject({ code: 3 });
    const summary = lastJsonLine<Summary>(parked.stdout);
    expect(summary.status).toBe('parked');
    expect(summary.parked).toEqual([expect.objectContaining({ id: 'prepare:controller1', host: 'controller1' })]);
    expect(summary.parked[0].error).toMatch(/controller1/);
    // Temporal's visibility says so too (the RunStatus search attribute), and status shows the park reason.
    expect((await statusOf(runId, env)).status).toBe('parked');
    const text = await cli(['status', runId], env);
    expect(text.stdout).toContain(`PARKED prepare:controller1 on controller1`);
    const retried = await cli(['retry', runId, '--json'], env);
    expect(retried.code).toBe(0);
    const finished = lastJsonLine<Summary>(retried.stdout);
    expect(finished).toMatchObject({ status: 'completed', containers: { created: 2 } });
    expect(finished.decisions).toEqual([expect.objectContaining({ action: 'retry', step: 'prepare:controller1' })]);
    expect(sshRun(lab, 'controller1', `docker inspect -f '{{.State.Running}}' ${second}`).stdout.trim()).toBe('true');
  });
});

describe('a worker killed in the middle of a build', () => {
  const env = { CONTRAIL_TASK_QUEUE_PREFIX: `kw-${suffix}` };
  const image = `kw${suffix}`;
  let topology: string;
  let workers: WorkerProcess[] = [];

  beforeAll(() => {
    const dir = scratchDir({
      'catalog.yaml': `images:\n  - name: ${image}\n    base: busybox:local\n    labels: { net.juniper.contrail: common }\n`,
      // Long enough to be killed in the middle; prints as it goes, so the log shows how far each attempt got.
      [`${image}/Dockerfile`]: `ARG BASE_IMAGE=busybox:local\nFROM \${BASE_IMAGE}\nRUN echo ${suffix} > /id; for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo tick $i; sleep 1; done\nCMD ["sleep", "3600"]\n`,
    });
    topology = path.join(dir, 'kw.yaml');
    fs.writeFileSync(topology, labTopology(lab, {
      name: `kw${suffix}`, release: `kw-${suffix}`, catalog: path.join(dir, 'catalog.yaml'),
      services: `  - { name: kw-${suffix}, image: ${image}, stage: common, roles: [controller] }`,
    }));
  });
  afterAll(async () => {
    for (const w of workers) await w.stop();
    sshRun(lab, 'controller1', `docker rm -f kw-${suffix} >/dev/null 2>&1`);
  });

  test('a new worker finishes the run; the image is built to the end once and the container started once', async () => {
    workers = [await startWorker(env)];
    const run = cliInBackground(['run', topology, '--json'], env);
    const runId = await run.runId;
    const log = path.join(PROJECT_ROOT, '.lab/build-logs', runId, `${image}.log`);
    await until('the build to be under way', async () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : ''), (t) => t.includes('tick 3'));
    workers[0].child.kill('SIGKILL');
    workers.push(await startWorker(env));
    const result = await run.result;
    expect(result.code).toBe(0);
    const summary = lastJsonLine<Summary>(result.stdout);
    expect(summary).toMatchObject({ status: 'completed', images: { built: 1, failed: 0 }, containers: { created: 1 } });
    // One image in the engine for this input, one container on the host (started once: it never restarted).
    const images = spawnSync('docker', ['-H', lab.docker.host, 'images', '-q', `${lab.registry.address}/${image}`], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean);
    expect(new Set(images).size).toBe(1);
    expect(sshRun(lab, 'controller1', `docker inspect -f '{{.RestartCount}} {{.State.Running}}' kw-${suffix}`).stdout.trim()).toBe('0 true');
    // The history shows the build that the dead worker never finished (timed out: no heartbeat), then the one that
    // did, in the image tree's part; no other build of it.
    // (Temporal records the attempt that ended, with the failure of the one before.)
    const builds = activityAttempts(runHistories(runId)).filter((a) => a.type === 'buildImage');
    expect(builds.map((a) => [a.workflowId, a.attempt])).toEqual([[`${runId}/images`, 2]]);
    expect(builds[0].lastFailure).toMatch(/heartbeat/i);
  });
});

/** A smoke-web service that takes `delay` seconds to open its port, with a data directory recording each start. */
function slowService(name: string, port: number, delay: number, dataDir: string): string {
  return `  - { name: ${name}, image: smoke-web, stage: common, roles: [controller], env: { LISTEN_PORT: "${port}", START_DELAY: "${delay}" }, volumes: ["${dataDir}:/data"], health: { tcp: ${port}, timeoutSeconds: 120 } }`;
}

describe('a worker killed in the middle of a bring-up', () => {
  const env = { CONTRAIL_TASK_QUEUE_PREFIX: `kb-${suffix}` };
  const name = `kb-${suffix}`;
  const dataDir = `/dockervolumes/kb-${suffix}`;
  let topology: string;
  let workers: WorkerProcess[] = [];

  beforeAll(() => {
    topology = path.join(scratchDir({}), 'kb.yaml');
    fs.writeFileSync(topology, labTopology(lab, {
      name: `kb${suffix}`, release: `kb-${suffix}`, catalog: path.join(PROJECT_ROOT, 'images/smoke.yaml'),
      services: slowService(name, 24000 + Math.floor(Math.random() * 8000), 25, dataDir),
    }));
  });
  afterAll(async () => {
    for (const w of workers) await w.stop();
    sshRun(lab, 'controller1', `docker rm -f ${name} >/dev/null 2>&1; rm -rf ${dataDir}`);
  });

  test('a new worker finishes the run; the container is started once and its gate answered', async () => {
    workers = [await startWorker(env)];
    const run = cliInBackground(['run', topology, '--json'], env);
    const runId = await run.runId;
    // The container is up and the gate waits for its port: the worker dies now.
    await until('the health gate', () => statusOf(runId, env), (s) => s.steps.some((x) => x.id === `health:${name}@controller1` && x.status === 'running'));
    const containerId = sshRun(lab, 'controller1', `docker inspect -f '{{.Id}}' ${name}`).stdout.trim();
    expect(containerId).toMatch(/^[0-9a-f]{64}$/);
    workers[0].child.kill('SIGKILL');
    workers.push(await startWorker(env));
    const result = await run.result;
    expect(result.code).toBe(0);
    expect(lastJsonLine<Summary>(result.stdout)).toMatchObject({ status: 'completed', containers: { created: 1, recreated: 0 } });
    // The same container, never restarted; its entrypoint ran once (it appends to /data/starts at each start).
    expect(sshRun(lab, 'controller1', `docker inspect -f '{{.Id}} {{.RestartCount}} {{.State.Running}}' ${name}`).stdout.trim()).toBe(`${containerId} 0 true`);
    expect(sshRun(lab, 'controller1', `wc -l < ${dataDir}/starts`).stdout.trim()).toBe('1');
    // One start; the gate's first attempt died with the worker (no heartbeat) and the second answered.
    const attempts = activityAttempts(runHistories(runId));
    expect(attempts.filter((a) => a.type === 'startContainer').map((a) => a.attempt)).toEqual([1]);
    const gates = attempts.filter((a) => a.type === 'checkHealth');
    expect(gates.map((a) => a.attempt)).toEqual([2]);
    expect(gates[0].lastFailure).toMatch(/heartbeat/i);
  });
});

describe('the Temporal dev server restarted mid-run', () => {
  const env = { CONTRAIL_TASK_QUEUE_PREFIX: `ts-${suffix}` };
  const name = `ts-${suffix}`;
  const dataDir = `/dockervolumes/ts-${suffix}`;
  let topology: string;
  let worker: WorkerProcess;

  beforeAll(async () => {
    topology = path.join(scratchDir({}), 'ts.yaml');
    fs.writeFileSync(topology, labTopology(lab, {
      name: `ts${suffix}`, release: `ts-${suffix}`, catalog: path.join(PROJECT_ROOT, 'images/smoke.yaml'),
      services: slowService(name, 24000 + Math.floor(Math.random() * 8000), 20, dataDir),
    }));
    worker = await startWorker(env);
  });
  afterAll(async () => {
    spawnSync('bash', [LAB, 'fault', 'temporal', 'up']);
    await worker?.stop();
    sshRun(lab, 'controller1', `docker rm -f ${name} >/dev/null 2>&1; rm -rf ${dataDir}`);
  });

  test('same SQLite file: the run, its worker and the following CLI carry on, and the run completes', async () => {
    const run = cliInBackground(['run', topology, '--json'], env);
    const runId = await run.runId;
    await until('the health gate', () => statusOf(runId, env), (s) => s.steps.some((x) => x.id === `health:${name}@controller1` && x.status === 'running'));
    expect(spawnSync('bash', [LAB, 'fault', 'temporal', 'down']).status).toBe(0);
    await new Promise((r) => setTimeout(r, 5000));
    expect(spawnSync('bash', [LAB, 'fault', 'temporal', 'up']).status).toBe(0);
    const result = await run.result;
    expect(result.code).toBe(0);
    expect(lastJsonLine<Summary>(result.stdout)).toMatchObject({ status: 'completed', containers: { created: 1 } });
    expect(sshRun(lab, 'controller1', `wc -l < ${dataDir}/starts`).stdout.trim()).toBe('1');
    // The worker lived through it.
    expect(worker.child.exitCode).toBeNull();
  });
});
