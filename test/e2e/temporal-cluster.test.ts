// The production shape of Temporal on the real lab (`contrail-deploy lab up --temporal cluster`): PostgreSQL, one
// frontend with mutual TLS, two history, one matching and one worker process, the UI. The smoke pipeline runs against
// it with a worker that connects only through the envconfig settings the lab writes; then the faults a release
// engineer cares about, each mid-run: a history process killed, the frontend killed and back after 10 s, PostgreSQL
// stopped for 10 s; and the clients that must be refused or told in one line what is wrong.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PROJECT_ROOT } from '../../lib/paths';
import type { RunSummary } from '../../model/steps';
import { cli, labStatus, lastJsonLine, secret, sshRun, startWorker, uniqueSuffix, type CliResult, type LabStatus, type WorkerProcess } from '../helpers/lab';
import { clusterClientEnv, clusterProcess, clusterStatus, ensureCluster, type TemporalClusterStatus } from '../helpers/temporal';

// The first `lab up --temporal cluster` on a machine builds the server (about 8 minutes on 2 cores).
jest.setTimeout(40 * 60 * 1000);

const suffix = uniqueSuffix();
let lab: LabStatus;
let cluster: TemporalClusterStatus;
let clientEnv: Record<string, string>;
let worker: WorkerProcess;
let workDir: string;
const queuePrefix = `cluster-${suffix}`;
const cleanups: string[] = [];

/** Only the cluster's settings (no TEMPORAL_* from the developer's shell) plus a task queue prefix of this file's own. */
function clusterEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('TEMPORAL_') && k !== 'TEMPORAL_CLI') delete env[k];
  return { ...env, ...clientEnv, CONTRAIL_TASK_QUEUE_PREFIX: queuePrefix, ...extra };
}

/** A smoke topology (topology/smoke.yaml's pair, one service on the controller) with names of its own. START_DELAY
 *  keeps the run in its health step for a while: the window in which the faults strike. */
function writeTopology(name: string, startDelay: number): { file: string; service: string; dataDir: string } {
  const service = `cl-web-${name}`;
  const dataDir = `/dockervolumes/cl-${name}`;
  const port = 20000 + Math.floor(Math.random() * 20000);
  const controller = lab.hosts[0];
  const file = path.join(workDir, `${name}.yaml`);
  fs.writeFileSync(file, `name: cl${name}
release: "cl-${name}"
catalog: ${path.join(PROJECT_ROOT, 'images/smoke.yaml')}
registry: { address: "${lab.registry.address}", ca: "@lab/tls/ca.crt", username: ${lab.registry.username}, password: { secret: ${lab.registry.passwordSecret} } }
ssh: { user: root, keyFile: "@lab/ssh/id_ed25519", knownHosts: "@lab/ssh/known_hosts" }
hosts:
  - { name: ${controller.name}, address: ${controller.address}, roles: [controller] }
roles:
  controller: { directories: [{ path: ${dataDir}, mode: "0750" }] }
services:
  - name: ${service}
    image: smoke-web
    stage: common
    roles: [controller]
    env: { LISTEN_PORT: "${port}", GREETING: "${name}", START_DELAY: "${startDelay}" }
    volumes: ["${dataDir}:/data"]
    health: { tcp: ${port}, timeoutSeconds: ${startDelay + 60} }
`);
  cleanups.push(`docker rm -f ${service} >/dev/null 2>&1; rm -rf ${dataDir}`);
  return { file, service, dataDir };
}

