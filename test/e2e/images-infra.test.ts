// The infrastructure images (images/infra.yaml) on the lab's build engine: each built on the local Debian base,
// started with host networking on loopback, its catalog health check passing, and the real service (or the
// stand-in) answering (Cassandra: on the lab hosts, in cassandra-ring.test.ts); entrypoints render the same files when run twice and refuse to start without passwords.
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import { PROJECT_ROOT } from '../../lib/paths';
import { checkDockerfileFrom, parseCatalogPart } from '../../model/catalog';
import type { ImageSpec } from '../../model/types';
import { uniqueSuffix } from '../helpers/lab';
import { pipelineImages } from '../helpers/images';
import { talk as talkTo } from '../helpers/net';
import { answers, docker, dockerOk, sleep, type DockerResult } from '../helpers/docker';

jest.setTimeout(600000);

const IMAGES_DIR = path.join(PROJECT_ROOT, 'images');
const CATALOG_FILE = path.join(IMAGES_DIR, 'infra.yaml');
const HOST_IP = '127.0.0.1';
const run = uniqueSuffix();
// Fresh secrets per run: nothing here may rely on a default.
const secrets = {
  rabbit: randomBytes(12).toString('hex'),
  cookie: randomBytes(16).toString('hex'),
  mysqlRoot: `r${randomBytes(8).toString('hex')}'"\\x`, // quotes and a backslash: the entrypoint must escape them in SQL
  keystoneDb: randomBytes(12).toString('hex'),
  adminToken: randomBytes(12).toString('hex'),
  admin: randomBytes(12).toString('hex'),
};

/** The environment each image runs with here, as the pipeline would give it on a one-host topology. */
const ENV: Record<string, Record<string, string>> = {
  redis: { HOST_IP },
  memcached: { HOST_IP },
  rabbitmq: { HOST_IP, RABBIT_PASSWORD: secrets.rabbit, RABBITMQ_ERLANG_COOKIE: secrets.cookie },
  mariadb: { HOST_IP, MYSQL_ROOT_PASSWORD: secrets.mysqlRoot },
  keystone: { HOST_IP, ADMIN_TOKEN: secrets.adminToken, MYSQL_SERVER: HOST_IP, KEYSTONE_DB_PASSWORD: secrets.keystoneDb, MEMCACHED_SERVER: HOST_IP },
  zookeeper: { HOST_IP, ZOOKEEPER_SERVER: HOST_IP },
  cassandra: { HOST_IP, CASSANDRA_SERVER: HOST_IP },
};

let catalog: Map<string, ImageSpec>;
const built = new Map<string, string>();
const containers: string[] = [];
const scratch: string[] = [];
const running: Record<string, string> = {};

const envArgs = (env: Record<string, string>) => Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
const logs = (container: string) => {
  const r = docker(['logs', '--tail', '40', container]);
  return `--- last log lines of ${container} ---\n${r.stdout}${r.stderr}`;
};

/** The image of images/NAME as the pipeline built it (see beforeAll). */
function imageFor(name: string): string {
  const tag = built.get(name);
  if (!tag) throw new Error(`${name} was not built`);
  return tag;
}

/** A conversation with the service on HOST_IP:port (see test/helpers/net.ts). */
const talk = (port: number, send: string | Buffer | null, until?: RegExp, timeoutMs?: number) => talkTo(HOST_IP, port, send, until, timeoutMs);

