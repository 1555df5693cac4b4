// The lab as a user meets it: `lab status --json`, SSH to each host, private host paths, the TLS registry, Temporal.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { PROJECT_ROOT } from '../../lib/paths';
import { cli, labStatus, registryGet, secret, sshRun, uniqueSuffix, type LabStatus } from '../helpers/lab';

let lab: LabStatus;
beforeAll(() => {
  lab = labStatus();
});

test('lab status --json says what runs where', async () => {
  const r = await cli(['lab', 'status', '--json']);
  expect(r.code).toBe(0);
  const s = JSON.parse(r.stdout) as Omit<LabStatus, 'hosts'> & { temporal: { up: boolean }; registry: { up: boolean }; hosts: { name: string; roles: string[]; up: boolean }[] };
  expect(s.temporal).toMatchObject({ address: '127.0.0.1:7233', ui: 'http://127.0.0.1:8233', up: true });
  expect(fs.existsSync(s.temporal.cli)).toBe(true);
  expect(s.registry).toMatchObject({ address: expect.stringMatching(/^\d+\.\d+\.\d+\.1:5000$/), up: true });
  expect(s.hosts.map((h) => [h.name, h.roles])).toEqual([['controller1', ['controller']], ['compute1', ['compute']], ['compute2', ['compute']]]);
  expect(s.hosts.every((h) => h.up)).toBe(true);
  expect(s.ssh).toEqual({ user: 'root', keyFile: expect.any(String), knownHosts: expect.any(String) });
  expect(fs.statSync(s.secrets).mode & 0o777).toBe(0o600);
});

test('each test host has its own sshd (key only, pinned host key) and its own Docker engine', () => {
  const roots = lab.hosts.map((h) => {
    const r = sshRun(lab, h.name, `docker info --format '{{.DockerRootDir}}'`);
    expect(r.code).toBe(0);
    return r.stdout.trim();
  });
  expect(new Set(roots).size).toBe(lab.hosts.length);
  // Password login is off: without the key, the host refuses.
  const noKey = spawnSync('ssh', ['-o', `UserKnownHostsFile=${lab.ssh.knownHosts}`, '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', 'IdentityFile=/dev/null', `root@${lab.hosts[0].address}`, 'true'], { encoding: 'utf8' });
  expect(noKey.status).not.toBe(0);
  // Each host presents its own host key, as recorded in the lab's known_hosts.
  const keys = fs.readFileSync(lab.ssh.knownHosts, 'utf8').trim().split('\n').map((l) => l.split(' ')[2]);
  expect(new Set(keys).size).toBe(lab.hosts.length);
});

test('a directory made on one host does not appear on another, nor on the machine itself', () => {
  const dir = `/dockervolumes/lab-test-${uniqueSuffix()}`;
  expect(sshRun(lab, 'controller1', `mkdir -p ${dir} && test -d ${dir}`).code).toBe(0);
  try {
    expect(sshRun(lab, 'compute1', `test -d ${dir}`).code).not.toBe(0);
    expect(fs.existsSync(dir)).toBe(false);
  } finally {
    sshRun(lab, 'controller1', `rmdir ${dir}`);
  }
});

test('the registry speaks TLS signed by the lab CA and refuses anonymous access', async () => {
  const anonymous = await registryGet(lab, '/v2/');
  expect(anonymous.status).toBe(401);
  const wrong = await registryGet(lab, '/v2/', { user: lab.registry.username, password: 'wrong-password' });
  expect(wrong.status).toBe(401);
  const ok = await registryGet(lab, '/v2/', { user: lab.registry.username, password: secret(lab, lab.registry.passwordSecret) });
  expect(ok.status).toBe(200);
  // Every lab engine trusts the lab CA for the registry.
  expect(fs.readFileSync(`/etc/docker/certs.d/${lab.registry.address}/ca.crt`, 'utf8')).toBe(fs.readFileSync(lab.registry.ca, 'utf8'));
});

test('Temporal has the pipeline search attributes and keeps history for audit', () => {
  const sa = spawnSync(lab.temporal.cli, ['operator', 'search-attribute', 'list', '--address', lab.temporal.address], { encoding: 'utf8' });
  for (const name of ['ReleaseTag', 'Topology', 'Initiator', 'RunStatus']) expect(sa.stdout).toMatch(new RegExp(`${name}\\s+Keyword`));
  const ns = spawnSync(lab.temporal.cli, ['operator', 'namespace', 'describe', '--namespace', 'default', '--address', lab.temporal.address, '-o', 'json'], { encoding: 'utf8' });
  const retention = Number(/"workflowExecutionRetentionTtl":\s*"(\d+)s"/.exec(ns.stdout)?.[1]);
  expect(retention).toBeGreaterThanOrEqual(30 * 24 * 3600);
});