async function waitFor(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts a run of a fresh smoke topology, waits until its container exists (the run is in its health step), strikes,
 *  and returns the run's result with what a user checks after it: the container's start count. */
async function runWithFault(name: string, fault: () => Promise<void>): Promise<{ result: CliResult; summary: RunSummary; starts: string }> {
  const topo = writeTopology(name, 25);
  const running = cli(['run', topo.file, '--json'], clusterEnv());
  await waitFor(`the container ${topo.service} on the controller`, () => sshRun(lab, lab.hosts[0].name, `docker inspect ${topo.service} >/dev/null 2>&1`).code === 0, 240000);
  await fault();
  const result = await running;
  if (result.code !== 0) throw new Error(`run failed (${result.code}):\n${result.stdout}\n${result.stderr}\nworker:\n${worker.output().slice(-4000)}`);
  const starts = sshRun(lab, lab.hosts[0].name, `wc -l < ${topo.dataDir}/starts`).stdout.trim();
  return { result, summary: lastJsonLine<RunSummary>(result.stdout), starts };
}

/** Which history process owns each shard, from the shards table (the owner's address is in the shard record). */
function shardOwners(): Map<number, { owner: string; range: number }> {
  const owners = cluster.processes.filter((p) => p.service === 'history').map((p) => `127.0.0.1:${p.ports.grpc}`);
  const columns = owners.map((o) => `position(convert_to('${o}', 'UTF8') in data) > 0`).join(', ');
  const [host, port] = cluster.database.address.split(':');
  const r = spawnSync('psql', ['-h', host, '-p', port, '-U', 'temporal', '-d', 'temporal', '-tA', '-F', ' ', '-c', `select shard_id, range_id, ${columns} from shards order by shard_id`], { encoding: 'utf8', env: { ...process.env, PGPASSWORD: secret(lab, cluster.database.passwordSecret) } });
  if (r.status !== 0) throw new Error(`psql failed: ${r.stderr}`);
  const map = new Map<number, { owner: string; range: number }>();
  for (const line of r.stdout.trim().split('\n')) {
    const [id, range, ...owned] = line.split(' ');
    map.set(Number(id), { owner: owners[owned.indexOf('t')] ?? 'none', range: Number(range) });
  }
  return map;
}

function temporalCli(args: string[], env: NodeJS.ProcessEnv = clusterEnv()) {
  return spawnSync(clientEnv.TEMPORAL_CLI, args, { encoding: 'utf8', env, timeout: 60000 });
}

/** A command that needs the server, run as a user would; what a user sees of a refusal. */
async function oneLineFailure(env: NodeJS.ProcessEnv): Promise<{ code: number; line: string; stderr: string }> {
  const r = await cli(['history'], env);
  return { code: r.code, line: r.stderr.trim(), stderr: r.stderr };
}

function expectOneLine(r: { code: number; line: string; stderr: string }, pattern: RegExp): void {
  expect(r.code).not.toBe(0);
  expect(r.line.split('\n')).toHaveLength(1);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.line).toMatch(pattern);
}

beforeAll(async () => {
  cluster = ensureCluster();
  lab = labStatus();
  clientEnv = clusterClientEnv();
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'contrail-cluster-'));
  worker = await startWorker(clusterEnv());
});

afterAll(async () => {
  await worker?.stop();
  for (const c of cleanups) sshRun(lab, lab.hosts[0].name, c);
  // Leave the cluster whole for the next test file, whatever a failed test left stopped.
  for (const name of ['postgres', 'history1', 'history2', 'matching', 'frontend', 'worker', 'ui']) clusterProcess('start', name);
});

