// No secret value leaves the worker: a whole run with known secrets (registry password, a service password, the SSH
// key), then every place a value could leak is scanned: the complete workflow history, search attributes and
// memo-like fields (describe), the CLI's output, the worker's log, and a failure message from a refusing registry.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { PROJECT_ROOT } from '../../lib/paths';
import { keyedDigest } from '../../lib/secrets';
import type { RunSummary } from '../../model/steps';
import { scratchDir } from '../helpers/files';
import { activityAttempts, decodedPayloads, runHistories } from '../helpers/history';
import { cli, labStatus, labTopology, lastJsonLine, secret, sshRun, startWorker, uniqueSuffix, type LabStatus, type WorkerProcess } from '../helpers/lab';

jest.setTimeout(300000);

const suffix = uniqueSuffix();
const env = { CONTRAIL_TASK_QUEUE_PREFIX: `sec-${suffix}` };
const service = `sec-web-${suffix}`;
const port = 23000 + Math.floor(Math.random() * 9000);
let lab: LabStatus;
let worker: WorkerProcess;

/** The values that must never appear, each with a name for the failure message. */
function knownSecrets(): Record<string, string> {
  const key = fs.readFileSync(lab.ssh.keyFile, 'utf8');
  // The private key's base64 body: any one line of it would be a leak.
  const keyLines = key.split('\n').filter((l) => l && !l.startsWith('-----'));
  // The key of the secret digests in the spec hashes (made on the worker by the run), and the digest itself: neither
  // leaves the worker either.
  const digestKey = Buffer.from(fs.readFileSync(path.join(path.dirname(lab.secrets), 'secret-digest.key'), 'utf8').trim(), 'hex');
  return {
    LAB_REGISTRY_PASSWORD: secret(lab, 'LAB_REGISTRY_PASSWORD'),
    LAB_ADMIN_PASSWORD: secret(lab, 'LAB_ADMIN_PASSWORD'),
    ...Object.fromEntries(keyLines.map((l, i) => [`ssh key line ${i + 1}`, l])),
    'the secret digest key': digestKey.toString('hex'),
    'the keyed digest of LAB_ADMIN_PASSWORD': keyedDigest(secret(lab, 'LAB_ADMIN_PASSWORD'), digestKey),
  };
}

function expectNoSecret(where: string, text: string): void {
  expect(text.length).toBeGreaterThan(0);
  for (const [name, value] of Object.entries(knownSecrets())) {
    if (text.includes(value)) throw new Error(`${where} contains the value of ${name}`);
  }
}

function temporal(args: string[]): string {
  const r = spawnSync(lab.temporal.cli, [...args, '--address', lab.temporal.address], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`temporal ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

let run: { code: number; stdout: string; stderr: string };
let summary: RunSummary;

beforeAll(async () => {
  lab = labStatus();
  const dir = scratchDir({});
  const topology = path.join(dir, 'sec.yaml');
  fs.writeFileSync(topology, labTopology(lab, {
    name: `sec${suffix}`, release: `sec-${suffix}`, catalog: path.join(PROJECT_ROOT, 'images/smoke.yaml'),
    // The service gets the admin password: the container needs the value, nothing on the way may keep it.
    services: `  - { name: ${service}, image: smoke-web, stage: common, roles: [controller], env: { LISTEN_PORT: "${port}", GREETING: { secret: LAB_ADMIN_PASSWORD } }, health: { tcp: ${port}, timeoutSeconds: 30 } }`,
  }));
  worker = await startWorker(env);
  // --no-cache: build and push for real, so the registry password is used by every step that can use it.
  run = await cli(['run', topology, '--json', '--no-cache'], env);
  if (run.code !== 0) throw new Error(`run failed:\n${run.stdout}\n${run.stderr}`);
  summary = lastJsonLine<RunSummary>(run.stdout);
});
afterAll(async () => {
  await worker?.stop();
  sshRun(lab, 'controller1', `docker rm -f ${service} >/dev/null 2>&1`);
});

test('the container got the real value (so the scan below looks for something that was really used)', () => {
  const served = sshRun(lab, 'controller1', `wget -qO- http://${lab.hosts[0].address}:${port}/smoke.conf`);
  expect(served.stdout).toContain(`greeting = ${secret(lab, 'LAB_ADMIN_PASSWORD')}`);
});

test('the complete history of the run and of all its children carries secret names only', () => {
  const histories = runHistories(summary.runId);
  // The run and its parts: the image tree and the hosts of its one stage (preparation, bring-up), started together.
  expect(histories.map((h) => h.workflowId).sort()).toEqual([summary.runId, `${summary.runId}/images`, `${summary.runId}/stage/common`]);
  for (const h of histories) expectNoSecret(`the history of ${h.workflowId}`, h.raw);
  // Payloads are base64 in the JSON: decode each and scan it too.
  const payloads = decodedPayloads(histories);
  expect(payloads.length).toBeGreaterThan(5);
  expectNoSecret('a decoded history payload', payloads.join('\n'));
  expect(payloads.join('\n')).toContain('LAB_ADMIN_PASSWORD');
});

test('search attributes, summary and details (describe) carry no secret', () => {
  for (const { workflowId } of runHistories(summary.runId)) {
    expectNoSecret(`describe ${workflowId}`, temporal(['workflow', 'describe', '--workflow-id', workflowId, '--output', 'json']));
  }
});

test('the CLI output and the worker log carry no secret', () => {
  expectNoSecret('the CLI output', run.stdout + run.stderr);
  expectNoSecret('the worker log', worker.output());
});

test('a registry that refuses the credentials: the failure names the secret, never its value, and is not retried', async () => {
  // A topology whose registry password is a secret that holds a wrong value, on a worker of its own.
  const wrong = `wrong-${suffix}-password`;
  const wrongEnv = { CONTRAIL_TASK_QUEUE_PREFIX: `secw-${suffix}`, SEC_WRONG_PASSWORD: wrong };
  const badWorker = await startWorker(wrongEnv);
  try {
    const topology = path.join(scratchDir({}), 'bad.yaml');
    fs.writeFileSync(topology, labTopology(lab, { name: `secw${suffix}`, release: `secw-${suffix}`, catalog: path.join(PROJECT_ROOT, 'images/smoke.yaml'), passwordSecret: 'SEC_WRONG_PASSWORD', services: `  - { name: w-${suffix}, image: smoke-web, stage: common, roles: [controller] }` }));
    const r = await cli(['build', topology, '--json'], wrongEnv);
    expect(r.code).toBe(3);
    const parked = lastJsonLine<RunSummary>(r.stdout).parked![0];
    expect(parked.error).toContain('refused the credentials');
    expect(parked.error).toContain('Check the secret SEC_WRONG_PASSWORD');
    const aborted = await cli(['abort', lastJsonLine<RunSummary>(r.stdout).runId, '--json'], wrongEnv);
    expect(aborted.code).toBe(1);
    const histories = runHistories(lastJsonLine<RunSummary>(r.stdout).runId);
    // Not retried: one attempt of the refused step.
    expect(activityAttempts(histories).filter((a) => a.attempt > 1)).toEqual([]);
    for (const text of [r.stdout, r.stderr, aborted.stdout, badWorker.output(), ...histories.map((h) => h.raw)]) expect(text).not.toContain(wrong);
  } finally {
    await badWorker.stop();
  }
});
