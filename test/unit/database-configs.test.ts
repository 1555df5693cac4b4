// The config files the database images render (images/cassandra, images/zookeeper), from the environment the pipeline
// gives them: each render script runs here with bash, on a fixture's env.list, and must print exactly the fixture's
// expected file. The entrypoints write what these scripts print; the e2e tests run them inside the images.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { PROJECT_ROOT } from '../../lib/paths';

const FIXTURES = path.join(PROJECT_ROOT, 'test', 'fixtures', 'databases');

/** Runs images/IMAGE/SCRIPT with exactly this environment (and the image's own scripts on PATH, as in the image). */
function render(image: string, script: string, env: Record<string, string>, args: string[] = []) {
  const dir = path.join(PROJECT_ROOT, 'images', image);
  const r = spawnSync('bash', [path.join(dir, script), ...args], { env: { PATH: `${dir}:/usr/bin:/bin`, ...env }, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function fixtureEnv(fixture: string): Record<string, string> {
  const lines = fs.readFileSync(path.join(FIXTURES, fixture, 'env.list'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
  return Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

const expected = (fixture: string, file: string) => fs.readFileSync(path.join(FIXTURES, fixture, 'expected', file), 'utf8');

test.each([
  ['cassandra-ring', 'cassandra', 'cassandra-yaml', 'cassandra.yaml'],
  ['zookeeper-ensemble', 'zookeeper', 'kafka-properties', 'server.properties'],
  ['zookeeper-ensemble', 'zookeeper', 'zoo-cfg', 'zoo.cfg'],
  ['zookeeper-single', 'zookeeper', 'kafka-properties', 'server.properties'],
  ['zookeeper-single', 'zookeeper', 'zoo-cfg', 'zoo.cfg'],
])('%s: %s/%s prints exactly the expected %s', (fixture, image, script, file) => {
  const r = render(image, script, fixtureEnv(fixture));
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.stdout).toBe(expected(fixture, file));
});

test('cassandra.yaml: seeds, listen and RPC address default to HOST_IP; cluster name from CASSANDRA_CLUSTER', () => {
  const r = render('cassandra', 'cassandra-yaml', { HOST_IP: '10.0.0.5', CASSANDRA_CLUSTER: 'Lab Ring' });
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^cluster_name: 'Lab Ring'$/m);
  expect(r.stdout).toMatch(/^ {6}- seeds: "10\.0\.0\.5"$/m);
  expect(r.stdout).toMatch(/^listen_address: 10\.0\.0\.5\nrpc_address: 10\.0\.0\.5$/m);
});

test('cassandra.yaml: refuses seeds with ports (4.x syntax) and a cluster name that would break the YAML', () => {
  const ported = render('cassandra', 'cassandra-yaml', { HOST_IP: '10.0.0.5', CASSANDRA_SERVER: '10.0.0.5:7000' });
  expect([ported.code, ported.stdout]).toEqual([64, '']);
  expect(ported.stderr).toBe('cassandra entrypoint: CASSANDRA_SERVER lists addresses with a port (10.0.0.5:7000): Cassandra 3.11 takes addresses only\n');
  const quoted = render('cassandra', 'cassandra-yaml', { HOST_IP: '10.0.0.5', CASSANDRA_CLUSTER: "it's" });
  expect(quoted.code).toBe(64);
  expect(quoted.stderr).toContain('CASSANDRA_CLUSTER may not be empty or hold quotes');
});

test('zookeeper: a node outside its ensemble, or an ensemble without HOST_IP, is refused with the fix', () => {
  const outside = render('zookeeper', 'kafka-properties', { HOST_IP: '10.0.0.9', ZOOKEEPER_SERVER: '10.0.0.1,10.0.0.2,10.0.0.3' });
  expect([outside.code, outside.stdout]).toEqual([64, '']);
  expect(outside.stderr).toBe('zookeeper entrypoint: HOST_IP 10.0.0.9 is not among ZOOKEEPER_SERVER (10.0.0.1,10.0.0.2,10.0.0.3)\n');
  const anonymous = render('zookeeper', 'zoo-cfg', { ZOOKEEPER_SERVER: '10.0.0.1 10.0.0.2' });
  expect(anonymous.code).toBe(64);
  expect(anonymous.stderr).toContain('ZOOKEEPER_SERVER lists 2 hosts: set HOST_IP');
  expect(render('zookeeper', 'zoo-cfg', { HOST_IP: '10.0.0.2', ZOOKEEPER_SERVER: '10.0.0.1 10.0.0.2' }, ['--myid']).stdout).toBe('2\n');
  const badPort = render('zookeeper', 'kafka-properties', { ADVERTISED_PORT: '90x' });
  expect([badPort.code, badPort.stderr]).toEqual([64, "zookeeper entrypoint: ADVERTISED_PORT must be a port number (got '90x')\n"]);
});

test('server.properties: with no address at all, Kafka listens everywhere and advertises loopback, beside a lone ZooKeeper', () => {
  const r = render('zookeeper', 'kafka-properties', {});
  expect(r.code).toBe(0);
  expect(r.stdout).toContain('broker.id=1\nlisteners=PLAINTEXT://0.0.0.0:9092\nadvertised.listeners=PLAINTEXT://127.0.0.1:9092\nzookeeper.connect=127.0.0.1:2181\n');
});