describe('the cluster as lab status reports it', () => {
  test('separate processes with their pids and ports: one frontend, two history, one matching, one worker, the UI', () => {
    expect(cluster).toMatchObject({ kind: 'cluster', up: true, address: '127.0.0.1:7333', namespace: 'default', ui: 'http://127.0.0.1:8333' });
    const byName = Object.fromEntries(cluster.processes.map((p) => [p.name, p]));
    expect(Object.keys(byName).sort()).toEqual(['frontend', 'history1', 'history2', 'matching', 'ui', 'worker']);
    expect(cluster.processes.filter((p) => p.service === 'history')).toHaveLength(2);
    for (const p of cluster.processes) {
      expect(p.up).toBe(true);
      // Each one a process of its own, running the cached server (or UI) binary.
      expect(fs.readFileSync(`/proc/${p.pid}/cmdline`, 'utf8')).toContain(p.name === 'ui' ? 'temporal-ui-server' : `--service\0${p.service}`);
    }
    expect(new Set(cluster.processes.map((p) => p.pid)).size).toBe(6);
    expect(byName.frontend.ports.grpc).toBe(7333);
    expect(byName.history1.ports.grpc).not.toBe(byName.history2.ports.grpc);
    // More shards than history processes: a dead one's shards have somewhere to go.
    expect(cluster.numHistoryShards).toBeGreaterThan(2);
  });

  test('PostgreSQL in the lab state directory on a private port, schemas at the server version, password in the secrets file', () => {
    expect(cluster.database).toMatchObject({ kind: 'postgresql', address: '127.0.0.1:57432', up: true, passwordSecret: 'LAB_TEMPORAL_DB_PASSWORD' });
    expect(cluster.database.dataDir.startsWith(lab.labDir)).toBe(true);
    expect(fs.existsSync(path.join(cluster.database.dataDir, 'PG_VERSION'))).toBe(true);
    expect(cluster.database.schemas).toEqual({ temporal: '1.18', temporal_visibility: '1.9' });
    expect(fs.readFileSync(lab.secrets, 'utf8')).toMatch(/^LAB_TEMPORAL_DB_PASSWORD=[0-9a-f]{36}$/m);
  });

  test('lab env --temporal cluster prints the envconfig settings; the temporal CLI works with them alone', async () => {
    const r = await cli(['lab', 'env', '--temporal', 'cluster']);
    expect(r.code).toBe(0);
    for (const line of ['export TEMPORAL_ADDRESS=127.0.0.1:7333', `export TEMPORAL_TLS_CLIENT_CERT_PATH=${cluster.client.clientCert}`, `export TEMPORAL_TLS_SERVER_CA_CERT_PATH=${cluster.client.serverCaCert}`, 'export TEMPORAL_TLS_SERVER_NAME=temporal-frontend']) {
      expect(r.stdout).toContain(line);
    }
    const ns = temporalCli(['operator', 'namespace', 'describe', '--namespace', 'default', '-o', 'json']);
    expect(ns.status).toBe(0);
    // 90 days of run history for audit, as on the dev server.
    expect((JSON.parse(ns.stdout) as { config: { workflowExecutionRetentionTtl: string } }).config.workflowExecutionRetentionTtl).toBe('7776000s');
    const sas = temporalCli(['operator', 'search-attribute', 'list', '--namespace', 'default']);
    for (const sa of ['ReleaseTag', 'Topology', 'Initiator', 'RunStatus', 'ResumedFrom']) expect(sas.stdout).toMatch(new RegExp(`${sa}\\s+Keyword`));
  });

  test('the profile file works as well as the variables (TEMPORAL_CONFIG_FILE + TEMPORAL_PROFILE)', () => {
    const env = clusterEnv();
    for (const k of Object.keys(env)) if (k.startsWith('TEMPORAL_') && k !== 'TEMPORAL_CLI') delete env[k];
    const r = temporalCli(['operator', 'cluster', 'health'], { ...env, TEMPORAL_CONFIG_FILE: cluster.client.configFile, TEMPORAL_PROFILE: 'cluster' });
    expect(r.stdout).toContain('SERVING');
  });

  test('the UI server answers on its own port and reaches the frontend over mutual TLS', async () => {
    const res = await fetch(`${cluster.ui}/api/v1/namespaces/default`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { namespaceInfo: { name: string } }).namespaceInfo.name).toBe('default');
  });

  test('docker-compose.temporal.yml mounts the very files the lab cluster runs with (one source)', () => {
    const r = spawnSync('docker-compose', ['-f', path.join(PROJECT_ROOT, 'docker-compose.temporal.yml'), 'config'], { encoding: 'utf8', env: { ...process.env, POSTGRES_PASSWORD: 'x', TEMPORAL_TLS_DIR: '/etc/temporal-tls' } });
    expect(r.status).toBe(0);
    // Every server service mounts temporal/ and runs the production env of it; the UI mounts temporal/ui/production.yaml.
    const temporalDir = path.join(PROJECT_ROOT, 'temporal');
    expect(r.stdout.split(`${temporalDir}:/etc/contrail-temporal:ro`).length - 1).toBe(5);
    expect(r.stdout).toContain(`${temporalDir}/ui/production.yaml:/home/ui-server/config/docker.yaml:ro`);
    expect(r.stdout).toContain('TEMPORAL_DYNAMIC_CONFIG_FILE: /etc/contrail-temporal/dynamicconfig/production.yaml');
    const frontend = cluster.processes.find((p) => p.name === 'frontend')!;
    const args = fs.readFileSync(`/proc/${frontend.pid}/cmdline`, 'utf8').split('\0');
    expect(args.slice(args.indexOf('--root'), args.indexOf('--root') + 6)).toEqual(['--root', temporalDir, '--config', 'config', '--env', 'production']);
    expect(fs.readFileSync(`/proc/${frontend.pid}/environ`, 'utf8').split('\0')).toContain(`TEMPORAL_DYNAMIC_CONFIG_FILE=${temporalDir}/dynamicconfig/production.yaml`);
  });
});

