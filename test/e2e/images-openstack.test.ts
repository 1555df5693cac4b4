// The OpenStack and compute images (images/openstack.yaml) on the lab's build engine, each built on the local Debian
// base: the entrypoints render the same files when run twice, exactly the expected settings (fixtures under
// test/fixtures/openstack/<image>/), and refuse to start without passwords; the real services are installed and
// start where that needs no whole cloud; the stand-ins say what they are and wait for their dependencies.
//
// Debian's config files are large commented samples (nova.conf has 10,000 lines), so a fixture holds the file's
// settings: every line that is not blank or a comment, in order, compared exactly. The comment lines are checked
// against the package's own file, so nothing else in the file may change either.
import * as fs from 'fs';
import * as path from 'path';
import { PROJECT_ROOT } from '../../lib/paths';
import { checkDockerfileFrom, parseCatalogPart } from '../../model/catalog';
import type { ImageSpec } from '../../model/types';
import { uniqueSuffix } from '../helpers/lab';
import { pipelineImages } from '../helpers/images';
import { answers, docker, dockerOk, sleep } from '../helpers/docker';

jest.setTimeout(1800000);

const IMAGES_DIR = path.join(PROJECT_ROOT, 'images');
const CATALOG_FILE = path.join(IMAGES_DIR, 'openstack.yaml');
const FIXTURES = path.join(PROJECT_ROOT, 'test', 'fixtures', 'openstack');
const run = uniqueSuffix();

let catalog: Map<string, ImageSpec>;
const built = new Map<string, string>();
const containers: string[] = [];

/** The image of images/NAME as the pipeline built it (see beforeAll). */
function imageFor(name: string): string {
  const tag = built.get(name);
  if (!tag) throw new Error(`${name} was not built`);
  return tag;
}

async function waitForPort(port: number, seconds: number, container: string): Promise<void> {
  for (let i = 0; i < seconds; i++) {
    if (await answers(port)) return;
    if (docker(['inspect', '-f', '{{.State.Running}}', container]).stdout.trim() !== 'true') break;
    await sleep(1000);
  }
  const logs = docker(['logs', '--tail', '30', container]);
  throw new Error(`port ${port} did not answer within ${seconds}s\n--- ${container} ---\n${logs.stdout}${logs.stderr}`);
}

/** Starts a container with host networking (removed in afterAll). */
function start(image: string, args: string[], command: string[] = []): string {
  const name = `os-test-${run}-${containers.length}`;
  containers.push(name);
  dockerOk(['run', '-d', '--name', name, '--network', 'host', ...args, image, ...command]);
  return name;
}

/** Each file's text, as a container prints it with the given entrypoint and command prefix ('' for a missing file). */
function readFiles(image: string, files: string[], entrypoint: string[], envFile?: string): Record<string, string> {
  const script = 'for f; do printf "\\n==> %s <==\\n" "$f"; cat "$f" 2>/dev/null; done; true';
  const args = ['run', '--rm', '--network', 'host', ...(envFile ? ['--env-file', envFile] : []), '--entrypoint', entrypoint[0], image, ...entrypoint.slice(1), 'sh', '-c', script, 'sh', ...files];
  const out = dockerOk(args);
  const texts: Record<string, string> = {};
  const parts = out.split(/\n==> (\S+) <==\n/);
  for (let i = 1; i < parts.length; i += 2) texts[parts[i]] = parts[i + 1];
  return texts;
}

