// The whole path on the real lab, driven by the CLI and a worker process, checked as a release engineer would:
// images in the registry with their labels, the directory on its host only, the container answering, the run in Temporal.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PROJECT_ROOT } from '../../lib/paths';
import type { RunSummary, Step } from '../../model/steps';
import { cli, labStatus, lastJsonLine, registryGet, secret, sshRun, startWorker, uniqueSuffix, type LabStatus, type WorkerProcess } from '../helpers/lab';

jest.setTimeout(300000);

const suffix = uniqueSuffix();
const release = `e2e-${suffix}`;
const service = `e2e-web-${suffix}`;
const port = 20000 + Math.floor(Math.random() * 20000);
const dataDir = `/dockervolumes/e2e-${suffix}`;
let lab: LabStatus;
let workDir: string;
let worker: WorkerProcess;
const env = { CONTRAIL_TASK_QUEUE_PREFIX: `e2e-${suffix}` };

/** A topology like topology/smoke.yaml, with names of its own so that nothing left from other runs can satisfy a check. */
function writeTopology(name: string, computeModules: string[]): string {
  const file = path.join(workDir, `${name}.yaml`);
  const hosts = lab.hosts.map((h) => `  - { name: ${h.name}, address: ${h.address}, roles: [${h.roles.join(', ')}] }`).join('\n');
  fs.writeFileSync(file, `name: ${name}
release: "${release}"
catalog: ${path.join(PROJECT_ROOT, 'images/smoke.yaml')}
registry: { address: "${lab.registry.address}", ca: "@lab/tls/ca.crt", username: ${lab.registry.username}, password: { secret: ${lab.registry.passwordSecret} } }
ssh: { user: root, keyFile: "@lab/ssh/id_ed25519", knownHosts: "@lab/ssh/known_hosts" }
hosts:
${hosts}
roles:
  controller: { directories: [{ path: ${dataDir}, mode: "0750" }], kernelModules: [overlay] }
  compute: { kernelModules: [${computeModules.join(', ')}] }
services:
  - name: ${service}
    image: smoke-web
    stage: common
    roles: [controller]
    env: { LISTEN_PORT: "${port}", GREETING: "${suffix}" }
    volumes: ["${dataDir}:/data"]
    health: { tcp: ${port}, timeoutSeconds: 30 }
`);
  return file;
}

let first: { code: number; stdout: string; stderr: string };
let summary: RunSummary;

beforeAll(async () => {
  lab = labStatus();
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'contrail-e2e-'));
  worker = await startWorker(env);
  // --no-cache: the smoke images exist from earlier runs; this run must build them to prove the build path.
  first = await cli(['run', writeTopology(`e2e${suffix}`, ['kvm']), '--json', '--no-cache'], env);
  if (first.code !== 0) throw new Error(`run failed:\n${first.stdout}\n${first.stderr}\nworker:\n${worker.output()}`);
  summary = lastJsonLine<RunSummary>(first.stdout);
});

afterAll(async () => {
  await worker?.stop();
  sshRun(lab, 'controller1', `docker rm -f ${service} >/dev/null 2>&1; rm -rf ${dataDir}`);
});

test('run --json ends with the summary object: completed, both images built, one container created', () => {
  expect(summary).toMatchObject({ status: 'completed', images: { built: 2, skipped: 0, failed: 0, blocked: 0 }, containers: { created: 1, recreated: 0, unchanged: 0 } });
  expect(first.stdout).toContain(`ui: http://127.0.0.1:8233/namespaces/default/workflows/${summary.runId}`);
});