function httpRequest(port: number, urlPath: string, body?: unknown): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    // agent: false, a connection per request: uwsgi closes after each response, and a reused one would hang up.
    const req = http.request({ host: HOST_IP, port, path: urlPath, agent: false, method: data ? 'POST' : 'GET', headers: data ? { 'content-type': 'application/json' } : {} }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

/** These tests take the services' default ports on loopback; someone else holding one is a clear failure. */
async function assertPortsFree(ports: number[]): Promise<void> {
  for (const port of ports) {
    if (await answers(port)) throw new Error(`port ${port} on ${HOST_IP} is already in use by something else: stop it before running this test`);
  }
}

/** Starts images/NAME with host networking, its test environment and the extra docker run arguments. */
async function start(name: string, extra: string[] = [], env = ENV[name]): Promise<string> {
  const image = imageFor(name);
  await assertPortsFree(catalog.get(name)!.ports);
  const container = `infra-test-${name}-${run}`;
  containers.push(container);
  dockerOk(['run', '-d', '--name', container, '--network', 'host', ...envArgs(env), ...extra, image]);
  running[name] = container;
  return container;
}

/** Waits until the image's catalog health check passes: its TCP port answers and its command (if any) succeeds. */
async function waitHealthy(name: string, container: string): Promise<void> {
  const health = catalog.get(name)!.health!;
  const deadline = Date.now() + health.timeoutSeconds * 1000;
  let last = '';
  while (Date.now() < deadline) {
    if (docker(['inspect', '-f', '{{.State.Running}}', container]).stdout.trim() !== 'true') {
      throw new Error(`${container} stopped before its health check passed\n${logs(container)}`);
    }
    // The port the catalog's check probes: its TCP port, or its HTTP check's port.
    const port = health.tcp ?? health.http?.port;
    const portOk = port === undefined || (await answers(port));
    const command = portOk && health.command ? docker(['exec', container, ...health.command]) : undefined;
    if (portOk && (!command || command.code === 0)) return;
    last = portOk ? `${health.command!.join(' ')}: ${(command!.stderr || command!.stdout).trim()}` : `port ${port} does not answer`;
    await sleep(1000);
  }
  throw new Error(`${container}: health check did not pass within ${health.timeoutSeconds}s (${last})\n${logs(container)}`);
}

/** `docker run` of images/NAME in the foreground: for entrypoints that must refuse to start. */
function runOnce(name: string, env: Record<string, string>, command: string[] = []): DockerResult {
  return docker(['run', '--rm', '--network', 'host', ...envArgs(env), imageFor(name), ...command], { timeoutMs: 120000 });
}

function without(env: Record<string, string>, key: string): Record<string, string> {
  const copy = { ...env };
  delete copy[key];
  return copy;
}

beforeAll(async () => {
  const part = parseCatalogPart(CATALOG_FILE, fs.readFileSync(CATALOG_FILE, 'utf8'));
  catalog = new Map(part.images.map((i) => [i.name, i]));
  for (const [name, tag] of await pipelineImages([...catalog.keys()])) built.set(name, tag);
}, 1800000);

afterAll(() => {
  for (const container of containers) docker(['rm', '-f', container]);
  for (const dir of scratch) fs.rmSync(dir, { recursive: true, force: true });
});

test('infra.yaml is a valid catalog part: every image builds on its parent, Dockerfiles agree, nothing is a stand-in', () => {
  expect([...catalog.keys()].sort()).toEqual(['cassandra', 'jre', 'keystone', 'mariadb', 'memcached', 'rabbitmq', 'redis', 'zookeeper']);
  // The JVM services share the jre layer (it runs nothing itself); keystone is an OpenStack family, on openstack-base
  // (images/openstack.yaml).
  const sharedParent: Record<string, string> = { cassandra: 'jre', zookeeper: 'jre', keystone: 'openstack-base' };
  for (const image of catalog.values()) {
    const parent = sharedParent[image.name] ?? 'base';
    expect([image.name, image.parent, image.standin]).toEqual([image.name, parent, null]);
    expect(image.labels['net.contrail-deploy.standin']).toBeUndefined();
    if (image.name !== 'jre') expect([image.name, image.labels['net.juniper.node'], Boolean(image.health)]).toEqual([image.name, 'controller', true]);
    const dockerfile = fs.readFileSync(path.join(IMAGES_DIR, image.context, image.dockerfile), 'utf8');
    expect(checkDockerfileFrom(CATALOG_FILE, image, dockerfile)).toBeUndefined();
    expect(dockerfile).toMatch(new RegExp(`^ARG BASE_IMAGE=${parent}$`, 'm'));
    // Package sources come from the base image (and Maven's default, or MAVEN_REPO): no address, no password.
    expect(dockerfile).not.toMatch(/https?:\/\/|PASSWORD=|COOKIE=|standin/);
  }
  expect(catalog.get('keystone')!.needs).toEqual(['MYSQL_SERVER', 'MEMCACHED_SERVER']);
  expect(catalog.get('jre')!.ports).toEqual([]);
  // Health asks the services themselves, from the inside; the ring and the ensemble are the quorum checks.
  expect(catalog.get('cassandra')!.health!.command).toEqual(['cql', 'health']);
  expect(catalog.get('cassandra')!.quorum!.command).toEqual(['cql', 'ring']);
  expect(catalog.get('zookeeper')!.health!.command).toEqual(['kafka-health']);
});

test('redis: real Redis answers PING on HOST_IP, protected mode off only because it binds that address', async () => {
  const container = await start('redis');
  await waitHealthy('redis', container);
  expect(await talk(6379, 'PING\r\n', /\r\n/)).toBe('+PONG\r\n');
  expect(await talk(6379, 'SET infra-test ok\r\nGET infra-test\r\n', /ok\r\n$/)).toBe('+OK\r\n$2\r\nok\r\n');
  expect(dockerOk(['exec', container, 'redis-cli', '-h', HOST_IP, 'CONFIG', 'GET', 'protected-mode'])).toContain('no');
  // Without HOST_IP it listens everywhere and keeps protected mode on.
  expect(runOnce('redis', {}, ['cat', '/etc/redis/contrail.conf']).stdout).toMatch(/^bind 0\.0\.0\.0\nprotected-mode yes$/m);
});

test('memcached: real memcached answers version, set and get on 11211', async () => {
  const container = await start('memcached');
  await waitHealthy('memcached', container);
  expect(await talk(11211, 'version\r\n', /\r\n/)).toMatch(/^VERSION 1\.6\.\d+\r\n$/);
  expect(await talk(11211, 'set infra 0 60 2\r\nok\r\nget infra\r\n', /END\r\n/)).toBe('STORED\r\nVALUE infra 0 2\r\nok\r\nEND\r\n');
});

test('rabbitmq: refuses to start without its password or cookie; then speaks AMQP and knows only the given password', async () => {
  for (const missing of ['RABBIT_PASSWORD', 'RABBITMQ_ERLANG_COOKIE']) {
    const r = runOnce('rabbitmq', without(ENV.rabbitmq, missing));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`rabbitmq entrypoint: ${missing} is not set`);
  }
  const container = await start('rabbitmq');
  await waitHealthy('rabbitmq', container);
  // The AMQP 0-9-1 protocol header gets a Connection.Start frame from the broker.
  const connectionStart = await talk(5672, Buffer.from('AMQP\x00\x00\x09\x01', 'latin1'), /RabbitMQ[\s\S]*PLAIN/);
  expect(connectionStart).toContain('RabbitMQ');
  expect(docker(['exec', container, 'rabbitmqctl', '-q', 'authenticate_user', 'guest', secrets.rabbit]).code).toBe(0);
  expect(docker(['exec', container, 'rabbitmqctl', '-q', 'authenticate_user', 'guest', 'guest']).code).not.toBe(0);
});

