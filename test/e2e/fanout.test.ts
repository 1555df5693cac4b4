// Fan-out on twelve lab hosts (one controller, eleven compute hosts): topology/fanout.yaml through the CLI, with
// `concurrency.hosts: 4`, a compute canary and 25% batches. Read back from the step times `status` reports and from
// the creation time each host's own Docker engine records: never more than 4 hosts in flight, each batch after the one
// before, and compute7 (a kernel module this kernel lacks) parked while the rest of its batch comes up; then an abort
// fails the run at compute7 and the batches after its own never start.
// The lab goes back to the number of hosts it had before (3 in CI): other e2e tests expect exactly the default three.
import * as path from 'path';
import { PROJECT_ROOT } from '../../lib/paths';
import type { RunSummary, Step } from '../../model/steps';
import { hostContainer, maxOverlap, ms, runSteps, type HostContainer, type Interval } from '../helpers/fanout';
import { cli, labStatus, lastJsonLine, sshRun, startWorker, uniqueSuffix, type LabStatus, type WorkerProcess } from '../helpers/lab';

jest.setTimeout(10 * 60 * 1000);

const TOPOLOGY = path.join(PROJECT_ROOT, 'topology', 'fanout.yaml');
const LIMIT = 4; // concurrency.hosts in topology/fanout.yaml
const PORT = 8120; // the compute service's port there
const CONTROLLER = 'controller1';
const BROKEN = 'compute7';
const COMPUTE = Array.from({ length: 11 }, (_, i) => `compute${i + 1}`);
// A canary, then ceil(11 x 25%) = 3 hosts at a time.
const BATCHES = [['compute1'], ['compute2', 'compute3', 'compute4'], ['compute5', 'compute6', 'compute7'], ['compute8', 'compute9', 'compute10'], ['compute11']];
const service = (host: string) => (host === CONTROLLER ? 'fanout-ctl' : 'fanout-web');
const healthId = (host: string) => `health:${service(host)}@${host}`;
const startId = (host: string) => `start:${service(host)}@${host}`;
// What the run may leave on the hosts that outlive this test (the other nine go when the lab shrinks back).
const KEPT: Record<string, string[]> = { controller1: ['/dockervolumes/fanout'], compute1: ['/var/lib/nova/instances'], compute2: ['/var/lib/nova/instances'] };

const suffix = uniqueSuffix();
const env = { CONTRAIL_TASK_QUEUE_PREFIX: `fanout-${suffix}` };
let hostsBefore = 0;
let lab: LabStatus;
let worker: WorkerProcess | undefined;
let runId: string | undefined;
const absentBefore = new Map<string, string[]>();
const imagesBefore = new Map<string, Set<string>>();

type Summary = RunSummary & { parked?: { id: string; host?: string; error: string }[]; decisions?: { action: string; step: string; at: string }[] };

beforeAll(async () => {
  hostsBefore = labStatus().hosts.length;
  const up = await cli(['lab', 'up', '--hosts', '12']);
  if (up.code !== 0) throw new Error(`lab up --hosts 12 failed (${up.code}):\n${up.stdout}${up.stderr}`);
  lab = labStatus();
  for (const [host, paths] of Object.entries(KEPT)) {
    absentBefore.set(host, sshRun(lab, host, paths.map((p) => `test -e ${p} || echo ${p}`).join('; ')).stdout.split('\n').filter(Boolean));
    imagesBefore.set(host, new Set(sshRun(lab, host, 'docker image ls -q --no-trunc').stdout.split('\n').filter(Boolean)));
  }
  // Nothing left from an earlier run: the run's survey would find it running and create nothing.
  const down = await cli(['down', TOPOLOGY, '--json'], env);
  if (down.code !== 0) throw new Error(`down before the run failed (${down.code}):\n${down.stdout}${down.stderr}`);
  worker = await startWorker(env);
});

afterAll(async () => {
  // A run left parked by a failed assertion: fail it now, while its worker still serves it.
  if (runId && ['parked', 'running'].includes((await runSteps(runId, env).catch(() => undefined))?.status ?? '')) await cli(['abort', runId], env);
  await worker?.stop();
  if (!lab) return;
  await cli(['down', TOPOLOGY, '--purge-data', '--json'], env);
  for (const [host, paths] of absentBefore) if (paths.length) sshRun(lab, host, `rm -rf ${paths.join(' ')}`);
  for (const [host, before] of imagesBefore) {
    const added = sshRun(lab, host, 'docker image ls -q --no-trunc').stdout.split('\n').filter((id) => id && !before.has(id));
    if (added.length) sshRun(lab, host, `docker rmi ${[...new Set(added)].join(' ')} >/dev/null`);
  }
  if (hostsBefore && hostsBefore !== 12) await cli(['lab', 'up', '--hosts', String(hostsBefore)]);
});

