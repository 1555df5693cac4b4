// The whole lab stack (topology/lab.yaml: the real Debian services and the stand-ins) deployed across the three lab
// hosts in stage order, with health and quorum gates; then a redeploy that changes nothing, and `down`. Also: a
// stand-in started before its dependency answers does not become healthy, and the gate names that dependency.
import * as fs from 'fs';
import * as path from 'path';
import { PROJECT_ROOT } from '../../lib/paths';
import { loadPlan } from '../../lib/load';
import { engineHealthTest } from '../../model/engine-health';
import type { RunSummary, Step } from '../../model/steps';
import { scratchDir } from '../helpers/files';
import { decodedPayloads, runHistories } from '../helpers/history';
import { cli, labStatus, labTopology, lastJsonLine, secret, sshRun, startWorker, uniqueSuffix, type LabStatus, type WorkerProcess } from '../helpers/lab';
import { openStackAsItsUsers } from './openstack-users';

// Pulling the images onto the hosts and starting some forty services on two cores takes minutes.
jest.setTimeout(40 * 60 * 1000);

const suffix = uniqueSuffix();
const env = { CONTRAIL_TASK_QUEUE_PREFIX: `stack-${suffix}` };
const LAB_TOPOLOGY = path.join(PROJECT_ROOT, 'topology/lab.yaml');
const SMOKE_TOPOLOGY = path.join(PROJECT_ROOT, 'topology/smoke.yaml');
let lab: LabStatus;
let worker: WorkerProcess;