test('mariadb: refuses to start without a root password; answers SELECT 1 with it; a restart keeps the data directory', async () => {
  const r = runOnce('mariadb', without(ENV.mariadb, 'MYSQL_ROOT_PASSWORD'));
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain('mariadb entrypoint: MYSQL_ROOT_PASSWORD is not set');
  // A scratch directory stands in for the host's /dockervolumes/mariadb1 (the catalog's volume).
  const volume = catalog.get('mariadb')!.volumes[0].split(':')[1];
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'infra-mariadb-'));
  scratch.push(dataDir);
  const container = await start('mariadb', ['-v', `${dataDir}:${volume}`]);
  await waitHealthy('mariadb', container);
  const select = (password: string) => docker(['exec', container, 'mariadb', '-h', HOST_IP, '-u', 'root', `-p${password}`, '-N', '-e', 'SELECT 1']);
  expect(select(secrets.mysqlRoot)).toMatchObject({ code: 0, stdout: '1\n' });
  expect(select('wrong').code).not.toBe(0);
  expect(fs.existsSync(path.join(dataDir, 'mysql'))).toBe(true);

  dockerOk(['restart', container]);
  await waitHealthy('mariadb', container);
  expect(select(secrets.mysqlRoot).code).toBe(0);
  const initialised = docker(['logs', container]).stdout.match(/initialising an empty/g) ?? [];
  expect(initialised).toHaveLength(1);
});

