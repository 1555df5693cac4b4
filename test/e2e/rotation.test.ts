// Secret rotation on the lab: a new value of one secret recreates exactly the containers that receive it (their ids
// change, every other container id stays), and they then run with the new value; a secret that is not set fails the
// start of a container that needs it, once, naming the secret, the container and the host, never a value.
import * as fs from 'fs';
import * as path from 'path';
import { PROJECT_ROOT } from '../../lib/paths';
import type { RunSummary } from '../../model/steps';
import { scratchDir } from '../helpers/files';
import { activityAttempts, runHistories } from '../helpers/history';
import { cli, labStatus, labTopology, lastJsonLine, secret, sshRun, startWorker, uniqueSuffix, type LabStatus, type WorkerProcess } from '../helpers/lab';

jest.setTimeout(300000);

const suffix = uniqueSuffix();
const base = 32000 + Math.floor(Math.random() * 8000);
/** Who receives what: rot-a on both hosts gets ROT_A, rot-b gets ROT_B, rot-plain no secret. */
const containers = [
  { name: `rot-a-${suffix}`, host: 'controller1', secret: 'ROT_A', port: base },
  { name: `rot-a-${suffix}`, host: 'compute1', secret: 'ROT_A', port: base },
  { name: `rot-b-${suffix}`, host: 'controller1', secret: 'ROT_B', port: base + 1 },
  { name: `rot-plain-${suffix}`, host: 'controller1', secret: undefined, port: base + 2 },
];
let lab: LabStatus;
let worker: WorkerProcess;
let dir: string;
let topology: string;
let env: NodeJS.ProcessEnv;
const values = { ROT_A: `a-first-${suffix}`, ROT_B: `b-first-${suffix}` };

function writeSecrets(v: Partial<typeof values>): void {
  const lines = [`LAB_REGISTRY_PASSWORD=${secret(lab, 'LAB_REGISTRY_PASSWORD')}`, ...Object.entries(v).map(([k, value]) => `${k}=${value}`)];
  fs.writeFileSync(path.join(dir, 'secrets.env'), `${lines.join('\n')}\n`, { mode: 0o600 });
}

/** Container id on its host, as `docker inspect` there says. */
function ids(): string[] {
  return containers.map((c) => sshRun(lab, c.host, `docker inspect -f '{{.Id}}' ${c.name}`).stdout.trim());
}

function greeting(c: (typeof containers)[number]): string {
  const address = lab.hosts.find((h) => h.name === c.host)!.address;
  return /greeting = (.*)/.exec(sshRun(lab, c.host, `wget -qO- http://${address}:${c.port}/smoke.conf`).stdout)?.[1] ?? '';
}

async function run(): Promise<RunSummary & { code: number; output: string }> {
  const r = await cli(['run', topology, '--json'], env);
  return { ...lastJsonLine<RunSummary>(r.stdout), code: r.code, output: r.stdout + r.stderr };
}

beforeAll(async () => {
  lab = labStatus();
  dir = scratchDir({});
  // A secrets file of this test's own; the installation's digest key is made next to it on the first start.
  env = { CONTRAIL_TASK_QUEUE_PREFIX: `rot-${suffix}`, CONTRAIL_SECRETS_FILE: path.join(dir, 'secrets.env') };
  writeSecrets(values);
  topology = path.join(dir, 'rot.yaml');
  const [controller, compute] = [lab.hosts.find((h) => h.name === 'controller1')!, lab.hosts.find((h) => h.name === 'compute1')!];
  const service = (name: string, roles: string, port: number, secretName?: string) =>
    `  - { name: ${name}, image: smoke-web, stage: common, roles: [${roles}], env: { LISTEN_PORT: "${port}"${secretName ? `, GREETING: { secret: ${secretName} }` : ''} }, health: { tcp: ${port}, timeoutSeconds: 30 } }`;
  fs.writeFileSync(topology, labTopology(lab, {
    name: `rot${suffix}`, release: `rot-${suffix}`, catalog: path.join(PROJECT_ROOT, 'images/smoke.yaml'),
    hosts: `  - { name: controller1, address: ${controller.address}, roles: [controller] }\n  - { name: compute1, address: ${compute.address}, roles: [compute] }`,
    roles: '  controller: {}\n  compute: {}',
    services: [service(containers[0].name, 'controller, compute', base, 'ROT_A'), service(containers[2].name, 'controller', base + 1, 'ROT_B'), service(containers[3].name, 'controller', base + 2)].join('\n'),
  }));
  worker = await startWorker(env);
});
afterAll(async () => {
  await worker?.stop();
  for (const c of containers) sshRun(lab, c.host, `docker rm -f ${c.name} >/dev/null 2>&1`);
});