test('lab up --hosts 12: a controller and eleven compute hosts, each with its own sshd, Docker engine and host name', () => {
  expect(lab.hosts.map((h) => [h.name, h.address, h.roles])).toEqual([CONTROLLER, ...COMPUTE].map((name, i) => [name, `10.213.57.${11 + i}`, [i ? 'compute' : 'controller']]));
  const engines = lab.hosts.map((h) => {
    const r = sshRun(lab, h.name, "echo $(hostname) $(docker info -f '{{.DockerRootDir}}')");
    expect(r.code).toBe(0);
    const [name, engine] = r.stdout.trim().split(' ');
    expect(name).toBe(h.name);
    return engine;
  });
  expect(new Set(engines).size).toBe(12);
});

let parkedSteps: Map<string, Step>;
let parkedAt: Map<string, HostContainer | undefined>;

test('the run parks on compute7, naming the missing module, while the other hosts of its batch come up', async () => {
  const run = await cli(['run', TOPOLOGY, '--json'], env);
  expect(run.code).toBe(3);
  const summary = lastJsonLine<Summary>(run.stdout);
  runId = summary.runId;
  expect(summary.status).toBe('parked');
  expect(summary.parked?.map((p) => [p.id, p.host])).toEqual([[`prepare:${BROKEN}`, BROKEN]]);
  expect(summary.parked?.[0].error).toContain('kernel lacks module "cdlab_no_such_module"');

  // The rest of compute7's batch goes on: wait for its health gates.
  const others = BATCHES[2].filter((h) => h !== BROKEN);
  let steps: Step[] = [];
  for (let i = 0; i < 60; i++) {
    steps = (await runSteps(runId, env)).steps;
    if (others.every((h) => steps.find((s) => s.id === healthId(h))?.status === 'completed')) break;
    await new Promise((r) => setTimeout(r, 2000));
  }
  parkedSteps = new Map(steps.map((s) => [s.id, s]));
  expect(parkedSteps.get(`prepare:${BROKEN}`)?.status).toBe('parked');
  for (const h of others) expect(parkedSteps.get(healthId(h))?.status).toBe('completed');
  // ... and answer, from the container this run made on each host.
  for (const h of others) {
    const c = hostContainer(lab, h, 'fanout-web');
    expect(c).toMatchObject({ running: true, run: runId });
    const address = lab.hosts.find((x) => x.name === h)!.address;
    expect(await (await fetch(`http://${address}:${PORT}/smoke.conf`)).text()).toContain(`host_ip = ${address}\n`);
  }
  expect(hostContainer(lab, BROKEN, 'fanout-web')).toBeUndefined();
  // The next batch waits for the parked host's decision: a while later it still has not started.
  await new Promise((r) => setTimeout(r, 5000));
  const later = new Map((await runSteps(runId, env)).steps.map((s) => [s.id, s]));
  expect(later.get(`prepare:${BROKEN}`)?.status).toBe('parked');
  parkedAt = new Map(BATCHES[3].map((h) => [h, hostContainer(lab, h, 'fanout-web')]));
  for (const h of BATCHES[3]) {
    expect(parkedAt.get(h)).toBeUndefined();
    expect(later.get(startId(h))?.startTime).toBeUndefined();
  }
});

let summary: Summary;
let steps: Map<string, Step>;
const containers = new Map<string, HostContainer | undefined>();
/** The hosts whose container came up in this run (the checks of order and concurrency are on these). */
let ran: string[] = [];