test('zookeeper: real ZooKeeper answers ruok/srvr; Kafka takes a topic and a message, and starts only once ZooKeeper serves', async () => {
  const container = await start('zookeeper');
  await waitHealthy('zookeeper', container);
  expect(await talk(2181, 'ruok')).toBe('imok');
  expect(await talk(2181, 'srvr')).toMatch(/Zookeeper version: 3\.8\.4[\s\S]*Mode: standalone/);
  // The health check's own words: this node's broker (id 1, its ZooKeeper id) is registered in ZooKeeper.
  expect(dockerOk(['exec', container, 'kafka-health'])).toMatch(/^zookeeper on 127\.0\.0\.1:2181: imok; broker 1 registered: .*"PLAINTEXT:\/\/127\.0\.0\.1:9092"/);
  // As a user would, with Kafka's own tools inside the container: a topic, a message in, the same message out.
  const kafka = (tool: string, args: string[], input?: string) => docker(['exec', '-i', container, tool, '--bootstrap-server', `${HOST_IP}:9092`, ...args], { input, timeoutMs: 120000 });
  const topic = `infra-${run}`;
  expect(kafka('kafka-topics', ['--create', '--topic', topic, '--partitions', '1', '--replication-factor', '1'])).toMatchObject({ code: 0, stdout: `Created topic ${topic}.\n` });
  expect(kafka('kafka-console-producer', ['--topic', topic], `hello from ${run}\n`).code).toBe(0);
  const consumed = kafka('kafka-console-consumer', ['--topic', topic, '--from-beginning', '--max-messages', '1', '--timeout-ms', '60000']);
  expect([consumed.code, consumed.stdout]).toEqual([0, `hello from ${run}\n`]);

  // Both down, then Kafka alone: the broker must not start until ZooKeeper serves again.
  dockerOk(['exec', container, 'supervisorctl', 'stop', 'kafka', 'zookeeper']);
  expect(await answers(2181)).toBe(false);
  dockerOk(['exec', container, 'supervisorctl', 'start', 'kafka']);
  for (let i = 0; i < 5; i++) {
    expect(await answers(9092)).toBe(false);
    await sleep(1000);
  }
  expect(docker(['logs', '--tail', '20', container]).stdout).toContain('kafka: waiting for ZooKeeper on 127.0.0.1:2181 to serve (be in a quorum)');
  dockerOk(['exec', container, 'supervisorctl', 'start', 'zookeeper']);
  await waitHealthy('zookeeper', container);
  expect(docker(['logs', container]).stdout).toContain('kafka: ZooKeeper on 127.0.0.1:2181 serves; starting the broker');
});

// Cassandra (images/infra.yaml's cassandra) is started where it runs for real, on the three lab hosts as a ring: its
// Thrift and CQL answers, its data under the host volume and its quorum check are tested in cassandra-ring.test.ts
// (one set of JVM starts for both, rather than a node here too).

test('keystone: refuses to start without ADMIN_TOKEN; serves v3 on 5000 and 35357 and issues a token from MariaDB', async () => {
  const r = runOnce('keystone', without(ENV.keystone, 'ADMIN_TOKEN'));
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain('keystone entrypoint: ADMIN_TOKEN is not set');
  // Keystone keeps identities in MariaDB and caches in memcached: it runs against the containers started above.
  if (!running.mariadb || !running.memcached) throw new Error('the keystone test needs the mariadb and memcached containers of the tests above');
  dockerOk(['exec', running.mariadb, 'mariadb', '-e', `CREATE DATABASE keystone; CREATE USER 'keystone'@'%' IDENTIFIED BY '${secrets.keystoneDb}'; GRANT ALL ON keystone.* TO 'keystone'@'%';`]);

  // With the admin's password its entrypoint bootstraps Keystone, and its health check signs in as the admin.
  const container = await start('keystone', [], { ...ENV.keystone, ADMIN_PASSWORD: secrets.admin });
  await waitHealthy('keystone', container);
  for (const port of [5000, 35357]) {
    const v3 = await httpRequest(port, '/v3');
    expect(v3.status).toBe(200);
    expect(JSON.parse(v3.body)).toMatchObject({ version: { id: expect.stringMatching(/^v3\./), status: 'stable' } });
  }
  // The bootstrap step of the start order: schema, admin user, endpoints. Then a password login gets a token.
  dockerOk(['exec', '-u', 'keystone', container, 'keystone-manage', 'db_sync']);
  dockerOk(['exec', '-u', 'keystone', container, 'keystone-manage', 'bootstrap', '--bootstrap-password', secrets.admin, '--bootstrap-public-url', `http://${HOST_IP}:5000/v3/`, '--bootstrap-region-id', 'RegionOne']);
  const auth = (password: string) => ({
    auth: {
      identity: { methods: ['password'], password: { user: { name: 'admin', domain: { id: 'default' }, password } } },
      scope: { project: { name: 'admin', domain: { id: 'default' } } },
    },
  });
  const token = await httpRequest(5000, '/v3/auth/tokens', auth(secrets.admin));
  expect(token.status).toBe(201);
  expect(token.headers['x-subject-token']).toMatch(/^gAAAA/); // a Fernet token
  expect((await httpRequest(35357, '/v3/auth/tokens', auth('wrong'))).status).toBe(401);
});

