// The OpenContrail stand-in images on the lab's build engine: each entrypoint renders exactly its expected files, the
// same on a restart; a missing secret stops it with a clear message; a stand-in stays silent until its dependency
// answers. The images are the pipeline's own builds of topology/lab.yaml (skipped when already built).
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { checkDockerfileFrom, parseCatalogPart } from '../../model/catalog';
import type { ImageSpec } from '../../model/types';
import { PROJECT_ROOT } from '../../lib/paths';
import { uniqueSuffix } from '../helpers/lab';
import { pipelineImages } from '../helpers/images';
import { answers, docker, within } from '../helpers/docker';

const IMAGES = path.join(PROJECT_ROOT, 'images');
const FIXTURES = path.join(PROJECT_ROOT, 'test', 'fixtures', 'entrypoints');
const STANDIN = 'Contrail 3.0 packages are not available on these machines';

const tag = (name: string) => tags.get(name)!;

const catalogFile = (f: string) => path.join(IMAGES, f);
const contrailPart = parseCatalogPart(catalogFile('contrail.yaml'), fs.readFileSync(catalogFile('contrail.yaml'), 'utf8'));
const contrail = contrailPart.images;
/** The images whose entrypoint renders files: each has a fixture directory. */
const rendering = contrail.filter((i) => fs.existsSync(path.join(FIXTURES, i.name)));

