// Fan-out on twelve lab hosts (one controller, eleven compute hosts): topology/fanout.yaml through the CLI, with
// `concurrency.hosts: 4`. The openstack stage brings up an agent on eleven hosts in one batch: read back from the step
// times `status` reports and from the creation time each host's own Docker engine records, 4 hosts were in flight at
// once there and never more (the limit binds). The compute stage goes as a canary then 25% batches, each after the one
// before; compute7 (a kernel module this kernel lacks, prepared in the compute stage: it runs nothing earlier) parks
// while the rest of its batch comes up, and the next batch waits. `skip --force` of its preparation goes on without
// it: its container is recorded as skipped, the later batches come up and the run completes.
// The lab goes back to the number of hosts it had before (3 in CI): other e2e tests expect exactly the default three.
import * as path from 'path';
import { PROJECT_ROOT } from '../../lib/paths';
import type { PartRecord, RunSummary, Step } from '../../model/steps';
import { hostContainer, maxOverlap, ms, runSteps, smokeImages, stageWindows, type HostContainer, type Interval } from '../helpers/fanout';
import { cli, labStatus, lastJsonLine, sshRun, startWorker, uniqueSuffix, type LabStatus, type WorkerProcess } from '../helpers/lab';

jest.setTimeout(10 * 60 * 1000);

const TOPOLOGY = path.join(PROJECT_ROOT, 'topology', 'fanout.yaml');
const LIMIT = 4; // concurrency.hosts in topology/fanout.yaml
const CONTROLLER = 'controller1';
const BROKEN = 'compute7';
const COMPUTE = Array.from({ length: 11 }, (_, i) => `compute${i + 1}`);
// The stages that run something, in order, with their service and its port there.
const STAGES = {
  common: { service: 'fanout-ctl', port: 8121, hosts: [CONTROLLER] },
  // Every host but compute7 (the agent role): 11 hosts, one batch, 4 at a time.
  openstack: { service: 'fanout-agent', port: 8122, hosts: [CONTROLLER, ...COMPUTE.filter((h) => h !== BROKEN)] },
  compute: { service: 'fanout-web', port: 8120, hosts: COMPUTE },
};
type Stage = keyof typeof STAGES;
// The compute stage: a canary, then ceil(11 x 25%) = 3 hosts at a time.
const BATCHES = [['compute1'], ['compute2', 'compute3', 'compute4'], ['compute5', 'compute6', 'compute7'], ['compute8', 'compute9', 'compute10'], ['compute11']];
const healthId = (stage: Stage, host: string) => `health:${STAGES[stage].service}@${host}`;
const startId = (stage: Stage, host: string) => `start:${STAGES[stage].service}@${host}`;
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
    imagesBefore.set(host, smokeImages(lab, host));
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
  // Only the smoke images this run pulled; one another test's container uses stays (docker rmi without --force).
  for (const [host, before] of imagesBefore) {
    const added = [...smokeImages(lab, host)].filter((id) => !before.has(id));
    if (added.length) sshRun(lab, host, `docker rmi ${added.join(' ')} >/dev/null 2>&1`);
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

const address = (host: string) => lab.hosts.find((x) => x.name === host)!.address;
async function answers(host: string, stage: Stage): Promise<string> {
  return (await fetch(`http://${address(host)}:${STAGES[stage].port}/smoke.conf`)).text();
}

let parkedSteps: Map<string, Step>;
let parkedAt: Map<string, HostContainer | undefined>;

test('the run parks on compute7 in the compute stage, naming the missing module, while the other hosts of its batch come up', async () => {
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
    if (others.every((h) => steps.find((s) => s.id === healthId('compute', h))?.status === 'completed')) break;
    await new Promise((r) => setTimeout(r, 2000));
  }
  parkedSteps = new Map(steps.map((s) => [s.id, s]));
  // compute7 ran nothing before: it is prepared, and parks, in the compute stage, in its batch.
  expect(parkedSteps.get(`prepare:${BROKEN}`)).toMatchObject({ status: 'parked', stage: 'compute' });
  expect(parkedSteps.get(startId('compute', BROKEN))?.batch).toMatch(/^compute batch 3 of 5/);
  for (const h of others) expect(parkedSteps.get(healthId('compute', h))?.status).toBe('completed');
  // ... and answer, from the container this run made on each host.
  for (const h of others) {
    expect(hostContainer(lab, h, STAGES.compute.service)).toMatchObject({ running: true, run: runId });
    expect(await answers(h, 'compute')).toContain(`host_ip = ${address(h)}\n`);
  }
  expect(hostContainer(lab, BROKEN, STAGES.compute.service)).toBeUndefined();
  // The next batch waits for the parked host's decision: a while later it still has not started.
  await new Promise((r) => setTimeout(r, 5000));
  const later = new Map((await runSteps(runId, env)).steps.map((s) => [s.id, s]));
  expect(later.get(`prepare:${BROKEN}`)?.status).toBe('parked');
  parkedAt = new Map(BATCHES[3].map((h) => [h, hostContainer(lab, h, STAGES.compute.service)]));
  for (const h of BATCHES[3]) {
    expect(parkedAt.get(h)).toBeUndefined();
    expect(later.get(startId('compute', h))?.startTime).toBeUndefined();
  }
});