type Summary = RunSummary & { steps: Step[] };
const status = async (runId: string): Promise<Summary> => lastJsonLine<Summary>((await cli(['status', runId, '--json'], env)).stdout);
interface Running {
  id: string;
  startedAt: string;
  /** Restarts by the engine's restart policy (the process exited), not by anyone's command. */
  restarts: number;
}
/** Every running container on a host, by name. */
function containersOn(host: string): Map<string, Running> {
  const out = sshRun(lab, host, `docker ps -q | xargs -r docker inspect -f '{{.Name}} {{.Id}} {{.State.StartedAt}} {{.RestartCount}}'`).stdout;
  return new Map(out.trim().split('\n').filter(Boolean).map((l) => {
    const [name, id, startedAt, restarts] = l.split(' ');
    return [name.replace(/^\//, ''), { id, startedAt, restarts: Number(restarts) }];
  }));
}

/** The engine's own health check of each running container on a host that has one: its command and latest verdict. */
function engineChecksOn(host: string): Map<string, { test: string[]; status: string }> {
  const format = `{{.Name}}\t{{json .Config.Healthcheck}}\t{{if .State.Health}}{{.State.Health.Status}}{{end}}`;
  const out = sshRun(lab, host, `docker ps -q | xargs -r docker inspect -f '${format}'`).stdout;
  return new Map(out.trim().split('\n').filter(Boolean).flatMap((l) => {
    const [name, check, status] = l.split('\t');
    const test = (JSON.parse(check) as { Test?: string[] } | null)?.Test;
    return test ? [[name.replace(/^\//, ''), { test, status }]] : [];
  }));
}

beforeAll(async () => {
  lab = labStatus();
  worker = await startWorker(env);
});
afterAll(async () => {
  await worker?.stop();
});

describe('the whole lab stack across three hosts', () => {
  let first: Summary;
  let before: Map<string, Map<string, Running>>;

  beforeAll(async () => {
    // From hosts without the stack's containers (a run before this one may have left them; data stays).
    await cli(['down', LAB_TOPOLOGY], env);
    // With the smoke stack up, as a user has it after `npm start`: it must keep no port of the stack's services.
    const smoke = await cli(['run', SMOKE_TOPOLOGY, '--json'], env);
    if (smoke.code !== 0) throw new Error(`the smoke stack did not come up (exit ${smoke.code}):\n${smoke.stdout.slice(-3000)}\n${smoke.stderr}`);
    const r = await cli(['run', LAB_TOPOLOGY, '--json'], env);
    if (r.code !== 0) throw new Error(`the stack did not come up (exit ${r.code}):\n${r.stdout.slice(-6000)}\n${r.stderr}`);
    first = await status(lastJsonLine<RunSummary>(r.stdout).runId);
    before = new Map(lab.hosts.map((h) => [h.name, containersOn(h.name)]));
  });
  afterAll(async () => {
    await cli(['down', LAB_TOPOLOGY], env);
  });

  test('every service runs where the topology places it, and passed its gate', () => {
    const starts = first.steps.filter((s) => s.kind === 'start');
    expect(starts.length).toBeGreaterThan(35);
    for (const s of first.steps.filter((x) => x.kind === 'start' || x.kind === 'health')) expect([s.id, s.status]).toEqual([s.id, 'completed']);
    for (const s of starts) expect(before.get(s.host!)?.has(s.target)).toBe(true);
    expect([...before.get('compute1')!.keys()].sort()).toEqual(['libvirt', 'nova-compute', 'vrouter-agent']);
    expect(first.containers.created).toBe(starts.length);
    // Next to the smoke stack, config-api binds its own port (8082) and never crash-loops (it once did while the
    // smoke stack held 8082, and its gate passed on smoke-web's answer).
    expect(before.get('controller1')!.get('smoke-web')?.restarts).toBe(0);
    expect(before.get('controller1')!.get('config-api')?.restarts).toBe(0);
  });

  test('stages came up in order: no container of a stage started before every gate of the stages before it', () => {
    const order = first.stageOrder;
    const gatesDone = (stage: string) => Math.max(...first.steps.filter((s) => (s.kind === 'health' || s.kind === 'quorum') && s.stage === stage).map((s) => Date.parse(s.endTime!)));
    for (const s of first.steps.filter((x) => x.kind === 'start')) {
      for (const earlier of order.slice(0, order.indexOf(s.stage!))) {
        if (first.steps.some((x) => x.stage === earlier && x.kind === 'health')) expect(Date.parse(s.startTime!)).toBeGreaterThanOrEqual(gatesDone(earlier));
      }
    }
  });

  test('clustered services passed their quorum gates (ZooKeeper says it is standalone, leader or follower)', () => {
    const quorum = first.steps.filter((s) => s.kind === 'quorum');
    expect(quorum.map((q) => [q.target, q.status]).sort()).toEqual([['cassandra', 'completed'], ['rabbitmq', 'completed'], ['zookeeper', 'completed']]);
    expect(quorum.find((q) => q.target === 'zookeeper')?.detail).toBe('1 of 1 members in quorum (controller1), 1 needed');
  });

  test('nova: cells v2 are mapped, and every nova service registered in the cell database, compute on both hosts', () => {
    const cells = sshRun(lab, 'controller1', 'docker exec nova-api nova-manage cell_v2 list_cells');
    expect(cells.code).toBe(0);
    expect(cells.stdout).toMatch(/\|\s+cell0\s+\|/);
    expect(cells.stdout).toMatch(/\|\s+cell1\s+\|/);
    const services = sshRun(lab, 'controller1', 'docker exec mariadb mariadb -N -e "SELECT DISTINCT \\`binary\\` FROM nova.services ORDER BY 1"');
    expect(services.stdout.split('\n').filter(Boolean)).toEqual(['nova-compute', 'nova-conductor', 'nova-metadata', 'nova-osapi_compute', 'nova-scheduler']);
    const computes = sshRun(lab, 'controller1', `docker exec mariadb mariadb -N -e "SELECT host FROM nova.services WHERE \\\`binary\\\` = 'nova-compute' ORDER BY 1"`);
    expect(computes.stdout.split('\n').filter(Boolean)).toEqual(['compute1', 'compute2']);
  });

  test("keystone and placement: the admin's token lists Placement in the catalog, and Placement lists both compute hosts", async () => {
    const controller = lab.hosts.find((h) => h.name === 'controller1')!.address;
    const auth = await fetch(`http://${controller}:5000/v3/auth/tokens`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ auth: {
        identity: { methods: ['password'], password: { user: { name: 'admin', domain: { id: 'default' }, password: secret(lab, 'LAB_ADMIN_PASSWORD') } } },
        scope: { project: { name: 'admin', domain: { id: 'default' } } },
      } }),
    });
    expect(auth.status).toBe(201);
    const token = auth.headers.get('x-subject-token')!;
    const catalog = ((await auth.json()) as { token: { catalog: { type: string; endpoints: { url: string }[] }[] } }).token.catalog;
    expect(catalog.find((e) => e.type === 'placement')?.endpoints.map((e) => e.url)).toEqual(Array(3).fill(`http://${controller}:8778`));
    // nova-compute reports its host once it runs; it passed its gate when connected to RabbitMQ, a moment earlier.
    let providers: string[] = [];
    for (let i = 0; i < 30 && providers.length < 2; i++) {
      const r = await fetch(`http://${controller}:8778/resource_providers`, { headers: { 'x-auth-token': token, 'openstack-api-version': 'placement 1.14' } });
      expect(r.status).toBe(200);
      providers = ((await r.json()) as { resource_providers: { name: string }[] }).resource_providers.map((p) => p.name).sort();
      if (providers.length < 2) await new Promise((res) => setTimeout(res, 2000));
    }
    expect(providers).toEqual(['compute1', 'compute2']);
  });

  openStackAsItsUsers(() => lab);

  test("each host's engine runs the in-container checks itself (docker ps says healthy)", async () => {
    const planned = loadPlan(LAB_TOPOLOGY).plan.stages.flatMap((st) => st.containers).filter((c) => engineHealthTest(c));
    expect(planned.map((c) => c.service)).toEqual(expect.arrayContaining(['rabbitmq', 'mariadb', 'redis', 'zookeeper']));
    // The engine asks every 30 s: a service that came up late in the run may not have been asked yet.
    const deadline = Date.now() + 120_000;
    // host/container -> the engine's check and verdict (nova-compute runs on both compute hosts)
    let seen = new Map<string, { test: string[]; status: string }>();
    const key = (host: string, name: string) => `${host}/${name}`;
    for (;;) {
      seen = new Map(lab.hosts.flatMap((h) => [...engineChecksOn(h.name)].map(([name, check]) => [key(h.name, name), check] as const)));
      if (planned.every((c) => seen.get(key(c.host, c.name))?.status === 'healthy') || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 3000));
    }
    for (const c of planned) expect([key(c.host, c.name), seen.get(key(c.host, c.name))]).toEqual([key(c.host, c.name), { test: engineHealthTest(c), status: 'healthy' }]);
    // Containers checked by port or URL only have no engine check (the gate asks those from the worker).
    expect(seen.size).toBe(planned.length);
    // Every check ran at least once, and none left a process behind for the service (PID 1, which does not reap)
    // to collect: a zombie per check every 30 s would fill the process table in time.
    for (const c of planned) {
      const states = sshRun(lab, c.host, `docker top ${c.name} -eo pid,stat,comm`).stdout.trim().split('\n').slice(1);
      expect([c.name, states.filter((l) => /^\s*\d+\s+Z/.test(l))]).toEqual([c.name, []]);
    }
  });

  test('a second run recreates nothing: the same containers, never restarted', async () => {
    const r = await cli(['run', LAB_TOPOLOGY, '--json'], env);
    expect(r.code).toBe(0);
    const again = lastJsonLine<RunSummary>(r.stdout);
    expect(again.containers).toEqual({ created: 0, recreated: 0, unchanged: first.containers.created });
    expect(again.images.built).toBe(0);
    // Each host was surveyed once for everything it runs (the first stage's part asks the later parts' hosts ahead of
    // their turn), and the survey found every container running as planned and answering: no start or gate step of
    // its own.
    const steps = (await status(again.runId)).steps;
    const hosts = [...new Set(loadPlan(LAB_TOPOLOGY).plan.stages.flatMap((st) => st.containers.map((c) => c.host)))];
    expect(steps.filter((s) => s.kind === 'survey').map((s) => [s.host, s.status]).sort()).toEqual(hosts.map((h) => [h, 'completed']).sort());
    for (const s of steps.filter((x) => x.kind === 'start')) expect([s.id, s.detail]).toEqual([s.id, 'unchanged']);
    for (const s of steps.filter((x) => x.kind === 'health')) expect([s.id, s.detail]).toEqual([s.id, 'answered at the survey']);
    // The survey took the engines' word for the in-container checks instead of running each command again.
    type Surveyed = { host?: string; containers?: { container: string; healthy: boolean; engineHealthy?: boolean }[] };
    const surveyed = decodedPayloads(runHistories(again.runId)).flatMap((p) => {
      let r: Surveyed;
      try {
        r = JSON.parse(p) as Surveyed;
      } catch {
        return [];
      }
      return r?.host && Array.isArray(r.containers) && 'healthy' in (r.containers[0] ?? {}) ? r.containers : [];
    });
    const engineChecked = new Set(lab.hosts.flatMap((h) => [...engineChecksOn(h.name).keys()]));
    expect([...new Set(surveyed.filter((c) => c.engineHealthy).map((c) => c.container))].sort()).toEqual([...engineChecked].sort());
    // The same containers, none started again by anyone, and no process exited meanwhile (the engine would have
    // restarted it): every service stays up once its gate passed.
    for (const h of lab.hosts) {
      const now = containersOn(h.name);
      expect([...now.keys()].sort()).toEqual([...before.get(h.name)!.keys()].sort());
      for (const [name, was] of before.get(h.name)!) expect([name, now.get(name)]).toEqual([name, was]);
    }
  });
});

describe('a stand-in started before its dependency answers', () => {
  const names = { db: `dep-cassandra-${suffix}`, zk: `dep-zookeeper-${suffix}`, disco: `dep-discovery-${suffix}` };
  let topology: string;

  beforeAll(() => {
    topology = path.join(scratchDir({}), 'dep.yaml');
    // The real Cassandra is given a heap it refuses (CASSANDRA_HEAP_MB), so it never listens; an operator then skips
    // its failed gate (--force), and the config-discovery stand-in starts without it.
    fs.writeFileSync(topology, labTopology(lab, {
      name: `dep${suffix}`, release: `dep-${suffix}`, catalog: path.join(PROJECT_ROOT, 'images/catalog.yaml'),
      services: `  - { name: ${names.db}, image: cassandra, stage: database, roles: [controller], env: { CASSANDRA_HEAP_MB: "none" }, health: { tcp: 9160, timeoutSeconds: 10 } }
  - { name: ${names.zk}, image: zookeeper, stage: database, roles: [controller] }
  - { name: ${names.disco}, image: config-discovery, stage: config, roles: [controller], health: { tcp: 5998, timeoutSeconds: 20 } }`,
    }));
  });
  afterAll(() => {
    sshRun(lab, 'controller1', `docker rm -f ${Object.values(names).join(' ')} >/dev/null 2>&1`);
  });

  test('it does not become healthy, and its gate names the dependency that does not answer', async () => {
    const parked = await cli(['run', topology, '--json'], env);
    expect(parked.code).toBe(3);
    const runId = lastJsonLine<RunSummary>(parked.stdout).runId;
    expect(lastJsonLine<RunSummary>(parked.stdout).parked?.map((p) => p.id)).toEqual([`health:${names.db}@controller1`]);
    // Cassandra is clustered: its quorum gate parks next (its ring never answers), and is skipped as well.
    const healthSkipped = await cli(['skip', runId, '--force', '--json'], env);
    expect(healthSkipped.code).toBe(3);
    expect(lastJsonLine<RunSummary>(healthSkipped.stdout).parked?.map((p) => p.id)).toEqual([`quorum:${names.db}`]);
    const skipped = await cli(['skip', runId, '--force', '--json'], env);
    expect(skipped.code).toBe(3);
    const gate = lastJsonLine<RunSummary>(skipped.stdout).parked![0];
    expect(gate.id).toBe(`health:${names.disco}@controller1`);
    expect(gate.error).toContain(`Dependencies not answering: ${names.db} on controller1 (${lab.hosts[0].address}:9160, its CASSANDRA_SERVER)`);
    // The stand-in's own log says the same from the inside.
    expect(gate.error).toContain('waiting for CASSANDRA_SERVER');
    const aborted = await cli(['abort', runId, '--json'], env);
    expect(aborted.code).toBe(1);
  });
});

describe('an HTTP health check', () => {
  const port = 26000 + Math.floor(Math.random() * 8000);
  const names = { ok: `http-ok-${suffix}`, missing: `http-404-${suffix}` };
  afterAll(() => {
    sshRun(lab, 'controller1', `docker rm -f ${names.ok} ${names.missing} >/dev/null 2>&1`);
  });

  test('passes when the page answers, and a page that is not there fails the gate with its HTTP status', async () => {
    const topology = path.join(scratchDir({}), 'http.yaml');
    fs.writeFileSync(topology, labTopology(lab, {
      name: `http${suffix}`, release: `http-${suffix}`, catalog: path.join(PROJECT_ROOT, 'images/smoke.yaml'),
      services: `  - { name: ${names.ok}, image: smoke-web, stage: common, roles: [controller], env: { LISTEN_PORT: "${port}" }, health: { http: { port: ${port}, path: /smoke.conf }, timeoutSeconds: 30 } }
  - { name: ${names.missing}, image: smoke-web, stage: database, roles: [controller], env: { LISTEN_PORT: "${port + 1}" }, health: { http: { port: ${port + 1}, path: /not-there }, timeoutSeconds: 5 } }`,
    }));
    const r = await cli(['run', topology, '--json'], env);
    expect(r.code).toBe(3);
    const summary = lastJsonLine<RunSummary>(r.stdout);
    const steps = (await status(summary.runId)).steps;
    expect(steps.find((s) => s.id === `health:${names.ok}@controller1`)?.status).toBe('completed');
    expect(summary.parked?.[0]).toMatchObject({ id: `health:${names.missing}@controller1` });
    expect(summary.parked?.[0].error).toContain(`http://${lab.hosts[0].address}:${port + 1}/not-there: HTTP 404`);
    expect((await cli(['abort', summary.runId], env)).code).toBe(1);
  });
});