test('both images are in the registry under the release tag, with their labels, the sub on the base', async () => {
  const auth = { user: lab.registry.username, password: secret(lab, lab.registry.passwordSecret) };
  const accept = 'application/vnd.docker.distribution.manifest.v2+json';
  const layers: Record<string, string[]> = {};
  for (const image of ['smoke-base', 'smoke-web']) {
    const tags = await registryGet(lab, `/v2/${image}/tags/list`, auth);
    expect(JSON.parse(tags.body).tags).toContain(release);
    const manifest = await registryGet(lab, `/v2/${image}/manifests/${release}`, auth, accept);
    expect(summary.digests[image]).toBe(`${lab.registry.address}/${image}@${String(manifest.headers['docker-content-digest'])}`);
    const m = JSON.parse(manifest.body) as { config: { digest: string }; layers: { digest: string }[] };
    layers[image] = m.layers.map((l) => l.digest);
    const config = JSON.parse((await registryGet(lab, `/v2/${image}/blobs/${m.config.digest}`, auth)).body) as { config: { Labels: Record<string, string> } };
    expect(config.config.Labels['net.juniper.contrail']).toBe('common');
    if (image === 'smoke-web') expect(config.config.Labels['net.juniper.node']).toBe('controller');
  }
  // The sub's layers start with exactly the base's layers: it was built on the base this run pushed.
  expect(layers['smoke-web'].slice(0, layers['smoke-base'].length)).toEqual(layers['smoke-base']);
});

test("the guide's own label query lists the images", () => {
  const r = spawnSync('docker', ['-H', labStatus().docker.host, 'images', '--filter', 'label=net.juniper.contrail', '--format', '{{.Repository}}:{{.Tag}}'], { encoding: 'utf8' });
  const listed = r.stdout.split('\n');
  expect(listed).toContain(`${lab.registry.address}/smoke-base:${release}`);
  expect(listed).toContain(`${lab.registry.address}/smoke-web:${release}`);
  const controllers = spawnSync('docker', ['-H', lab.docker.host, 'images', '--filter', 'label=net.juniper.node=controller', '--format', '{{.Repository}}:{{.Tag}}'], { encoding: 'utf8' }).stdout.split('\n');
  expect(controllers).toContain(`${lab.registry.address}/smoke-web:${release}`);
  expect(controllers).not.toContain(`${lab.registry.address}/smoke-base:${release}`);
});

test('host preparation made the persistent directory on the controller only', () => {
  expect(sshRun(lab, 'controller1', `stat -c %a ${dataDir}`).stdout.trim()).toBe('750');
  for (const other of ['compute1', 'compute2']) expect(sshRun(lab, other, `test -e ${dataDir}`).code).not.toBe(0);
});

test('the container runs on the controller with host networking and answers with the config its entrypoint rendered', async () => {
  const inspect = sshRun(lab, 'controller1', `docker inspect ${service} --format '{{.State.Running}} {{.HostConfig.NetworkMode}} {{index .Config.Labels "net.contrail-deploy.run"}}'`);
  expect(inspect.stdout.trim()).toBe(`true host ${summary.runId}`);
  for (const other of ['compute1', 'compute2']) expect(sshRun(lab, other, `docker inspect ${service}`).code).not.toBe(0);
  const controller = lab.hosts.find((h) => h.name === 'controller1')!;
  const res = await fetch(`http://${controller.address}:${port}/smoke.conf`);
  const conf = await res.text();
  expect(conf).toBe(`[DEFAULT]\nhost_ip = ${controller.address}\nlisten_port = ${port}\ngreeting = ${suffix}\n`);
  // The data directory is mounted: the entrypoint recorded its start there.
  expect(sshRun(lab, 'controller1', `wc -l < ${dataDir}/starts`).stdout.trim()).toBe('1');
});

test('the run is completed in Temporal, with its search attributes', () => {
  const r = spawnSync(lab.temporal.cli, ['workflow', 'describe', '-w', summary.runId, '--address', lab.temporal.address, '-o', 'json'], { encoding: 'utf8' });
  const d = JSON.parse(r.stdout) as { workflowExecutionInfo: { status: string; searchAttributes: { indexedFields: Record<string, { data: string }> } } };
  expect(d.workflowExecutionInfo.status).toBe('WORKFLOW_EXECUTION_STATUS_COMPLETED');
  const fields = d.workflowExecutionInfo.searchAttributes.indexedFields;
  const decoded = (k: string) => JSON.parse(Buffer.from(fields[k].data, 'base64').toString()) as string;
  expect(decoded('ReleaseTag')).toBe(release);
  expect(decoded('RunStatus')).toBe('completed');
});

