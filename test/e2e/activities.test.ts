// Activities against the real lab: how each kind of failure is classified (retry or not) and worded.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { buildImage, pushImage } from '../../activities/images';
import { prepareHost } from '../../activities/hosts';
import { labDir } from '../../lib/paths';
import { closeHostConnections } from '../../lib/ssh';
import type { PlannedImage } from '../../model/plan';
import { scratchDir } from '../helpers/files';
import { labStatus, secret, sshRun, uniqueSuffix, type LabStatus } from '../helpers/lab';

jest.setTimeout(120000);
/** Failures are the point of these tests: keep the SDK from logging each one. */
const activityEnv = () => {
  const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
  return { env, run: <A, R>(fn: (arg: A) => Promise<R>, arg: A): Promise<R> => env.run(fn, arg) as Promise<R> };
};
let lab: LabStatus;
beforeAll(() => {
  lab = labStatus();
});
// The activities keep one SSH connection per host open for reuse; end them so jest can exit.
afterAll(() => closeHostConnections());

// As a run passes it (topology registry: address, ca, username, password secret).
const registry = () => ({ address: lab.registry.address, ca: lab.registry.ca, username: lab.registry.username, password: { secret: lab.registry.passwordSecret } });
const ssh = () => ({ user: 'root', keyFile: lab.ssh.keyFile, knownHosts: lab.ssh.knownHosts });

function image(name: string, files: Record<string, string>): PlannedImage {
  return { name, contextDir: scratchDir(files), dockerfile: 'Dockerfile', parent: null, base: 'busybox:local', level: 0, labels: {}, buildArgs: {}, repository: `${lab.registry.address}/${name}` };
}

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(ApplicationFailure);
  return e as ApplicationFailure;
}

test('a failing Dockerfile step is not retried, and the failure carries the last lines of output', async () => {
  const img = image(`bad-${uniqueSuffix()}`, { Dockerfile: 'ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo about-to-fail && false\n' });
  const f = await failureOf(activityEnv().run(buildImage, { runId: 'act-test', release: 't', image: img, parentRef: null, registry: registry() }));
  expect(f.type).toBe('BuildFailed');
  expect(f.nonRetryable).toBe(true);
  expect(f.message).toContain(`build of ${img.name} failed`);
  expect(f.message).toContain('about-to-fail');
  expect(f.message).toContain('Fix the Dockerfile');
});

test('a build streams its output to a log file and heartbeats', async () => {
  const img = image(`ok-${uniqueSuffix()}`, { Dockerfile: 'ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo built-here\n' });
  const env = activityEnv();
  let heartbeats = 0;
  env.env.on('heartbeat', () => heartbeats++);
  const r = await env.run(buildImage, { runId: 'act-test', release: 't', image: img, parentRef: null, registry: registry() });
  expect(r.skipped).toBe(false);
  expect(fs.readFileSync(r.logFile, 'utf8')).toContain('built-here');
  expect(heartbeats).toBeGreaterThan(0);
  // Same inputs again: no build at all.
  const again = await activityEnv().run(buildImage, { runId: 'act-test', release: 't', image: img, parentRef: null, registry: registry() });
  expect(again).toMatchObject({ skipped: true, imageId: r.imageId });
});

test('a registry that refuses the credentials is not retried, and the password never shows', async () => {
  const img = image(`auth-${uniqueSuffix()}`, { Dockerfile: 'ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n' });
  const built = await activityEnv().run(buildImage, { runId: 'act-test', release: 't', image: img, parentRef: null, registry: registry() });
  const wrongPassword = `wrong-${uniqueSuffix()}`;
  process.env.E2E_WRONG_REGISTRY_PASSWORD = wrongPassword;
  try {
    const f = await failureOf(activityEnv().run(pushImage, { image: img.name, tag: built.tag, registry: { ...registry(), password: { secret: 'E2E_WRONG_REGISTRY_PASSWORD' } } }));
    expect(f.type).toBe('RegistryAuthFailed');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toContain('Check the secret E2E_WRONG_REGISTRY_PASSWORD');
    expect(f.message).not.toContain(wrongPassword);
  } finally {
    delete process.env.E2E_WRONG_REGISTRY_PASSWORD;
  }
  expect(secret(lab, lab.registry.passwordSecret)).not.toBe('');
});

test('a registry certificate the worker does not trust is not retried, and says to set registry.ca', async () => {
  const img = image(`untrusted-${uniqueSuffix()}`, { Dockerfile: 'ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n' });
  const built = await activityEnv().run(buildImage, { runId: 'act-test', release: 't', image: img, parentRef: null, registry: registry() });
  const f = await failureOf(activityEnv().run(pushImage, { image: img.name, tag: built.tag, registry: { ...registry(), ca: null } }));
  expect(f.type).toBe('RegistryCertificateUntrusted');
  expect(f.nonRetryable).toBe(true);
  expect(f.message).toContain(`push of ${img.name}`);
  expect(f.message).toContain('Set registry.ca');
});

const host = (name: string, address: string, port = 22) => ({ name, address, sshPort: port, roles: [], directories: [], kernelModules: [] });