let summary: Summary;
let all: Step[];
let steps: Map<string, Step>;
let parts: PartRecord[];
/** Each stage's container on each of its hosts, as the host's engine records it. */
const containers = new Map<Stage, Map<string, HostContainer | undefined>>();
const created = (stage: Stage, host: string) => containers.get(stage)!.get(host)!.created;

test('skip --force of compute7\'s preparation: its container is skipped, the later batches come up, the run completes', async () => {
  expect(runId).toBeDefined();
  const skipped = await cli(['skip', runId!, '--step', `prepare:${BROKEN}`, '--force', '--json'], env);
  summary = lastJsonLine<Summary>(skipped.stdout);
  const view = await runSteps(runId!, env);
  all = view.steps;
  parts = view.parts;
  steps = new Map(all.map((s) => [s.id, s]));
  for (const stage of Object.keys(STAGES) as Stage[]) containers.set(stage, new Map([CONTROLLER, ...COMPUTE].map((h) => [h, hostContainer(lab, h, STAGES[stage].service)])));

  // As the CLI reports it: exit 0, completed, the decision recorded.
  expect([skipped.code, skipped.code ? `${skipped.stderr}${skipped.stdout}` : '']).toEqual([0, '']);
  expect(summary.status).toBe('completed');
  expect(summary.failedStep ?? undefined).toBeUndefined();
  expect(summary.decisions?.map((d) => [d.action, d.step])).toEqual([['skip', `prepare:${BROKEN}`]]);
  expect(view.status).toBe('completed');
  expect(parts.map((p) => [p.label, p.status])).toEqual([
    ['images', 'completed'],
    ['stage common', 'completed'],
    ['stage openstack', 'completed'],
    ...BATCHES.map((_, i) => [expect.stringMatching(new RegExp(`^compute batch ${i + 1} of 5`)), 'completed']),
  ]);

  // compute7: its preparation, pull, start and gate skipped, the container never started; no step left to do.
  expect(all.filter((s) => s.status === 'pending' || s.status === 'running' || s.status === 'parked')).toEqual([]);
  const notCompleted = all.filter((s) => s.host && s.status !== 'completed');
  expect(notCompleted.map((s) => [s.id, s.status])).toEqual(
    expect.arrayContaining([`prepare:${BROKEN}`, `pull:compute@${BROKEN}`, startId('compute', BROKEN), healthId('compute', BROKEN)].map((id) => [id, 'skipped'])),
  );
  expect(notCompleted).toHaveLength(4);
  for (const id of [startId('compute', BROKEN), healthId('compute', BROKEN)]) expect(steps.get(id)?.detail).toBe(`not started: the preparation of ${BROKEN} was skipped by an operator`);
  for (const stage of Object.keys(STAGES) as Stage[]) expect([stage, containers.get(stage)!.get(BROKEN)]).toEqual([stage, undefined]);

  // Every other planned container runs from this run and answers: 1 + 11 + 10 created.
  for (const stage of Object.keys(STAGES) as Stage[]) {
    for (const h of STAGES[stage].hosts.filter((x) => x !== BROKEN)) {
      expect([stage, h, containers.get(stage)!.get(h)]).toEqual([stage, h, expect.objectContaining({ running: true, run: runId })]);
      expect(await answers(h, stage)).toContain(`host_ip = ${address(h)}\n`);
    }
  }
  expect(summary.containers).toEqual({ created: 22, recreated: 0, unchanged: 0 });

  // compute8-11 came up after the decision and after every gate of compute7's batch.
  const decided = ms(summary.decisions![0].at);
  const batch3Gates = Math.max(...BATCHES[2].filter((h) => h !== BROKEN).map((h) => ms(steps.get(healthId('compute', h))!.endTime)));
  for (const h of [...BATCHES[3], ...BATCHES[4]]) {
    expect([h, created('compute', h) > batch3Gates, created('compute', h) > decided]).toEqual([h, true, true]);
  }
});

