// A quorum gate across hosts, on the real ZooKeeper: a three-member ensemble on the three lab hosts, one of which
// cannot be prepared (a kernel module its kernel lacks), so its member never starts. The other two elect a leader;
// the gate passes with 2 of 3, and the next stage comes up while the run stays parked on the third host.
import * as fs from 'fs';
import * as path from 'path';
import { PROJECT_ROOT } from '../../lib/paths';
import type { RunSummary, Step } from '../../model/steps';
import { scratchDir } from '../helpers/files';
import { cli, labStatus, labTopology, lastJsonLine, sshRun, startWorker, uniqueSuffix, type LabStatus, type WorkerProcess } from '../helpers/lab';

jest.setTimeout(15 * 60 * 1000);

const suffix = uniqueSuffix();
const env = { CONTRAIL_TASK_QUEUE_PREFIX: `quorum-${suffix}` };
const zk = `zk-${suffix}`;
const after = `after-zk-${suffix}`;
let lab: LabStatus;
let worker: WorkerProcess;

type Summary = RunSummary & { steps: Step[] };

beforeAll(async () => {
  lab = labStatus();
  worker = await startWorker(env);
});
afterAll(async () => {
  await worker?.stop();
  for (const h of lab.hosts) sshRun(lab, h.name, `docker rm -f ${zk} ${after} >/dev/null 2>&1`);
});

test('2 of 3 ZooKeeper members form a quorum across hosts; the next stage goes on while the third host is parked', async () => {
  const [controller, compute1, compute2] = lab.hosts;
  const topology = path.join(scratchDir({}), 'quorum.yaml');
  fs.writeFileSync(topology, labTopology(lab, {
    name: `quorum${suffix}`, release: `quorum-${suffix}`, catalog: path.join(PROJECT_ROOT, 'images/catalog.yaml'),
    hosts: `  - { name: ${controller.name}, address: ${controller.address}, roles: [zk] }
  - { name: ${compute1.name}, address: ${compute1.address}, roles: [zk] }
  - { name: ${compute2.name}, address: ${compute2.address}, roles: [zk, broken] }`,
    roles: `  zk: { directories: [{ path: /dockervolumes/zookeeper1/var/lib/zookeeper, mode: "0750" }] }
  broken: { kernelModules: [cdlab_no_such_module] }`,
    services: `  - { name: ${zk}, image: zookeeper, stage: database, hosts: [${controller.name}, ${compute1.name}, ${compute2.name}] }
  - { name: ${after}, image: memcached, stage: config, hosts: [${controller.name}] }`,
  }));

  const parked = await cli(['run', topology, '--json'], env);
  expect(parked.code).toBe(3);
  const runId = lastJsonLine<RunSummary>(parked.stdout).runId;
  expect(lastJsonLine<RunSummary>(parked.stdout).parked?.map((p) => p.id)).toEqual([`prepare:${compute2.name}`]);
  // The run parks as soon as the third host fails; the rest goes on: wait for the next stage's gate.
  let s: Summary | undefined;
  for (let i = 0; i < 120; i++) {
    s = lastJsonLine<Summary>((await cli(['status', runId, '--json'], env)).stdout);
    if (s.steps.find((x) => x.id === `health:${after}@${controller.name}`)?.status === 'completed') break;
    await new Promise((r) => setTimeout(r, 2000));
  }
  const byId = new Map(s!.steps.map((x) => [x.id, x]));
  const gate = byId.get(`quorum:${zk}`);
  expect(gate?.status).toBe('completed');
  expect(gate?.detail).toMatch(new RegExp(`^2 of 3 members in quorum \\((${controller.name}, ${compute1.name}|${compute1.name}, ${controller.name})\\), 2 needed$`));
  expect(byId.get(`health:${after}@${controller.name}`)?.status).toBe('completed');
  // The next stage started only after the gate.
  expect(Date.parse(byId.get(`start:${after}@${controller.name}`)!.startTime!)).toBeGreaterThanOrEqual(Date.parse(gate!.endTime!));
  // ZooKeeper itself says so: one leader, one follower, and the third member was never started.
  const mode = (h: LabStatus['hosts'][number]) => sshRun(lab, h.name, `docker exec ${zk} bash -c 'exec 3<>/dev/tcp/${h.address}/2181 && echo srvr >&3 && grep Mode: <&3'`).stdout.trim();
  expect([mode(controller), mode(compute1)].sort()).toEqual(['Mode: follower', 'Mode: leader']);
  expect(sshRun(lab, compute2.name, `docker ps -aq --filter name=^${zk}$`).stdout.trim()).toBe('');

  const aborted = await cli(['abort', runId, '--json'], env);
  expect(lastJsonLine<RunSummary & { failedStep: { id: string } }>(aborted.stdout).failedStep.id).toBe(`prepare:${compute2.name}`);
});
