// Reconcile, logs, down and compose export on the real lab hosts, through the CLI, checked on the hosts themselves.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PROJECT_ROOT } from '../../lib/paths';
import type { RunSummary } from '../../model/steps';
import { cli, labStatus, labTopology, lastJsonLine, secret, sshRun, startWorker, uniqueSuffix, type LabStatus, type WorkerProcess } from '../helpers/lab';

jest.setTimeout(300000);

const suffix = uniqueSuffix();
const env = { CONTRAIL_TASK_QUEUE_PREFIX: `op-${suffix}` };
const front = `op-front-${suffix}`; // group common
const back = `op-back-${suffix}`; // group database: started after front, removed before it
const dataDir = `/dockervolumes/op-${suffix}`;
const ports = { front: 21000 + Math.floor(Math.random() * 9000), back: 31000 + Math.floor(Math.random() * 9000) };
let lab: LabStatus;
let worker: WorkerProcess;
let workDir: string;
let topology: string;

function writeTopology(backGreeting: string): string {
  const file = path.join(workDir, 'op.yaml');
  fs.writeFileSync(file, labTopology(lab, {
    name: `op${suffix}`, release: `op-${suffix}`, catalog: path.join(PROJECT_ROOT, 'images/smoke.yaml'),
    roles: `  controller: { directories: [{ path: ${dataDir}, mode: "0750" }] }`,
    services: `  - { name: ${front}, image: smoke-web, stage: common, roles: [controller], env: { LISTEN_PORT: "${ports.front}" }, volumes: ["${dataDir}:/data"], health: { tcp: ${ports.front}, timeoutSeconds: 30 } }
  - { name: ${back}, image: smoke-web, stage: database, roles: [controller], env: { LISTEN_PORT: "${ports.back}", GREETING: "${backGreeting}" }, health: { tcp: ${ports.back}, timeoutSeconds: 30 } }`,
  }));
  return file;
}

async function run(): Promise<RunSummary> {
  const r = await cli(['run', topology, '--json'], env);
  if (r.code !== 0) throw new Error(`run failed:\n${r.stdout}\n${r.stderr}\nworker:\n${worker.output()}`);
  return lastJsonLine<RunSummary>(r.stdout);
}

/** Id and start time of a container on the controller, as `docker inspect` there says; null when absent. */
function inspect(name: string): { id: string; started: string } | null {
  const r = sshRun(lab, 'controller1', `docker inspect --format '{{.Id}} {{.State.StartedAt}}' ${name}`);
  if (r.code !== 0) return null;
  const [id, started] = r.stdout.trim().split(' ');
  return { id, started };
}

beforeAll(async () => {
  lab = labStatus();
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'contrail-op-'));
  topology = writeTopology('first');
  worker = await startWorker(env);
});
afterAll(async () => {
  await worker?.stop();
  sshRun(lab, 'controller1', `docker rm -f ${front} ${back} >/dev/null 2>&1; rm -rf ${dataDir}`);
});

let firstIds: Record<string, { id: string; started: string }>;

test('a first run creates both containers; a second run recreates nothing (same ids, same start times)', async () => {
  expect((await run()).containers).toEqual({ created: 2, recreated: 0, unchanged: 0 });
  firstIds = { [front]: inspect(front)!, [back]: inspect(back)! };
  const again = await run();
  expect(again.containers).toEqual({ created: 0, recreated: 0, unchanged: 2 });
  expect(again.images).toMatchObject({ built: 0, failed: 0 });
  expect({ [front]: inspect(front), [back]: inspect(back) }).toEqual(firstIds);
});

test('a changed env of one service recreates only that container', async () => {
  topology = writeTopology('second');
  expect((await run()).containers).toEqual({ created: 0, recreated: 1, unchanged: 1 });
  expect(inspect(front)).toEqual(firstIds[front]);
  expect(inspect(back)!.id).not.toBe(firstIds[back].id);
  const served = sshRun(lab, 'controller1', `wget -qO- http://${lab.hosts[0].address}:${ports.back}/smoke.conf`);
  expect(served.stdout).toContain('greeting = second');
});