test('a changed host key stops that host: no blind trust', async () => {
  const controller = lab.hosts[0];
  const forged = path.join(scratchDir({}), 'known_hosts');
  const otherKey = fs.readFileSync(lab.ssh.knownHosts, 'utf8').split('\n').find((l) => l.startsWith(`${lab.hosts[1].address} `))!.split(' ').slice(1).join(' ');
  fs.writeFileSync(forged, `${controller.address} ${otherKey}\n`);
  const f = await failureOf(activityEnv().run(prepareHost, { host: host(controller.name, controller.address), ssh: { ...ssh(), knownHosts: forged } }));
  expect(f.type).toBe('SshRefused');
  expect(f.nonRetryable).toBe(true);
  expect(f.message).toContain(`host ${controller.name}: verify host key: the host key of ${controller.address} does not match`);
});

test('an unreachable host is retried (it may come back), naming host and step', async () => {
  const kh = path.join(scratchDir({}), 'known_hosts');
  fs.writeFileSync(kh, `[127.0.0.1]:1 ${fs.readFileSync(lab.ssh.knownHosts, 'utf8').split('\n')[0].split(' ').slice(1).join(' ')}\n`);
  const f = await failureOf(activityEnv().run(prepareHost, { host: host('gone', '127.0.0.1', 1), ssh: { ...ssh(), knownHosts: kh } }));
  expect(f.nonRetryable).toBe(false);
  expect(f.message).toContain('host gone: connect: cannot reach 127.0.0.1:1');
});

test('host preparation is idempotent: the second time every item is unchanged', async () => {
  const dir = `/dockervolumes/act-${uniqueSuffix()}`;
  const compute = lab.hosts[1];
  const req = { host: { ...host(compute.name, compute.address), directories: [{ path: dir, mode: '0700', owner: 'root:root' }], kernelModules: ['kvm'] }, ssh: ssh() };
  const first = await activityEnv().run(prepareHost, req);
  expect(first.items).toEqual([{ item: `directory ${dir}`, outcome: 'created' }, { item: 'kernel module kvm', outcome: 'unchanged' }]);
  const second = await activityEnv().run(prepareHost, req);
  expect(second.items.map((i) => i.outcome)).toEqual(['unchanged', 'unchanged']);
  expect(labDir()).toBe(lab.labDir);
});

test('a data directory that its container gave to its service user keeps that owner; a declared owner is enforced', async () => {
  // As the zookeeper and mariadb entrypoints do (chown to their user): a run that took it back to root would leave the
  // running service unable to create files in it (ZooKeeper's acceptedEpoch at its next election).
  const dir = `/dockervolumes/act-owner-${uniqueSuffix()}`;
  const compute = lab.hosts[1];
  const prepare = (owner?: string) => activityEnv().run(prepareHost, { host: { ...host(compute.name, compute.address), directories: [{ path: dir, mode: '0750', ...(owner ? { owner } : {}) }], kernelModules: [] }, ssh: ssh() });
  const stat = () => sshRun(lab, compute.name, `stat -c %a:%u:%g ${dir}`).stdout.trim();
  expect((await prepare()).items).toEqual([{ item: `directory ${dir}`, outcome: 'created' }]);
  expect(stat()).toBe('750:0:0');
  sshRun(lab, compute.name, `chown 100:101 ${dir}`);
  expect((await prepare()).items).toEqual([{ item: `directory ${dir}`, outcome: 'unchanged' }]);
  expect(stat()).toBe('750:100:101');
  expect((await prepare('root:root')).items).toEqual([{ item: `directory ${dir}`, outcome: 'changed' }]);
  expect(stat()).toBe('750:0:0');
  sshRun(lab, compute.name, `rmdir ${dir}`);
});

test('cancelling a build stops it: the activity ends cancelled, and no build container keeps running', async () => {
  const marker = `cancel-${uniqueSuffix()}`;
  const img = image(marker, { Dockerfile: `ARG BASE_IMAGE\nFROM \${BASE_IMAGE}\nRUN echo ${marker} && sleep 120\n` });
  const { env, run } = activityEnv();
  const started = Date.now();
  const building = run(buildImage, { runId: 'act-test', release: 't', image: img, parentRef: null, registry: registry() });
  // Cancel once the RUN step is under way (the build's heartbeats say which step runs).
  await new Promise<void>((resolve) => {
    env.on('heartbeat', (d: { step?: string }) => {
      if (d?.step?.startsWith('Step 3/')) resolve();
    });
  });
  const buildContainers = () => spawnSync('docker', ['-H', lab.docker.host, 'ps', '--no-trunc', '--format', '{{.Command}}'], { encoding: 'utf8' }).stdout;
  for (let i = 0; i < 40 && !buildContainers().includes(marker); i++) await new Promise((r) => setTimeout(r, 250));
  expect(buildContainers()).toContain(marker); // the RUN step is running: the check below can see it
  env.cancel();
  const f = await building.then(() => undefined, (e: unknown) => e as Error);
  expect(f).toBeInstanceOf(ApplicationFailure);
  expect((f as ApplicationFailure).type).toBe('BuildCancelled');
  expect(Date.now() - started).toBeLessThan(60000);
  // The engine stopped the step: no container of that build is left running.
  await new Promise((r) => setTimeout(r, 2000));
  expect(buildContainers()).not.toContain(marker);
});