describe('secret rotation', () => {
  let first: string[];

  beforeAll(async () => {
    const r = await run();
    if (r.code !== 0) throw new Error(`first run failed:\n${r.output}\n${worker.output()}`);
    first = ids();
  });

  test('the first run starts every container with its value, and keeps the digest key next to the secrets file (0600)', () => {
    expect(first.every((id) => /^[0-9a-f]{64}$/.test(id))).toBe(true);
    expect(containers.map(greeting)).toEqual([values.ROT_A, values.ROT_A, values.ROT_B, 'hello']);
    expect(fs.statSync(path.join(dir, 'secret-digest.key')).mode & 0o777).toBe(0o600);
  });

  test('run again with the same values: nothing is recreated', async () => {
    const r = await run();
    expect([r.code, r.containers]).toEqual([0, { created: 0, recreated: 0, unchanged: 4 }]);
    expect(ids()).toEqual(first);
  });

  test('a rotated secret recreates exactly the containers that receive it, on every host, with the new value', async () => {
    values.ROT_A = `a-rotated-${suffix}`;
    writeSecrets(values);
    const r = await run();
    expect([r.code, r.containers]).toEqual([0, { created: 0, recreated: 2, unchanged: 2 }]);
    const now = ids();
    expect(now.map((id, i) => [containers[i].name, containers[i].host, id === first[i] ? 'same' : 'new'])).toEqual(containers.map((c) => [c.name, c.host, c.secret === 'ROT_A' ? 'new' : 'same']));
    expect(containers.map(greeting)).toEqual([values.ROT_A, values.ROT_A, values.ROT_B, 'hello']);
    // Neither value shows in the containers' labels (the spec hash), the CLI's output or the worker's log.
    const labels = containers.map((c) => sshRun(lab, c.host, `docker inspect -f '{{json .Config.Labels}}' ${c.name}`).stdout).join('\n');
    for (const text of [labels, r.output, worker.output()]) for (const v of [`a-first-${suffix}`, values.ROT_A, values.ROT_B]) expect(text).not.toContain(v);
  });

  test('a secret that is not set fails the start of the container that needs it, once, naming secret, container and host', async () => {
    const before = ids();
    writeSecrets({ ROT_A: values.ROT_A });
    const r = await run();
    expect(r.code).toBe(3);
    expect(r.parked?.map((p) => p.id)).toEqual([`start:${containers[2].name}@controller1`]);
    const error = r.parked![0].error!;
    expect(error).toContain(`host controller1: step start ${containers[2].name}: secret ROT_B is not set: export ROT_B=... in the worker's environment or add a line ROT_B=... to ${path.join(dir, 'secrets.env')}`);
    // Not retried: one attempt of the start that needs it.
    expect(activityAttempts(runHistories(r.runId)).filter((a) => a.attempt > 1)).toEqual([]);
    for (const v of [values.ROT_A, values.ROT_B]) expect(r.output + worker.output()).not.toContain(v);
    expect((await cli(['abort', r.runId], env)).code).toBe(1);
    // Nothing was recreated meanwhile: the container keeps running with the value it had.
    expect(ids()).toEqual(before);
  });
});