test('logs shows each container\'s output prefixed with host/service; a service name narrows it', async () => {
  const all = await cli(['logs', topology], env);
  expect(all.code).toBe(0);
  expect(all.stdout).toMatch(new RegExp(`^controller1/${front} +\\| smoke-web: serving /etc/smoke/smoke.conf on [\\d.]+:${ports.front}$`, 'm'));
  expect(all.stdout).toMatch(new RegExp(`^controller1/${back} +\\| smoke-web: serving`, 'm'));
  const one = await cli(['logs', topology, back], env);
  expect(one.stdout).toContain(`controller1/${back}`);
  expect(one.stdout).not.toContain(front);
  const wrong = await cli(['logs', topology, 'nosuch'], env);
  expect(wrong.code).toBe(2);
  expect(wrong.stderr).toContain(`no service, group or host named "nosuch"`);
  expect(wrong.stderr).not.toMatch(/\n\s+at /);
});

test('down removes the containers in reverse stage order and keeps the data directory; a second down finds nothing', async () => {
  const down = await cli(['down', topology, '--json'], env);
  expect(down.code).toBe(0);
  expect(lastJsonLine(down.stdout)).toEqual({ removed: [`controller1/${back}`, `controller1/${front}`], absent: [], purged: [], failures: [] });
  expect(inspect(front)).toBeNull();
  expect(inspect(back)).toBeNull();
  expect(sshRun(lab, 'controller1', `cat ${dataDir}/starts`).stdout.trim().split('\n').length).toBeGreaterThanOrEqual(1);
  const again = await cli(['down', topology, '--json'], env);
  expect(lastJsonLine(again.stdout)).toMatchObject({ removed: [], absent: [`controller1/${back}`, `controller1/${front}`] });
});

test('down --group takes one group only; --purge-data empties its data directory', async () => {
  expect((await run()).containers.created).toBe(2);
  const r = await cli(['down', topology, '--group', 'database', '--json'], env);
  expect(lastJsonLine(r.stdout)).toMatchObject({ removed: [`controller1/${back}`] });
  expect(inspect(front)).not.toBeNull();
  expect(sshRun(lab, 'controller1', `ls -A ${dataDir}`).stdout).toContain('starts');
  const purge = await cli(['down', topology, '--purge-data', '--json'], env);
  expect(lastJsonLine(purge.stdout)).toMatchObject({ removed: [`controller1/${front}`], purged: [`controller1:${dataDir}`] });
  // The data is gone; the directory itself stays (it may be a mount point; preparation set its owner and mode).
  expect(sshRun(lab, 'controller1', `ls -A ${dataDir}`)).toMatchObject({ code: 0, stdout: '' });
});

test('compose export writes the per-group files; compose accepts them, and no secret value is written', async () => {
  const out = path.join(workDir, 'compose');
  const r = await cli(['compose', 'export', path.join(PROJECT_ROOT, 'topology/lab.yaml'), out]);
  expect(r.code).toBe(0);
  const config = path.join(out, 'controller1/config/docker-compose.yml');
  const withSecrets = { ...process.env, LAB_ADMIN_PASSWORD: 'x1', LAB_ADMIN_TOKEN: 'x2', LAB_IFMAP_PASSWORD: 'x3', LAB_RABBIT_PASSWORD: 'x4', LAB_DB_PASSWORD: 'x5', LAB_MYSQL_ROOT_PASSWORD: 'x6', LAB_RABBITMQ_ERLANG_COOKIE: 'x7' };
  const ok = spawnSync('docker-compose', ['-f', config, 'config'], { encoding: 'utf8', env: withSecrets });
  expect(ok.status).toBe(0);
  expect(ok.stdout).toMatch(/network_mode: host/);
  expect(ok.stdout).toContain('IFMAP_PASSWORD: x3');
  const missing = spawnSync('docker-compose', ['-f', config, 'config'], { encoding: 'utf8', env: { ...process.env, LAB_IFMAP_PASSWORD: '' } });
  expect(missing.status).not.toBe(0);
  expect(missing.stderr).toContain('LAB_IFMAP_PASSWORD');
  // Compute groups live on the compute hosts, with the privileges the topology gives them: lab.yaml runs them
  // unprivileged (this sandbox's engines refuse privileged containers), so the export must not ask for more.
  const compute = fs.readFileSync(path.join(out, 'compute1/compute/docker-compose.yml'), 'utf8');
  expect(compute).toContain('container_name: libvirt');
  expect(compute).not.toMatch(/privileged: true/);
  const written = spawnSync('grep', ['-rF', secret(lab, 'LAB_ADMIN_PASSWORD'), out], { encoding: 'utf8' });
  expect(written.status).toBe(1);
  // Refuses to write into a directory that is not empty.
  const again = await cli(['compose', 'export', path.join(PROJECT_ROOT, 'topology/lab.yaml'), out]);
  expect(again.code).toBe(2);
  expect(again.stderr).toContain('is not empty');
});
