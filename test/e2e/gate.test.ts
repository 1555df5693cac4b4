// A health gate proves that the container itself serves: a port answered by another process on the host, while the
// container crash-loops because that process holds its port, must not pass it (found when the smoke stack held
// config-api's port and config-api's gate passed anyway). The normal case still passes.
import { spawn, type ChildProcess } from 'child_process';
import * as path from 'path';
import * as fs from 'fs';
import { PROJECT_ROOT } from '../../lib/paths';
import { tcpProbe } from '../../lib/probes';
import type { RunSummary, Step } from '../../model/steps';
import { within } from '../helpers/docker';
import { scratchDir } from '../helpers/files';
import { cli, labStatus, labTopology, lastJsonLine, sshRun, startWorker, uniqueSuffix, type LabStatus, type WorkerProcess } from '../helpers/lab';

jest.setTimeout(300000);

const suffix = uniqueSuffix();
const env = { CONTRAIL_TASK_QUEUE_PREFIX: `gate-${suffix}` };
const names = { first: `gate-first-${suffix}`, looping: `gate-loop-${suffix}`, healthy: `gate-ok-${suffix}` };
const base = 24000 + Math.floor(Math.random() * 8000);
const ports = { first: base, looping: base + 1, healthy: base + 2 };
let lab: LabStatus;
let worker: WorkerProcess;
let squatter: ChildProcess | undefined;

/** One smoke-web per line: name, stage, port and how long it waits before it listens. */
function topology(name: string, services: { name: string; stage: string; port: number; delay?: number }[]): string {
  const file = path.join(scratchDir({}), `${name}.yaml`);
  fs.writeFileSync(file, labTopology(lab, {
    name: name.replace(/-/g, ''), release: name, catalog: path.join(PROJECT_ROOT, 'images/smoke.yaml'),
    services: services.map((s) => `  - { name: ${s.name}, image: smoke-web, stage: ${s.stage}, roles: [controller], env: { LISTEN_PORT: "${s.port}", START_DELAY: "${s.delay ?? 0}" }, health: { tcp: ${s.port}, timeoutSeconds: 30 } }`).join('\n'),
  }));
  return file;
}

/** Whether something accepts TCP connections there, as the gate's own probe asks. */
const answers = async (address: string, port: number) => (await tcpProbe(address, port, 1000)) === true;

const status = async (runId: string): Promise<RunSummary & { steps: Step[] }> => lastJsonLine((await cli(['status', runId, '--json'], env)).stdout);

beforeAll(async () => {
  lab = labStatus();
  worker = await startWorker(env);
});
afterAll(async () => {
  squatter?.kill();
  await worker?.stop();
  sshRun(lab, 'controller1', `docker rm -f ${Object.values(names).join(' ')} >/dev/null 2>&1`);
});

test("a process other than the container holding the service's port, while the container crash-loops, fails the gate", async () => {
  const address = lab.hosts[0].address;
  const run = cli(['run', topology(`gate-loop-${suffix}`, [
    { name: names.first, stage: 'common', port: ports.first, delay: 8 },
    { name: names.looping, stage: 'database', port: ports.looping },
  ]), '--json'], env);
  // The run's preflight finds the port free. Then, while the first stage waits for its gate, a web server in
  // controller1's own namespaces (a process, not a container) takes the second stage's port, as the smoke stack did.
  expect(await within(120, () => sshRun(lab, 'controller1', `docker ps -q --filter name=${names.first}`).stdout.trim() !== '')).toBe(true);
  squatter = spawn('bash', [path.join(PROJECT_ROOT, 'lab/lab.sh'), 'exec', 'controller1', 'busybox', 'httpd', '-f', '-p', `${address}:${ports.looping}`, '-h', '/tmp'], { stdio: 'ignore' });
  expect(await within(10, () => answers(address, ports.looping))).toBe(true);
  expect(sshRun(lab, 'controller1', `docker ps -q --filter name=${names.looping}`).stdout.trim()).toBe('');

  const r = await run;
  expect(r.code).toBe(3);
  const summary = lastJsonLine<RunSummary>(r.stdout);
  const parked = summary.parked!;
  expect(parked.map((p) => p.id)).toEqual([`health:${names.looping}@controller1`]);
  const error = parked[0].error!;
  // The container, the host, its restart count, what answers instead, its log, what to do.
  expect(error).toContain(`health gate: ${names.looping} on host controller1: container ${names.looping} restarted during its health gate (restart count `);
  expect(error).toMatch(/restart count \d+ when the gate began watching it, \d+ now/);
  expect(error).toContain(`Something else answers on ${address}:${ports.looping}: another process holds the port`);
  expect(error).toContain('`contrail-deploy retry <run-id>`');
  expect(error).toContain(`--- last log lines of ${names.looping} ---`);
  expect(error).toMatch(/bind.*Address (already )?in use/);
  // On the host, as an operator would look: the engine restarts it again and again, the squatter still answers.
  const restarts = Number(sshRun(lab, 'controller1', `docker inspect -f '{{.RestartCount}}' ${names.looping}`).stdout.trim());
  expect(restarts).toBeGreaterThan(0);
  expect(await answers(address, ports.looping)).toBe(true);
  expect((await cli(['abort', summary.runId], env)).code).toBe(1);
});

test('a container that serves its own port passes, and was never restarted', async () => {
  squatter?.kill();
  const r = await cli(['run', topology(`gate-ok-${suffix}`, [{ name: names.healthy, stage: 'common', port: ports.healthy }]), '--json'], env);
  expect(r.code).toBe(0);
  const steps = (await status(lastJsonLine<RunSummary>(r.stdout).runId)).steps;
  expect(steps.find((s) => s.id === `health:${names.healthy}@controller1`)).toMatchObject({ status: 'completed', detail: expect.stringMatching(/^answered after \d+ ms$/) });
  const inspect = sshRun(lab, 'controller1', `docker inspect -f '{{.State.Running}} {{.RestartCount}}' ${names.healthy}`).stdout.trim();
  expect(inspect).toBe('true 0');
  expect(await answers(lab.hosts[0].address, ports.healthy)).toBe(true);
});