const lines = (text: string) => text.split('\n');
/** The settings of a config file: lines that are neither blank nor comments (# or ;), in order. */
const settings = (text: string) => lines(text).filter((l) => !/^\s*([#;]|$)/.test(l));
const comments = (text: string) => lines(text).filter((l) => /^\s*[#;]/.test(l));

function expectedFiles(fixture: string): string[] {
  const root = path.join(FIXTURES, fixture, 'expected');
  const walk = (dir: string): string[] => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
  return walk(root).map((f) => `/${path.relative(root, f)}`).sort();
}

beforeAll(async () => {
  // A run that was killed leaves its containers on the host network, holding their ports: clear them first.
  const leftovers = docker(['ps', '-aq', '--filter', 'name=^os-test-']).stdout.split('\n').filter(Boolean);
  if (leftovers.length) docker(['rm', '-f', ...leftovers]);
  catalog = new Map(parseCatalogPart(CATALOG_FILE, fs.readFileSync(CATALOG_FILE, 'utf8')).images.map((i) => [i.name, i]));
  for (const [name, tag] of await pipelineImages([...catalog.keys()])) built.set(name, tag);
}, 1800000);

afterAll(() => {
  for (const c of containers) docker(['rm', '-f', c]);
});

test('every Dockerfile builds FROM the parent the catalog names, and every image has its directory', () => {
  for (const image of catalog.values()) {
    const dockerfile = fs.readFileSync(path.join(IMAGES_DIR, image.name, 'Dockerfile'), 'utf8');
    expect(checkDockerfileFrom(CATALOG_FILE, image, dockerfile)).toBeUndefined();
  }
  // Every image with a fixture is in the catalog (a fixture per entrypoint, named after the image it runs in).
  for (const fixture of fs.readdirSync(FIXTURES)) expect(catalog.has(fixture)).toBe(true);
});

// One fixture per entrypoint: the family bases carry the shared entrypoint; nova-compute adds nova-compute.conf,
// glance's entrypoint renders the file of the image's own service.
const FIXTURE_NAMES = fs.readdirSync(FIXTURES).sort();

test.each(FIXTURE_NAMES)('%s: the entrypoint run twice renders the same files, with exactly the expected settings', (fixture) => {
  const image = imageFor(fixture);
  const envFile = path.join(FIXTURES, fixture, 'env.list');
  const files = expectedFiles(fixture);
  const packaged = readFiles(image, files, ['sh', '-c', 'exec "$@"', 'sh']);
  const once = readFiles(image, files, ['/entrypoint.sh'], envFile);
  const twice = readFiles(image, files, ['/entrypoint.sh', '/entrypoint.sh'], envFile);
  for (const file of files) {
    expect(twice[file]).toBe(once[file]);
    expect(settings(twice[file])).toEqual(settings(fs.readFileSync(path.join(FIXTURES, fixture, 'expected', file), 'utf8')));
    expect(comments(twice[file])).toEqual(comments(packaged[file]));
  }
});

test.each([
  ['nova', ['MYSQL_SERVER=198.51.100.16'], 'NOVA_DB_PASSWORD/ADMIN_PASSWORD must be set'],
  ['nova', ['RABBIT_SERVER=198.51.100.15', 'ADMIN_PASSWORD=test-only-not-a-secret'], 'RABBIT_PASSWORD must be set'],
  ['nova-compute', ['KEYSTONE_SERVER=198.51.100.13', 'ADMIN_PASSWORD=test-only-not-a-secret'], 'HOST_IP must be set for nova-compute'],
  ['neutron-server', ['CONFIG_API_SERVER=198.51.100.31', 'KEYSTONE_SERVER=198.51.100.13', 'ADMIN_PASSWORD=test-only-not-a-secret'], 'ADMIN_TOKEN must be set'],
  ['glance-api', ['KEYSTONE_SERVER=198.51.100.13'], 'GLANCE_PASSWORD/ADMIN_PASSWORD must be set'],
  ['cinder', ['MYSQL_SERVER=198.51.100.16'], 'CINDER_DB_PASSWORD/ADMIN_PASSWORD must be set'],
  ['placement', ['HOST_IP=198.51.100.11', 'MYSQL_SERVER=198.51.100.16', 'KEYSTONE_SERVER=198.51.100.13'], 'PLACEMENT_DB_PASSWORD/ADMIN_PASSWORD must be set'],
])('%s refuses to start without a password it needs (%j)', (name, env, message) => {
  const r = docker(['run', '--rm', '--network', 'host', ...env.flatMap((e) => ['-e', e]), imageFor(name), 'echo', 'started']);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain(message);
  expect(r.stdout).not.toContain('started');
});

// The real services, as far as they run without a cloud around them: the binary of the packaged version answers.
test.each([
  ['nova-api', ['nova-api', '--version'], /^26\.\d+\.\d+$/m],
  ['nova-conductor', ['nova-conductor', '--version'], /^26\.\d+\.\d+$/m],
  ['nova-scheduler', ['nova-scheduler', '--version'], /^26\.\d+\.\d+$/m],
  ['nova-novncproxy', ['nova-novncproxy', '--version'], /^26\.\d+\.\d+$/m],
  ['nova-compute', ['nova-compute', '--version'], /^26\.\d+\.\d+$/m],
  ['neutron-server', ['neutron-server', '--version'], /^neutron-server 21\.\d+\.\d+$/m],
  ['glance-api', ['glance-api', '--version'], /^25\.\d+\.\d+$/m],
  ['cinder-api', ['cinder-api', '--version'], /^21\.\d+\.\d+$/m],
  ['cinder-scheduler', ['cinder-scheduler', '--version'], /^21\.\d+\.\d+$/m],
  ['placement', ['placement-manage', '--version'], /^8\.\d+\.\d+$/m],
])('%s: the Debian service is installed and runs (%j)', (name, command, version) => {
  const r = docker(['run', '--rm', '--network', 'host', '-e', 'HOST_IP=127.0.0.1', imageFor(name), ...command]);
  expect(r.code).toBe(0);
  expect(`${r.stdout}${r.stderr}`).toMatch(version);
  expect(catalog.get(name)!.standin).toBeNull();
});

test('nova-novncproxy serves noVNC on its catalog port without the rest of the cloud', async () => {
  const spec = catalog.get('nova-novncproxy')!;
  const c = start(imageFor('nova-novncproxy'), ['-e', 'HOST_IP=127.0.0.1']);
  await waitForPort(spec.health!.tcp!, 60, c);
  expect(docker(['exec', c, 'bash', '-c', 'exec 3<>/dev/tcp/127.0.0.1/6080; printf "GET /vnc_lite.html HTTP/1.0\\r\\n\\r\\n" >&3; cat <&3']).stdout).toMatch(/^HTTP\/1\.[01] 200/);
});

test('libvirt: libvirtd -l answers on TCP 16509 on HOST_IP, and virsh reaches QEMU through it', async () => {
  const spec = catalog.get('libvirt')!;
  expect(spec.privileged).toBe(true);
  // The catalog runs it privileged; where this sandbox's engine cannot grant that, the listener is tested without.
  const image = imageFor('libvirt');
  const probe = docker(['run', '--rm', '--privileged', '--network', 'host', '--entrypoint', 'true', image]);
  const privileged = probe.code === 0 ? ['--privileged'] : [];
  const c = start(image, [...privileged, '-e', 'HOST_IP=127.0.0.1']);
  await waitForPort(spec.health!.tcp!, 60, c);
  const v = docker(['exec', c, 'virsh', '-c', 'qemu+tcp://127.0.0.1/system', 'version']);
  expect(v.code).toBe(0);
  expect(v.stdout).toMatch(/Running hypervisor: QEMU \d+/);
});

test.each(['nova-cert', 'nova-consoleauth', 'glance-registry'])('%s is a named stand-in that waits for its dependencies', async (name) => {
  const spec = catalog.get(name)!;
  expect(spec.standin).toMatch(/removed from OpenStack/);
  const config = JSON.parse(dockerOk(['inspect', '-f', '{{json .Config}}', imageFor(name)])) as { Cmd: string[]; Env: string[] };
  expect(config.Cmd).toEqual(['standin', name]);
  expect(config.Env).toContain(`STANDIN_PORTS=${spec.ports.join(' ')}`);
  // No dependency is set: the real entrypoint renders what it can, then the stand-in names what it waits for.
  const c = start(imageFor(name), []);
  await sleep(3000);
  const logs = docker(['logs', c]);
  expect(logs.stdout).toContain(`standin ${name}: STAND-IN, not the real software`);
  expect(logs.stdout).toMatch(new RegExp(`standin ${name}: waiting for [A-Z_]+ \\(not set\\)`));
  expect(await answers(spec.ports[0])).toBe(false);
});

test('horizon: Apache serves the dashboard login page on its catalog port', async () => {
  const spec = catalog.get('horizon')!;
  const c = start(imageFor('horizon'), ['-e', 'HOST_IP=127.0.0.1', '-e', 'KEYSTONE_SERVER=127.0.0.1']);
  await waitForPort(spec.health!.tcp!, 60, c);
  const page = docker(['exec', c, 'bash', '-c', 'exec 3<>/dev/tcp/127.0.0.1/80; printf "GET /horizon/auth/login/ HTTP/1.0\\r\\nHost: 127.0.0.1\\r\\n\\r\\n" >&3; cat <&3']).stdout;
  expect(page).toMatch(/^HTTP\/1\.[01] 200/);
  expect(page).toContain('<title>Login - OpenStack Dashboard</title>');
});
