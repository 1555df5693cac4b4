// Drift and orphans on the lab: `diff` reports a stopped container, a container started by hand from another image
// and an orphan (a service removed from the topology), exit 1; `run --remove-orphans` brings the hosts back to the
// plan and removes the orphan, not its data directory; then `diff` exits 0. On the smoke images (in the registry
// already: nothing is built).
import * as fs from 'fs';
import * as path from 'path';
import { PROJECT_ROOT } from '../../lib/paths';
import type { RunSummary } from '../../model/steps';
import type { DiffReport } from '../../cli/diff';
import { scratchDir } from '../helpers/files';
import { cli, labStatus, labTopology, lastJsonLine, sshRun, startWorker, uniqueSuffix, type LabStatus, type WorkerProcess } from '../helpers/lab';

jest.setTimeout(240000);

const suffix = uniqueSuffix();
const base = 40000 + Math.floor(Math.random() * 8000);
const [stopped, handmade, orphan] = ['a', 'b', 'c'].map((n) => `dr-${n}-${suffix}`);
const dataDir = `/dockervolumes/dr-${suffix}`;
let lab: LabStatus;
let worker: WorkerProcess;
let env: NodeJS.ProcessEnv;
let full: string;
let reduced: string;

function service(name: string, roles: string, port: number, volume = ''): string {
  return `  - { name: ${name}, image: smoke-web, stage: common, roles: [${roles}], env: { LISTEN_PORT: "${port}" }, health: { tcp: ${port}, timeoutSeconds: 30 }${volume ? `, volumes: ["${volume}"]` : ''} }`;
}

async function diff(topology: string): Promise<DiffReport & { code: number; output: string }> {
  const r = await cli(['diff', topology, '--json'], env);
  return { ...lastJsonLine<DiffReport>(r.stdout), code: r.code, output: r.stdout + r.stderr };
}

const kinds = (report: DiffReport) => report.hosts.flatMap((h) => h.drift.map((d) => `${h.host}/${d.container}: ${d.kind}`)).sort();

beforeAll(async () => {
  lab = labStatus();
  const dir = scratchDir({});
  env = { CONTRAIL_TASK_QUEUE_PREFIX: `drift-${suffix}` };
  const [controller, compute] = [lab.hosts.find((h) => h.name === 'controller1')!, lab.hosts.find((h) => h.name === 'compute1')!];
  const topology = (services: string[]) => labTopology(lab, {
    name: `drift${suffix}`, release: `drift-${suffix}`, catalog: path.join(PROJECT_ROOT, 'images/smoke.yaml'),
    hosts: `  - { name: controller1, address: ${controller.address}, roles: [controller] }\n  - { name: compute1, address: ${compute.address}, roles: [compute] }`,
    roles: `  controller: {}\n  compute: { directories: [{ path: ${dataDir}, mode: "0755" }] }`,
    services: services.join('\n'),
  });
  const kept = [service(stopped, 'controller', base), service(handmade, 'controller', base + 1)];
  full = path.join(dir, 'full.yaml');
  reduced = path.join(dir, 'reduced.yaml');
  fs.writeFileSync(full, topology([...kept, service(orphan, 'compute', base + 2, `${dataDir}:/data`)]));
  // The same topology without the service on compute1: its container there is now an orphan.
  fs.writeFileSync(reduced, topology(kept));
  worker = await startWorker(env);
  const r = await cli(['run', full, '--json'], env);
  if (r.code !== 0) throw new Error(`first run failed:\n${r.stdout}${r.stderr}\n${worker.output()}`);
});
afterAll(async () => {
  await worker?.stop();
  sshRun(lab, 'controller1', `docker rm -f ${stopped} ${handmade} >/dev/null 2>&1; docker rmi handmade-${suffix} >/dev/null 2>&1`);
  sshRun(lab, 'compute1', `docker rm -f ${orphan} >/dev/null 2>&1; rm -rf ${dataDir}`);
});

test('right after a run, diff finds every host as planned (exit 0)', async () => {
  const r = await diff(full);
  expect({ code: r.code, drift: kinds(r), notes: r.notes }).toEqual({ code: 0, drift: [], notes: [] });
  expect(r.hosts.map((h) => [h.host, h.planned, h.asPlanned])).toEqual([['controller1', 2, 2], ['compute1', 1, 1]]);
});

test('a stopped container, one started by hand from another image, and an orphan are drift (exit 1); run --remove-orphans brings it back', async () => {
  expect(sshRun(lab, 'controller1', `docker stop ${stopped}`).code).toBe(0);
  // By hand, as an operator might: another image (built on the host from what it has), the service's name.
  const ref = sshRun(lab, 'controller1', `docker inspect -f '{{.Config.Image}}' ${handmade}`).stdout.trim();
  const made = sshRun(lab, 'controller1', `printf 'FROM ${ref}\\nLABEL made-by=hand\\n' | docker build -q -t handmade-${suffix} - && docker rm -f ${handmade} && docker run -d --name ${handmade} --network host -e HOST_IP=${lab.hosts[0].address} -e LISTEN_PORT=${base + 1} handmade-${suffix}`);
  expect(made).toMatchObject({ code: 0 });

  const drifted = await diff(reduced);
  expect(drifted.code).toBe(1);
  expect(kinds(drifted)).toEqual([`compute1/${orphan}: orphan`, `controller1/${stopped}: stopped`, `controller1/${handmade}: foreign`]);
  const text = await cli(['diff', reduced], env);
  expect(text.code).toBe(1);
  expect(text.stdout).toContain(`handmade-${suffix}`);
  expect(text.stdout).toMatch(/drift: 3 containers differ on 2 hosts/);

  const run = await cli(['run', reduced, '--remove-orphans', '--json'], env);
  const summary = lastJsonLine<RunSummary>(run.stdout);
  expect({ code: run.code, status: summary.status, orphans: summary.orphansRemoved }).toEqual({ code: 0, status: 'completed', orphans: [`compute1/${orphan}`] });
  expect(sshRun(lab, 'compute1', `docker inspect ${orphan}`).code).not.toBe(0);
  // The orphan's data directory stays, with what it wrote.
  expect(sshRun(lab, 'compute1', `cat ${dataDir}/starts`).stdout).toMatch(/^\d{4}-/);
  const after = await diff(reduced);
  expect({ code: after.code, drift: kinds(after) }).toEqual({ code: 0, drift: [] });
  expect(sshRun(lab, 'controller1', `docker inspect -f '{{index .Config.Labels "net.contrail-deploy.topology"}}' ${handmade}`).stdout.trim()).toBe(`drift${suffix}`);
});

test('down --orphans removes only the orphans, on every host of the topology; the planned containers and the data stay', async () => {
  const again = await cli(['run', full, '--json'], env);
  expect(lastJsonLine<RunSummary>(again.stdout).containers).toEqual({ created: 1, recreated: 0, unchanged: 2 });
  const down = await cli(['down', reduced, '--orphans', '--json'], env);
  expect({ code: down.code, result: lastJsonLine<{ removed: string[]; failures: string[] }>(down.stdout) }).toMatchObject({ code: 0, result: { removed: [`compute1/${orphan}`], failures: [] } });
  expect(sshRun(lab, 'compute1', `test -s ${dataDir}/starts`).code).toBe(0);
  expect((await diff(reduced)).code).toBe(0);
});

test('bad input: a missing topology file is one line and exit 2', async () => {
  const r = await cli(['diff', '/nonexistent/topology.yaml'], env);
  expect(r.code).toBe(2);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
});