describe('clients that must be refused or told what is wrong, in one line', () => {
  test('without a client certificate: refused, and the CLI says so', async () => {
    const r = await oneLineFailure(clusterEnv({ TEMPORAL_TLS_CLIENT_CERT_PATH: undefined, TEMPORAL_TLS_CLIENT_KEY_PATH: undefined }));
    expectOneLine(r, /^contrail-deploy history: the Temporal server at 127\.0\.0\.1:7333 refused this client: it requires a client certificate .*TEMPORAL_TLS_CLIENT_CERT_PATH/);
    expect(temporalCli(['operator', 'cluster', 'health'], clusterEnv({ TEMPORAL_TLS_CLIENT_CERT_PATH: undefined, TEMPORAL_TLS_CLIENT_KEY_PATH: undefined })).status).not.toBe(0);
  });

  test('with a certificate from another CA: refused, and the CLI says so', async () => {
    const d = fs.mkdtempSync(path.join(workDir, 'other-ca-'));
    const sh = (cmd: string) => expect(spawnSync('bash', ['-c', cmd], { cwd: d }).status).toBe(0);
    sh('openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=another CA" -keyout ca.key -out ca.crt 2>/dev/null');
    sh('openssl req -newkey rsa:2048 -nodes -subj "/CN=intruder" -keyout c.key -out c.csr 2>/dev/null && printf "extendedKeyUsage=clientAuth\\n" > ext && openssl x509 -req -in c.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile ext -out c.crt 2>/dev/null');
    const env = clusterEnv({ TEMPORAL_TLS_CLIENT_CERT_PATH: path.join(d, 'c.crt'), TEMPORAL_TLS_CLIENT_KEY_PATH: path.join(d, 'c.key') });
    expectOneLine(await oneLineFailure(env), /^contrail-deploy history: the Temporal server at 127\.0\.0\.1:7333 refused this client's TLS certificate/);
    expect(temporalCli(['operator', 'cluster', 'health'], env).status).not.toBe(0);
  });

  test('a wrong TEMPORAL_ADDRESS, a missing certificate file, an unknown namespace: one clear line each', async () => {
    expectOneLine(await oneLineFailure(clusterEnv({ TEMPORAL_ADDRESS: '127.0.0.1:1' })), /^contrail-deploy history: cannot reach the Temporal server at 127\.0\.0\.1:1 /);
    expectOneLine(await oneLineFailure(clusterEnv({ TEMPORAL_TLS_CLIENT_CERT_PATH: '/nonexistent/client.crt' })), /^contrail-deploy history: Temporal client settings: TEMPORAL_TLS_CLIENT_CERT_PATH=\/nonexistent\/client\.crt: no such file/);
    expectOneLine(await oneLineFailure(clusterEnv({ TEMPORAL_NAMESPACE: `nope-${suffix}` })), new RegExp(`^contrail-deploy history: the Temporal server at 127\\.0\\.0\\.1:7333 has no namespace "nope-${suffix}"`));
    expectOneLine(await oneLineFailure(clusterEnv({ TEMPORAL_CONFIG_FILE: '/nonexistent/temporal.toml', TEMPORAL_PROFILE: 'cluster' })), /Temporal client settings: TEMPORAL_CONFIG_FILE=\/nonexistent\/temporal\.toml: no such file/);
  });

  test('a worker with a bad namespace exits non-zero with one line', async () => {
    const r = await cli(['worker', '--queues', 'build'], clusterEnv({ TEMPORAL_NAMESPACE: `nope-${suffix}` }));
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim()).toMatch(/^contrail-deploy worker: the Temporal server at 127\.0\.0\.1:7333 has no namespace/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('the smoke pipeline on the cluster, and faults mid-run', () => {
  let runIdBeforeRestart: string;

  test('the smoke pipeline runs to completion with a worker connected over mutual TLS', async () => {
    const topo = writeTopology(`a${suffix}`, 0);
    const r = await cli(['run', topo.file, '--json', '--no-cache'], clusterEnv());
    if (r.code !== 0) throw new Error(`run failed:\n${r.stdout}\n${r.stderr}\nworker:\n${worker.output().slice(-4000)}`);
    const summary = lastJsonLine<RunSummary>(r.stdout);
    expect(summary).toMatchObject({ status: 'completed', images: { built: 2, failed: 0 }, containers: { created: 1 } });
    // The run's link points at the cluster's UI, and the run is recorded there (not on the dev server).
    expect(r.stdout).toContain(`ui: http://127.0.0.1:8333/namespaces/default/workflows/${summary.runId}`);
    const d = temporalCli(['workflow', 'describe', '-w', summary.runId, '-o', 'json']);
    expect(JSON.parse(d.stdout).workflowExecutionInfo.status).toBe('WORKFLOW_EXECUTION_STATUS_COMPLETED');
    const onDev = spawnSync(clientEnv.TEMPORAL_CLI, ['workflow', 'describe', '-w', summary.runId, '--address', lab.temporal.address], { encoding: 'utf8' });
    expect(onDev.status).not.toBe(0);
    runIdBeforeRestart = summary.runId;
  });

  test('SIGKILL of one history process mid-run: its shards move to the other, the run completes, its container started once', async () => {
    const [first, second] = ['history1', 'history2'].map((name) => `127.0.0.1:${cluster.processes.find((p) => p.name === name)!.ports.grpc}`);
    const before = shardOwners();
    const moved = [...before].filter(([, s]) => s.owner === first).map(([id]) => id);
    expect(moved.length).toBeGreaterThan(0);
    const { summary, starts } = await runWithFault(`h${suffix}`, async () => clusterProcess('kill', 'history1'));
    expect(summary).toMatchObject({ status: 'completed', containers: { created: 1 } });
    expect(starts).toBe('1');
    expect(clusterStatus()!.processes.find((p) => p.name === 'history1')!.up).toBe(false);
    // Every shard is now owned by the surviving process; the moved ones were taken over (their range went up).
    await waitFor(`every shard owned by ${second}`, () => [...shardOwners().values()].every((s) => s.owner === second), 60000);
    const after = shardOwners();
    for (const id of moved) expect(after.get(id)!.range).toBeGreaterThan(before.get(id)!.range);
    clusterProcess('start', 'history1');
  });

  test('SIGKILL of the frontend mid-run, back after 10 s: the worker and the CLI reconnect, the run completes', async () => {
    const { summary, starts } = await runWithFault(`f${suffix}`, async () => {
      clusterProcess('kill', 'frontend');
      await sleep(10000);
      clusterProcess('start', 'frontend');
    });
    expect(summary).toMatchObject({ status: 'completed', containers: { created: 1 } });
    expect(starts).toBe('1');
    // The same worker process served the whole run: it reconnected by itself.
    expect(worker.child.exitCode).toBeNull();
  });

  test('PostgreSQL stopped for 10 s mid-run: the run completes after it is back', async () => {
    const { summary, starts } = await runWithFault(`p${suffix}`, async () => {
      clusterProcess('stop', 'postgres');
      await sleep(10000);
      clusterProcess('start', 'postgres');
    });
    expect(summary).toMatchObject({ status: 'completed', containers: { created: 1 } });
    expect(starts).toBe('1');
  });

  test('up again upgrades nothing and recreates nothing: same processes, earlier runs still there', () => {
    const before = clusterStatus()!;
    const r = spawnSync('bash', [path.join(PROJECT_ROOT, 'lab', 'temporal-cluster.sh'), 'up'], { encoding: 'utf8', timeout: 300000 });
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('database temporal: schema 1.18, up to date');
    expect(r.stderr).toContain('database temporal_visibility: schema 1.9, up to date');
    const after = clusterStatus()!;
    expect(after.processes.map((p) => p.pid)).toEqual(before.processes.map((p) => p.pid));
    expect(after.database.pid).toBe(before.database.pid);
    expect(temporalCli(['workflow', 'describe', '-w', runIdBeforeRestart]).status).toBe(0);
  });
});