test('abort on compute7: the run fails naming its preparation; the batches after its own never start', async () => {
  expect(runId).toBeDefined();
  const aborted = await cli(['abort', runId!, '--step', `prepare:${BROKEN}`, '--json'], env);
  summary = lastJsonLine<Summary>(aborted.stdout);
  const view = await runSteps(runId!, env);
  steps = new Map(view.steps.map((s) => [s.id, s]));
  for (const h of [CONTROLLER, ...COMPUTE]) containers.set(h, hostContainer(lab, h, service(h)));
  ran = [CONTROLLER, ...COMPUTE].filter((h) => steps.get(healthId(h))?.status === 'completed' && containers.get(h)?.run === runId);

  // As the CLI reports it: exit 1, failed at compute7's preparation, with the module named.
  expect(aborted.code).toBe(1);
  expect(summary.status).toBe('failed');
  expect(summary.failedStep?.id).toBe(`prepare:${BROKEN}`);
  expect(summary.failedStep?.message).toContain('kernel lacks module "cdlab_no_such_module"');
  expect(aborted.stdout).toContain(`FAILED at step prepare:${BROKEN}`);
  expect(view.status).toBe('failed');
  expect(summary.decisions?.map((d) => [d.action, d.step])).toEqual([['abort', `prepare:${BROKEN}`]]);
  // The controller and compute1-6 came up; compute7's container was never started; the batch failed, so the two
  // after it were never started either.
  expect(ran).toEqual([CONTROLLER, ...BATCHES.slice(0, 3).flat().filter((h) => h !== BROKEN)]);
  expect(summary.containers).toEqual({ created: ran.length, recreated: 0, unchanged: 0 });
  expect(steps.get(`prepare:${BROKEN}`)?.status).toBe('failed');
  expect([steps.get(startId(BROKEN))?.status, steps.get(healthId(BROKEN))?.status]).toEqual(['blocked', 'blocked']);
  for (const h of [BROKEN, ...BATCHES[3], ...BATCHES[4]]) expect([h, containers.get(h)]).toEqual([h, undefined]);
  expect(view.parts.filter((p) => /^compute batch [45] of 5/.test(p.label)).map((p) => [p.label, p.status, p.detail])).toEqual([
    ['compute batch 4 of 5', 'blocked', 'compute batch 3 of 5 failed'],
    ['compute batch 5 of 5', 'blocked', 'compute batch 3 of 5 failed'],
  ]);
  for (const h of [...BATCHES[3], ...BATCHES[4]]) expect([h, steps.get(startId(h))?.startTime]).toEqual([h, undefined]);
});

test('batches follow one another: canary, then 3 at a time, each created after every health gate of the one before', () => {
  expect(steps).toBeDefined();
  // The batches as the steps label them (every batch that ran; at least the canary and the two after it).
  const byBatch = new Map<number, string[]>();
  for (const h of COMPUTE.filter((x) => steps.get(startId(x)))) {
    const label = steps.get(startId(h))?.batch ?? '';
    const index = Number(/^compute batch (\d+) of 5/.exec(label)?.[1]);
    byBatch.set(index, [...(byBatch.get(index) ?? []), h]);
  }
  const labelled = [...byBatch.entries()].sort((a, b) => a[0] - b[0]);
  expect(labelled.map(([index]) => index)).toEqual(labelled.map((_, i) => i + 1));
  expect(labelled.length).toBeGreaterThanOrEqual(3);
  expect(labelled.map(([, hosts]) => hosts)).toEqual(BATCHES.slice(0, labelled.length));
  expect(steps.get(startId('compute1'))?.batch).toMatch(/^compute batch 1 of 5 \(canary\)/);

  // The controller's stage first, then each batch: every container of batch k (as its engine recorded it) was
  // created after every health gate of batch k-1 ended.
  const groups = [[CONTROLLER], ...BATCHES].map((g) => g.filter((h) => ran.includes(h) || h === BROKEN)).filter((g) => g.some((h) => ran.includes(h)));
  for (let k = 1; k < groups.length; k++) {
    const gatesEnd = Math.max(...groups[k - 1].filter((h) => steps.get(healthId(h))?.status === 'completed').map((h) => ms(steps.get(healthId(h))!.endTime)));
    for (const h of groups[k].filter((x) => ran.includes(x))) {
      expect([h, containers.get(h)!.created > gatesEnd]).toEqual([h, true]);
    }
  }
});

test(`at no time more than ${LIMIT} hosts in flight; each container created inside its host's window`, () => {
  expect(steps).toBeDefined();
  // In flight: from the host's preparation start to its last health gate's end. compute7 only until it parked (a
  // parked step gives its slot back).
  const windows: Interval[] = [...ran, BROKEN].map((h) => {
    const prepare = steps.get(`prepare:${h}`)!;
    const to = h === BROKEN ? ms(parkedSteps.get(`prepare:${h}`)?.endTime) : ms(steps.get(healthId(h))?.endTime);
    return { name: h, from: ms(prepare.startTime), to };
  });
  for (const w of windows) expect([w.name, w.from < w.to]).toEqual([w.name, true]);
  const most = maxOverlap(windows);
  const report = `${most.count} hosts in flight at ${new Date(most.at).toISOString()}: ${most.names.join(', ')}`;
  expect([most.count <= LIMIT, report]).toEqual([true, report]);
  // The limit does not serialize a batch: the three hosts of batch 2 were in flight together.
  expect(maxOverlap(windows.filter((w) => BATCHES[1].includes(w.name))).count).toBe(3);

  // Cross-check with the engines' clocks: each container was created between its start step's start and end, so
  // inside its host's window.
  for (const w of windows.filter((x) => x.name !== BROKEN)) {
    const start = steps.get(startId(w.name))!;
    const created = containers.get(w.name)!.created;
    expect([w.name, created >= ms(start.startTime) && created <= ms(start.endTime)]).toEqual([w.name, true]);
    expect([w.name, created > w.from && created < w.to]).toEqual([w.name, true]);
  }
});