test('stages and batches follow one another: each container created after every health gate before it', () => {
  expect(steps).toBeDefined();
  // The compute batches as the steps label them: the canary, then 3 at a time.
  const byBatch = new Map<number, string[]>();
  for (const h of COMPUTE) {
    const index = Number(/^compute batch (\d+) of 5/.exec(steps.get(startId('compute', h))?.batch ?? '')?.[1]);
    byBatch.set(index, [...(byBatch.get(index) ?? []), h]);
  }
  expect([...byBatch.entries()].sort((a, b) => a[0] - b[0])).toEqual(BATCHES.map((hosts, i) => [i + 1, hosts]));
  expect(steps.get(startId('compute', 'compute1'))?.batch).toMatch(/^compute batch 1 of 5 \(canary\)/);
  for (const h of STAGES.openstack.hosts) expect([h, steps.get(startId('openstack', h))?.batch]).toEqual([h, undefined]);

  // common, openstack, then each compute batch: every container of a group (as its engine recorded it) was created
  // after every health gate of the group before ended.
  const groups: [Stage, string[]][] = [['common', STAGES.common.hosts], ['openstack', STAGES.openstack.hosts], ...BATCHES.map((b) => ['compute', b.filter((h) => h !== BROKEN)] as [Stage, string[]])];
  for (let k = 1; k < groups.length; k++) {
    const [before, earlier] = groups[k - 1];
    const gatesEnd = Math.max(...earlier.map((h) => ms(steps.get(healthId(before, h))!.endTime)));
    const [stage, hosts] = groups[k];
    for (const h of hosts) expect([stage, h, created(stage, h) > gatesEnd]).toEqual([stage, h, true]);
  }
});

/** "4 hosts in flight at <time>: controller1, compute1, ..." */
const described = (m: ReturnType<typeof maxOverlap>) => `${m.count} hosts in flight at ${new Date(m.at).toISOString()}: ${m.names.join(', ')}`;

test(`openstack stage, 11 hosts in one batch: ${LIMIT} in flight at once and never more, by step times and by the engines`, () => {
  expect(steps).toBeDefined();
  // One part for the stage's 11 hosts, one batch; compute hosts are prepared there (their first stage), the
  // controller was prepared in the common stage.
  expect(parts.find((p) => p.label === 'stage openstack')).toMatchObject({ hosts: 11, status: 'completed' });
  for (const h of STAGES.openstack.hosts) expect([h, steps.get(`prepare:${h}`)?.stage]).toEqual([h, h === CONTROLLER ? 'common' : 'openstack']);
  const windows = stageWindows(all, 'openstack');
  expect(windows.map((w) => w.name).sort()).toEqual([...STAGES.openstack.hosts].sort());
  for (const w of windows) expect([w.name, w.from < w.to]).toEqual([w.name, true]);
  const most = maxOverlap(windows);
  console.log(`openstack stage, step times: ${described(most)}`);
  expect(described(most)).toMatch(new RegExp(`^${LIMIT} hosts`));

  // By the engines' clocks: each container was created during its start step, inside its host's window; from its
  // creation to its gate's end the host was in flight, and 4 such spans overlap, never 5.
  const engineSpans: Interval[] = windows.map((w) => {
    const start = steps.get(startId('openstack', w.name))!;
    const at = created('openstack', w.name);
    expect([w.name, at >= ms(start.startTime) && at <= ms(start.endTime), at > w.from && at < w.to]).toEqual([w.name, true, true]);
    return { name: w.name, from: at, to: w.to };
  });
  const byEngines = maxOverlap(engineSpans);
  console.log(`openstack stage, container creation times: ${described(byEngines)}`);
  expect(described(byEngines)).toMatch(new RegExp(`^${LIMIT} hosts`));
  // ... and the fifth container waited for a host to finish: created after the earliest gate end.
  const order = [...engineSpans].sort((a, b) => a.from - b.from);
  expect(order[LIMIT].from).toBeGreaterThan(Math.min(...order.slice(0, LIMIT).map((s) => s.to)));
});

test(`compute stage: never more than ${LIMIT} hosts in flight; a batch of 3 is not serialized`, () => {
  expect(steps).toBeDefined();
  // compute7 was in flight from its preparation until it parked (a parked step gives its slot back); after the skip
  // its steps were recorded at once, without running.
  const windows = [...stageWindows(all, 'compute'), { name: BROKEN, from: ms(parkedSteps.get(`prepare:${BROKEN}`)?.startTime), to: ms(parkedSteps.get(`prepare:${BROKEN}`)?.endTime) }];
  expect(windows.map((w) => w.name).sort()).toEqual([...COMPUTE].sort());
  for (const w of windows) expect([w.name, w.from < w.to]).toEqual([w.name, true]);
  const most = maxOverlap(windows);
  console.log(`compute stage, step times: ${described(most)}`);
  expect([most.count <= LIMIT, described(most)]).toEqual([true, described(most)]);
  // The limit does not serialize a batch: the three hosts of batch 2 were in flight together.
  expect(maxOverlap(windows.filter((w) => BATCHES[1].includes(w.name))).count).toBe(3);
  for (const w of windows.filter((x) => x.name !== BROKEN)) {
    const start = steps.get(startId('compute', w.name))!;
    const at = created('compute', w.name);
    expect([w.name, at >= ms(start.startTime) && at <= ms(start.endTime), at > w.from && at < w.to]).toEqual([w.name, true, true]);
  }
});