/** What each entrypoint renders, with a few lines that must be in it. */
const RENDERED: [string, Record<string, RegExp[]>][] = [
  ['redis', { '/etc/redis/contrail.conf': [/^bind 127\.0\.0\.1$/m, /^protected-mode no$/m, /^port 6379$/m] }],
  ['memcached', { '/etc/memcached.conf': [/^-l 127\.0\.0\.1$/m, /^-p 11211$/m, /^-u memcache$/m] }],
  ['rabbitmq', {
    '/etc/rabbitmq/rabbitmq.conf': [/^listeners\.tcp\.default = 127\.0\.0\.1:5672$/m, new RegExp(`^default_pass = ${secrets.rabbit}$`, 'm')],
    '/etc/rabbitmq/rabbitmq-env.conf': [/^NODENAME=rabbit@localhost$/m, /^export ERL_EPMD_ADDRESS=127\.0\.0\.1$/m],
    '/var/lib/rabbitmq/.erlang.cookie': [new RegExp(`^${secrets.cookie}$`, 'm')],
  }],
  ['mariadb', { '/etc/mysql/mariadb.conf.d/60-contrail.cnf': [/^\[mysqld\]\nbind-address = 127\.0\.0\.1\nport = 3306$/m] }],
  ['keystone', {
    '/etc/keystone/keystone.conf': [new RegExp(`^admin_token = ${secrets.adminToken}$`, 'm'), new RegExp(`^connection = mysql\\+pymysql://keystone:${secrets.keystoneDb}@127\\.0\\.0\\.1/keystone$`, 'm'), /^memcache_servers = 127\.0\.0\.1:11211$/m, /^provider = fernet$/m],
    '/etc/keystone/contrail-uwsgi.ini': [/^http-socket = 127\.0\.0\.1:5000\nhttp-socket = 127\.0\.0\.1:35357\nadd-header = Connection: close$/m],
  }],
  ['zookeeper', {
    '/etc/zookeeper/conf/zoo.cfg': [/^clientPortAddress=127\.0\.0\.1$/m, /^dataDir=\/var\/lib\/zookeeper$/m, /^4lw\.commands\.whitelist=ruok,srvr,stat,mntr$/m],
    '/var/lib/zookeeper/myid': [/^1$/m],
    '/etc/kafka/server.properties': [/^zookeeper\.connect=127\.0\.0\.1:2181$/m, /^advertised\.listeners=PLAINTEXT:\/\/127\.0\.0\.1:9092$/m],
    '/etc/supervisor/conf.d/contrail.conf': [/^\[program:zookeeper\]\ncommand = zookeeper-server\nuser = zookeeper$/m, /^\[program:kafka\]\ncommand = kafka-server\nuser = kafka$/m],
    '/etc/supervisor/supervisord.conf': [/^\[supervisord\]\n(.*\n)*user = root$/m],
  }],
  ['cassandra', { '/etc/cassandra/cassandra.yaml': [/^start_rpc: true$/m, /^listen_address: 127\.0\.0\.1$/m, /^rpc_address: 127\.0\.0\.1$/m, /seeds: "127\.0\.0\.1"/] }],
];

test.each(RENDERED)('%s: running the entrypoint twice renders exactly the same files', (name, files) => {
  const paths = Object.keys(files);
  const show = `/entrypoint.sh sh -c 'for f in "$@"; do echo "== $f"; cat "$f"; echo; done' - ${paths.join(' ')}`;
  const r = docker(['run', '--rm', '--network', 'host', ...envArgs(ENV[name]), '--entrypoint', 'bash', imageFor(name), '-c', `${show} && echo '#### second run' && ${show}`], { timeoutMs: 300000 });
  expect(r.stderr).not.toMatch(/No such file/);
  expect(r.code).toBe(0);
  // Only the files count: the first run may also log one-time work (mariadb initialises its data directory).
  const [first, second] = r.stdout.split('#### second run\n').map((out) => out.slice(out.search(/^== /m)));
  expect(second).toBe(first);
  for (const [file, patterns] of Object.entries(files)) {
    const text = first.split(`== ${file}\n`)[1]?.split(/^== /m)[0] ?? '';
    for (const pattern of patterns) expect(text).toMatch(pattern);
  }
});