test('lab up again changes nothing: same engines, same sshd', async () => {
  const pids = () => lab.hosts.map((h) => fs.readFileSync(path.join(lab.labDir, 'hosts', h.name, 'dockerd.pid'), 'utf8').trim());
  const before = pids();
  const r = await cli(['lab', 'up']);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain('controller1');
  expect(pids()).toEqual(before);
});

test('the base images are local: busybox and Debian bookworm, no pull', () => {
  const images = spawnSync('docker', ['-H', lab.docker.host, 'images', '--format', '{{.Repository}}:{{.Tag}}'], { encoding: 'utf8' }).stdout;
  expect(images).toContain('busybox:local');
  expect(images).toContain('debian:bookworm-slim');
  const osRelease = spawnSync('docker', ['-H', lab.docker.host, 'run', '--rm', '--network', 'host', 'debian:bookworm-slim', 'cat', '/etc/os-release'], { encoding: 'utf8' }).stdout;
  expect(osRelease).toContain('bookworm');
});

test('docker-compose.temporal.yml is a valid compose file with pinned images and a persistent volume', () => {
  const file = path.join(PROJECT_ROOT, 'docker-compose.temporal.yml');
  const r = spawnSync('docker-compose', ['-p', 'contrail-temporal', '-f', file, 'config'], { encoding: 'utf8', env: { ...process.env, POSTGRES_PASSWORD: 'x', TEMPORAL_TLS_DIR: '/etc/temporal-tls' } });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  for (const image of ['postgres:16.4-bookworm', 'temporalio/server:1.29.1', 'temporalio/admin-tools:1.29.1', 'temporalio/ui:2.42.1']) expect(r.stdout).toContain(`image: ${image}`);
  expect(r.stdout).toMatch(/volumes:\s+temporal-postgres/);
  for (const sa of ['ReleaseTag', 'Topology', 'Initiator']) expect(r.stdout).toContain(sa);
  // No password has a default: without one, compose refuses.
  const noPassword = spawnSync('docker-compose', ['-f', file, 'config'], { encoding: 'utf8', env: { ...process.env, POSTGRES_PASSWORD: '', TEMPORAL_TLS_DIR: '/etc/temporal-tls' } });
  expect(noPassword.status).not.toBe(0);
});

test('every command answers --help, and bad arguments exit 2 without a stack trace', async () => {
  for (const command of ['lab', 'worker', 'plan', 'images', 'build', 'run', 'status']) {
    const r = await cli([command, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: contrail-deploy /);
  }
  const unknown = await cli(['run', 'topology/smoke.yaml', '--bogus']);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toContain("Unknown option '--bogus'");
  expect(unknown.stderr).not.toMatch(/\n\s+at /);
  const missing = await cli(['run', 'no/such.yaml']);
  expect(missing.code).toBe(2);
  expect(missing.stderr).toContain('no/such.yaml: topology file not found');
});

test('lab up --hosts N adds and removes test hosts; the lab refuses to run without root', async () => {
  const grown = await cli(['lab', 'up', '--hosts', '4']);
  expect(grown.code).toBe(0);
  const four = labStatus();
  expect(four.hosts.map((h) => h.name)).toEqual(['controller1', 'compute1', 'compute2', 'compute3']);
  expect(sshRun(four, 'compute3', 'echo $CONTRAIL_LAB_HOST').stdout.trim()).toBe('compute3');
  const shrunk = await cli(['lab', 'up', '--hosts', '3']);
  expect(shrunk.code).toBe(0);
  expect(labStatus().hosts.map((h) => h.name)).toEqual(['controller1', 'compute1', 'compute2']);
  expect(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout).not.toContain('cdlab-compute3');

  const asNobody = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'bash', path.join(PROJECT_ROOT, 'lab/lab.sh'), 'up'], { encoding: 'utf8' });
  expect(asNobody.status).toBe(3);
  expect(asNobody.stderr.trim()).toBe('lab: the lab needs root (network namespaces, bridges, Docker engines); run it as root or with sudo');
  const badCount = await cli(['lab', 'up', '--hosts', 'many']);
  expect(badCount.code).toBe(2);
  expect(badCount.stderr).toContain("--hosts takes a number from 1 to 50 (got 'many')");
});