function readEnvList(name: string): Record<string, string> {
  const lines = fs.readFileSync(path.join(FIXTURES, name, 'env.list'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
  return Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

function expectedFiles(name: string): Record<string, string> {
  const root = path.join(FIXTURES, name, 'expected');
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else out[`/${path.relative(root, p)}`] = fs.readFileSync(p, 'utf8');
    }
  };
  walk(root);
  return out;
}

/** Runs the entrypoint twice in one container (the second run only if the first succeeds); returns the files under
 * /etc that each run left written, also after a failure. */
function renderTwice(name: string, env: string[]): { code: number; stderr: string; runs: Record<string, string>[] } {
  const dump = (run: number) => `for f in $(find /etc -type f -newer /tmp/mark | sort); do echo "${run} $f $(base64 -w0 "$f")"; done`;
  const script = `touch /tmp/mark; /entrypoint.sh true; rc=$?; ${dump(0)}; [ $rc = 0 ] || exit $rc; /entrypoint.sh true || exit; ${dump(1)}`;
  const r = docker(['run', '--rm', '--network', 'host', ...env, '--entrypoint', '/bin/bash', tag(name), '-c', script]);
  const runs: Record<string, string>[] = [{}, {}];
  for (const line of r.stdout.split('\n').filter(Boolean)) {
    const [run, file, data = ''] = line.split(' ');
    runs[Number(run)][file] = Buffer.from(data, 'base64').toString('utf8');
  }
  return { code: r.code, stderr: r.stderr, runs };
}

let tags = new Map<string, string>();
beforeAll(async () => {
  // Built by the pipeline, parents first, each sub on the exact image its parent build just pushed.
  tags = await pipelineImages(contrail.map((i) => i.name));
}, 1800000);

test('the Contrail catalog: every image builds FROM its catalog parent, stand-ins are marked, labels as the guide has them', () => {
  const subs = contrail.filter((i) => i.ports.length);
  expect(contrail.map((i) => i.name).sort()).toEqual([
    'analytics', 'analytics-alarm', 'analytics-api', 'analytics-collector', 'analytics-query', 'analytics-snmp', 'analytics-topology',
    'config', 'config-api', 'config-device-manager', 'config-discovery', 'config-schema', 'config-svc-monitor', 'contrail-base',
    'control', 'control-control', 'control-dns', 'control-named', 'ifmap', 'vrouter-agent', 'webui', 'webui-job', 'webui-server',
  ]);
  for (const image of contrail) {
    const file = path.join(IMAGES, image.context, image.dockerfile);
    expect([image.name, checkDockerfileFrom(file, image, fs.readFileSync(file, 'utf8'))]).toEqual([image.name, undefined]);
    expect(image.standin).toBe(STANDIN);
  }
  for (const image of subs) {
    const group = image.name === 'vrouter-agent' ? 'vrouter' : image.name === 'ifmap' ? 'config' : image.parent!;
    const node = image.name === 'vrouter-agent' ? 'compute' : 'controller';
    expect([image.name, image.labels]).toEqual([image.name, { 'net.juniper.contrail': group, 'net.juniper.node': node }]);
    expect([image.name, image.health]).toEqual([image.name, { tcp: image.ports[0], timeoutSeconds: 120, command: undefined }]);
  }
  // Every image that runs a process has its fixtures (env.list and the exact files it must render).
  expect(rendering.map((i) => i.name)).toEqual(subs.map((i) => i.name));
  expect(contrail.find((i) => i.name === 'vrouter-agent')).toMatchObject({ privileged: true, volumes: ['/lib/modules:/lib/modules:ro'] });
});

test.each(rendering.map((i) => [i.name, i] as [string, ImageSpec]))('%s renders exactly its expected files, the same on a restart', (name, image) => {
  const r = renderTwice(name, ['--env-file', path.join(FIXTURES, name, 'env.list')]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const expected = expectedFiles(name);
  expect(r.runs[0]).toEqual(expected);
  expect(r.runs[1]).toEqual(expected);
  // The image says what the catalog says: its stand-in listens on the catalog ports and waits only for what it needs.
  const config = JSON.parse(docker(['image', 'inspect', '--format', '{{json .Config}}', tag(name)]).stdout) as { Env: string[]; Entrypoint: string[]; Cmd: string[] };
  const env = Object.fromEntries(config.Env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
  expect(config.Entrypoint).toEqual(['/entrypoint.sh']);
  expect(config.Cmd).toEqual(['standin', name]);
  expect(env.STANDIN_PORTS).toBe(image.ports.join(' '));
  for (const need of (env.STANDIN_NEEDS ?? '').split(' ').filter(Boolean)) expect(image.needs).toContain(need.split(':')[0]);
});

test('a missing secret stops the entrypoint before it writes anything, naming the variable', () => {
  const without = (name: string, drop: string) =>
    Object.entries(readEnvList(name)).filter(([k]) => k !== drop).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
  for (const [name, secret] of [['config-api', 'IFMAP_PASSWORD'], ['control-control', 'ADMIN_PASSWORD'], ['ifmap', 'IFMAP_PASSWORD']]) {
    const r = renderTwice(name, without(name, secret));
    expect([name, r.code, r.runs[0]]).toEqual([name, 64, {}]);
    expect(r.stderr).toContain(`entrypoint ${name}: missing environment: ${secret}`);
  }
  // A password that the IF-MAP users file cannot hold is refused rather than written wrong.
  const bad = renderTwice('ifmap', ['-e', 'CONTROL_SERVER=10.213.57.21', '-e', 'IFMAP_PASSWORD=a:b']);
  expect([bad.code, bad.runs[0]]).toEqual([64, {}]);
  expect(bad.stderr).toContain('IFMAP_PASSWORD may not hold');
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(what: string, seconds: number, check: () => boolean | Promise<boolean>): Promise<void> {
  if (!(await within(seconds, check))) throw new Error(`timed out after ${seconds}s waiting for ${what}`);
}

test('a stand-in does not answer while its dependency is down, names it in its log, and answers once it is up', async () => {
  const [own, dependency] = [await freePort(), await freePort()];
  const container = `cdtest-standin-${uniqueSuffix()}`;
  const env = { ...readEnvList('config-discovery'), HOST_IP: '127.0.0.1', CASSANDRA_SERVER: '127.0.0.1', STANDIN_PORTS: String(own), STANDIN_NEEDS: `CASSANDRA_SERVER:${dependency}` };
  const logs = () => { const r = docker(['logs', container]); return r.stdout + r.stderr; };
  let server: net.Server | undefined;
  try {
    const run = docker(['run', '-d', '--name', container, '--network', 'host', ...Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]), tag('config-discovery')]);
    expect(run.stderr).toBe('');
    await waitFor('the stand-in to report what it waits for', 30, () => logs().includes(`standin config-discovery: waiting for CASSANDRA_SERVER (127.0.0.1, port ${dependency})`));
    await new Promise((r) => setTimeout(r, 1500));
    expect(await answers(own)).toBe(false);

    server = net.createServer((s) => s.destroy());
    await new Promise<void>((resolve) => server!.listen(dependency, '127.0.0.1', resolve));
    await waitFor('the stand-in to answer', 30, () => answers(own));
    expect(logs()).toContain(`standin config-discovery: dependencies answer; listening on 127.0.0.1 ports ${own}`);
  } finally {
    docker(['rm', '-f', container]);
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }
}, 90000);