test('status --json lists every step with kind, target, times; stage order', async () => {
  const r = await cli(['status', summary.runId, '--json'], env);
  expect(r.code).toBe(0);
  const s = JSON.parse(r.stdout) as { runId: string; status: string; stageOrder: string[]; steps: Step[] };
  expect(s.status).toBe('completed');
  expect(s.stageOrder.slice(0, 3)).toEqual(['common', 'database', 'config']);
  const byId = new Map(s.steps.map((x) => [x.id, x]));
  expect(byId.get('build:smoke-web')).toMatchObject({ kind: 'build', target: 'smoke-web', parent: 'smoke-base', status: 'completed' });
  expect(byId.get('prepare:controller1')).toMatchObject({ kind: 'prepare', host: 'controller1', status: 'completed' });
  expect(byId.get(`start:${service}@controller1`)).toMatchObject({ kind: 'start', host: 'controller1', stage: 'common' });
  expect(byId.get(`health:${service}@controller1`)?.status).toBe('completed');
  for (const step of s.steps) {
    expect(Date.parse(step.endTime!)).toBeGreaterThanOrEqual(Date.parse(step.startTime!));
  }
  // The sub's build began only after the base was pushed.
  expect(Date.parse(byId.get('build:smoke-web')!.startTime!)).toBeGreaterThanOrEqual(Date.parse(byId.get('push:smoke-base')!.endTime!));
});

test('a second run finds everything done: no build, the container untouched', async () => {
  const idBefore = sshRun(lab, 'controller1', `docker inspect -f '{{.Id}} {{.State.StartedAt}}' ${service}`).stdout;
  const again = await cli(['run', path.join(workDir, `e2e${suffix}.yaml`), '--json'], env);
  expect(again.code).toBe(0);
  expect(lastJsonLine<RunSummary>(again.stdout)).toMatchObject({ status: 'completed', images: { built: 0, skipped: 2 }, containers: { created: 0, recreated: 0, unchanged: 1 } });
  expect(sshRun(lab, 'controller1', `docker inspect -f '{{.Id}} {{.State.StartedAt}}' ${service}`).stdout).toBe(idBefore);
});

test('a kernel module the host lacks parks that host, naming the module; the others are unharmed; abort fails it', async () => {
  const r = await cli(['run', writeTopology(`e2em${suffix}`, ['kvm', 'vrouter']), '--json'], env);
  expect(r.code).toBe(3);
  const s = lastJsonLine<RunSummary & { parked: { id: string; host: string; error: string }[] }>(r.stdout);
  expect(s.status).toBe('parked');
  expect(s.parked[0].id).toMatch(/^prepare:compute\d+$/);
  expect(s.parked[0].error).toContain('kernel lacks module "vrouter"');
  expect(r.stdout).toMatch(/PARKED at step prepare:compute\d+ on compute\d+ since \S+: host compute\d+: step preflight: modules: the kernel lacks module "vrouter"/);
  // The controller's branch does not wait for the parked hosts.
  let steps: Step[] = [];
  for (let i = 0; i < 60 && steps.find((x) => x.id === `health:${service}@controller1`)?.status !== 'completed'; i++) {
    steps = (JSON.parse((await cli(['status', s.runId, '--json'], env)).stdout) as { steps: Step[] }).steps;
  }
  expect(steps.find((x) => x.id === 'prepare:controller1')?.status).toBe('completed');
  expect(steps.find((x) => x.id === `health:${service}@controller1`)?.status).toBe('completed');
  const aborted = await cli(['abort', s.runId, '--json'], env);
  expect(aborted.code).toBe(1);
  const end = lastJsonLine<RunSummary & { failedStep: { id: string; message: string } }>(aborted.stdout);
  expect(end.status).toBe('failed');
  expect(end.failedStep.id).toMatch(/^prepare:compute\d+$/);
  expect(end.failedStep.message).toContain('kernel lacks module "vrouter"');
  expect(aborted.stdout).toMatch(/FAILED at step prepare:compute\d+: host compute\d+: step preflight: modules: the kernel lacks module "vrouter"/);
});
