// Hosts reached the way real fleets are, on the lab's real sshd: a non-root user with sudo (and one without), a bastion
// (edge1 is on a subnet only the bastion reaches), known_hosts with hashed, [host]:port, @cert-authority and @revoked
// entries, and topology/lab-production.yaml deployed through all of it.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import type { Duplex } from 'stream';
import { loadPlan } from '../../lib/load';
import { PROJECT_ROOT } from '../../lib/paths';
import { httpProbe } from '../../lib/probes';
import { closeHostConnections, HostSession, probeVia, type SshTarget } from '../../lib/ssh';
import type { RunSummary, Step } from '../../model/steps';
import { scratchDir } from '../helpers/files';
import { activityAttempts, runHistories } from '../helpers/history';
import { cli, labStatus, lastJsonLine, startWorker, uniqueSuffix, type LabStatus, type WorkerProcess } from '../helpers/lab';

jest.setTimeout(400000);

const LAB = path.join(PROJECT_ROOT, 'lab/lab.sh');
const suffix = uniqueSuffix();
let lab: LabStatus;
let prod: NonNullable<LabStatus['production']>;
let compute1: { name: string; address: string };
let compute2: { name: string; address: string };

type Summary = RunSummary & { parked: { id: string; host?: string; error: string }[] };

beforeAll(() => {
  lab = labStatus();
  if (!lab.production) throw new Error('the lab has no production-shaped part: run "contrail-deploy lab up"');
  prod = lab.production;
  [compute1, compute2] = [lab.hosts[1], lab.hosts[2]];
});
afterAll(() => {
  closeHostConnections();
  spawnSync('bash', [LAB, 'fault', 'bastion', 'up']); // whatever happened, the bastion is back for the next user
});

const edge = () => prod.hosts[0];
const bastion = () => ({ address: prod.bastion.address, port: prod.bastion.port, user: prod.bastion.user });
const edgeHostKey = () => fs.readFileSync(path.join(lab.labDir, 'hosts', edge().name, 'ssh_host_ed25519_key.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
const plainKeyOf = (address: string) => fs.readFileSync(lab.ssh.knownHosts, 'utf8').split('\n').find((l) => l.startsWith(`${address} `))!.split(' ').slice(1).join(' ');

function edgeTarget(over: Partial<SshTarget> = {}): SshTarget {
  return { host: edge().name, address: edge().address, port: 22, user: 'deploy', keyFile: lab.ssh.keyFile, knownHosts: prod.knownHosts, docker: 'sudo', jumpHost: bastion(), ...over };
}
function directTarget(host: { name: string; address: string }, over: Partial<SshTarget> = {}): SshTarget {
  return { host: host.name, address: host.address, port: 22, user: 'deploy', keyFile: lab.ssh.keyFile, knownHosts: prod.knownHosts, docker: 'sudo', jumpHost: null, ...over };
}

/** Established SSH connections to a port, counted inside a lab namespace (the bastion's, or a host's). */
function established(netns: string, port: number): number {
  const r = spawnSync('ip', ['netns', 'exec', netns, 'ss', '-Htn', 'state', 'established', `( sport = :${port} )`], { encoding: 'utf8' });
  return r.stdout.trim() ? r.stdout.trim().split('\n').length : 0;
}

/** The reason a promise failed, for assertions on the whole message and its retryability. */
async function refusal(p: Promise<unknown>): Promise<{ message: string; nonRetryable: boolean }> {
  try {
    await p;
  } catch (e) {
    return { message: (e as Error).message, nonRetryable: Boolean((e as { nonRetryable?: boolean }).nonRetryable) };
  }
  throw new Error('expected a refusal, but it succeeded');
}

/** An HTTP GET to a host behind the bastion, through it (this machine has no route there). */
function getThroughBastion(url: string): Promise<{ status: number; body: string }> {
  const via = probeVia(edgeTarget())!;
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const createConnection = (_: unknown, cb: (err: Error | null, s?: Duplex) => void) => void via(u.hostname, Number(u.port)).then((sock) => cb(null, sock), (e: Error) => cb(e));
    const req = http.get(url, { createConnection: createConnection as never, timeout: 10000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

function knownHostsFile(lines: string[]): string {
  return path.join(scratchDir({ known_hosts: `${lines.join('\n')}\n` }), 'known_hosts');
}

describe('the connection layer on real sshd', () => {
  afterEach(() => closeHostConnections());

  test('the machine itself does not reach the subnet behind the bastion', () => {
    const r = spawnSync('bash', ['-c', `exec 3<>/dev/tcp/${edge().address}/22`], { encoding: 'utf8', timeout: 5000 });
    expect(r.status).not.toBe(0);
  });

  test('a hashed entry: deploy on compute1 acts as root through sudo and reaches the Docker engine through it', async () => {
    expect(fs.readFileSync(prod.knownHosts, 'utf8')).not.toContain(`${compute1.address} `); // hashed, not plain
    const s = await HostSession.open(directTarget(compute1));
    expect((await s.exec('id -un')).stdout.trim()).toBe('deploy');
    expect((await s.exec(s.asRoot('id -un'))).stdout.trim()).toBe('root');
    expect((await s.docker().version()).ApiVersion).toBeTruthy();
  });

  test('a CA-signed host key behind a [host]:port bastion: every activity reaches edge1 through one bastion connection', async () => {
    const s = await HostSession.open(edgeTarget());
    expect((await s.exec('hostname')).stdout.trim()).toBe(edge().name);
    expect((await s.exec(s.asRoot('id -un'))).stdout.trim()).toBe('root');
    const info = await s.docker().info();
    expect(info.DockerRootDir).toContain(`/hosts/${edge().name}/`);
    // More channels at once than one connection to edge1 carries: a second connection to edge1, still one bastion.
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => s.exec(`sleep 1; echo ${i}`)));
    expect(results.map((r) => r.stdout.trim())).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
    expect(established(`cdlab-${edge().name}`, 22)).toBeGreaterThanOrEqual(2);
    expect(established(prod.bastion.namespace, prod.bastion.port)).toBe(1);
  });

  test('the docker group instead of sudo: deploy is in it, nosudo is not (one clear line)', async () => {
    expect((await (await HostSession.open(directTarget(compute1, { docker: 'group' }))).docker().version()).ApiVersion).toBeTruthy();
    const denied = await refusal((await HostSession.open(directTarget(compute1, { user: 'nosudo', docker: 'group' }))).docker().listContainers());
    expect(denied).toEqual({ message: expect.stringMatching(/^host compute1: step reach the Docker engine: user nosudo may not use the Docker engine on compute1: not in the docker group .*usermod -aG docker nosudo/), nonRetryable: true });
  });

  test('a user without a NOPASSWD entry: one non-retryable line naming the host, the user and the command', async () => {
    const s = await HostSession.open(directTarget(compute1, { user: 'nosudo' }));
    expect(await refusal(s.execAsRoot('modprobe kvm', 'step prepare', 'modprobe kvm'))).toEqual({
      message: 'host compute1: step prepare: user nosudo cannot run `modprobe kvm` as root without a password (sudo -n: a password is required). Add a NOPASSWD sudoers entry for nosudo on compute1, e.g. /etc/sudoers.d/contrail-deploy: "nosudo ALL=(root) NOPASSWD: ALL"',
      nonRetryable: true,
    });
    expect(await refusal(s.docker().listContainers())).toEqual({ message: expect.stringContaining('user nosudo cannot run `docker system dial-stdio` as root without a password'), nonRetryable: true });
  });

  test('root may not log in on the hosts behind the bastion', async () => {
    expect(await refusal(HostSession.open(edgeTarget({ user: 'root' })))).toEqual({ message: `host edge1: authenticate: root@${edge().address} refused the key`, nonRetryable: true });
  });

  test('refused: a key signed by another CA, a revoked host key, a revoked CA, a changed bastion key, an unknown host', async () => {
    const rogue = scratchDir({});
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(rogue, 'ca')]);
    const rogueCa = fs.readFileSync(path.join(rogue, 'ca.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
    const production = fs.readFileSync(prod.knownHosts, 'utf8').trim().split('\n');
    const bastionLine = production.find((l) => l.startsWith(`[${prod.bastion.address}]:${prod.bastion.port} `))!;
    const caLine = production.find((l) => l.startsWith('@cert-authority '))!;
    const labCa = caLine.split(' ').slice(2).join(' ');
    const cases: [string, string[], RegExp][] = [
      ['another CA', [bastionLine, `@cert-authority 10.213.58.* ${rogueCa}`], /host edge1: verify host key: the host key of 10\.213\.58\.11 is refused by .*: its certificate "edge1" \(serial 0\) is signed by a CA that no @cert-authority line trusts for this host/],
      ['a revoked host key', [...production, `@revoked * ${edgeHostKey()}`], /the host key of 10\.213\.58\.11 is refused by .*: its key is marked @revoked \(line \d+\)/],
      ['a revoked CA', [...production, `@revoked * ${labCa}`], /is signed by a CA marked @revoked/],
      ['a changed bastion key', [`[${prod.bastion.address}]:${prod.bastion.port} ${plainKeyOf(compute1.address)}`, caLine], new RegExp(`host edge1: verify host key: the host key of ${prod.bastion.address} does not match .*a changed host key.*, on the way to 10\\.213\\.58\\.11:22`)],
      ['an unknown host', [bastionLine], /host edge1: verify host key: no key for 10\.213\.58\.11 in /],
    ];
    for (const [, lines, expected] of cases) {
      const refused = await refusal(HostSession.open(edgeTarget({ knownHosts: knownHostsFile(lines) })));
      expect(refused).toEqual({ message: expect.stringMatching(expected), nonRetryable: true });
    }
    // A plain pinned key that is also revoked, on a direct host; and the same key alone is accepted.
    const key = plainKeyOf(compute1.address);
    expect(await refusal(HostSession.open(directTarget(compute1, { knownHosts: knownHostsFile([`${compute1.address} ${key}`, `@revoked ${compute1.address} ${key}`]) })))).toEqual({ message: expect.stringContaining('its key is marked @revoked (line 2)'), nonRetryable: true });
    await expect(HostSession.open(directTarget(compute1, { knownHosts: knownHostsFile([`${compute1.address} ${key}`]) }))).resolves.toBeTruthy();
  });
});

describe('runs through the bastion, as deploy', () => {
  const env = { CONTRAIL_TASK_QUEUE_PREFIX: `sp-${suffix}` };
  let worker: WorkerProcess;
  let dir: string;

  beforeAll(async () => {
    dir = scratchDir({});
    worker = await startWorker(env);
  });
  afterAll(async () => {
    await worker?.stop();
  });

  async function statusOf(runId: string): Promise<Summary & { steps: Step[] }> {
    return lastJsonLine((await cli(['status', runId, '--json'], env)).stdout);
  }
  async function until(runId: string, ok: (s: Summary & { steps: Step[] }) => boolean): Promise<Summary & { steps: Step[] }> {
    const end = Date.now() + 240000;
    for (;;) {
      const s = await statusOf(runId);
      if (ok(s)) return s;
      if (Date.now() > end) throw new Error(`timed out: ${JSON.stringify(s).slice(0, 2000)}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  const parkedSteps = (s: Summary & { steps: Step[] }) => s.steps.filter((x) => x.status === 'parked').map((x) => x.id).sort();

  function topology(name: string, user: string, hosts: string, port: number): string {
    const file = path.join(dir, `${name}.yaml`);
    fs.writeFileSync(file, `name: ${name}
release: "${name}"
catalog: ${path.join(PROJECT_ROOT, 'images/smoke.yaml')}
registry: { address: "${lab.registry.address}", ca: "@lab/tls/ca.crt", username: ${lab.registry.username}, password: { secret: ${lab.registry.passwordSecret} } }
ssh:
  user: ${user}
  keyFile: "@lab/ssh/id_ed25519"
  knownHosts: "@lab/ssh/known_hosts.production"
  jumpHost: { address: ${prod.bastion.address}, port: ${prod.bastion.port}, user: deploy }
hosts:
${hosts}
roles:
  controller: { directories: [{ path: /dockervolumes/${name}, mode: "0750" }], kernelModules: [overlay] }
  compute: { kernelModules: [kvm] }
services:
  - { name: ${name}-web, image: smoke-web, stage: common, roles: [controller], env: { LISTEN_PORT: "${port}" }, health: { tcp: ${port}, timeoutSeconds: 30 } }
`);
    return file;
  }

  test('sudo refused (no NOPASSWD entry) parks the host at once, naming the host, the user and the command', async () => {
    const file = topology(`sr${suffix}`, 'nosudo', `  - { name: compute1, address: ${compute1.address}, roles: [compute], jumpHost: none }\n  - { name: edge1, address: ${edge().address}, roles: [controller], jumpHost: { address: ${prod.bastion.address}, port: ${prod.bastion.port}, user: deploy } }`, 24000 + Math.floor(Math.random() * 5000));
    const run = await cli(['run', file, '--json'], env);
    expect({ code: run.code, stderr: run.stderr }).toMatchObject({ code: 3 });
    const runId = lastJsonLine<Summary>(run.stdout).runId;
    const parked = await until(runId, (s) => parkedSteps(s).length === 2);
    expect(parkedSteps(parked)).toEqual(['prepare:compute1', 'prepare:edge1']);
    for (const host of ['compute1', 'edge1']) {
      const error = parked.parked.find((p) => p.id === `prepare:${host}`)?.error ?? '';
      expect(error).toMatch(new RegExp(`^host ${host}: `));
      expect(error).toMatch(/nosudo cannot run [`"][^`"]+[`"]/);
      expect(error).toContain('a password is required');
    }
    // Not retried: each preparation ran once.
    const prepares = activityAttempts(runHistories(runId)).filter((a) => a.type === 'prepareHost');
    expect(prepares.map((a) => a.attempt)).toEqual([1, 1]);
    await cli(['abort', runId], env);
  });

  test('the bastion down parks every host behind it (and only those); it returns, and retry completes the run', async () => {
    const port = 24000 + Math.floor(Math.random() * 5000);
    const name = `bd${suffix}`;
    const file = topology(name, 'deploy', [
      `  - { name: edge1, address: ${edge().address}, roles: [controller] }`,
      `  - { name: compute2, address: ${compute2.address}, roles: [compute] }`, // on the lab bridge, but through the bastion too
      `  - { name: compute1, address: ${compute1.address}, roles: [compute], jumpHost: none }`,
    ].join('\n'), port);
    expect(spawnSync('bash', [LAB, 'fault', 'bastion', 'down']).status).toBe(0);
    let runId: string;
    try {
      const run = await cli(['run', file, '--json'], env);
      expect({ code: run.code, stderr: run.stderr }).toMatchObject({ code: 3 });
      runId = lastJsonLine<Summary>(run.stdout).runId;
      const parked = await until(runId, (s) => parkedSteps(s).length === 2);
      expect(parkedSteps(parked)).toEqual(['prepare:compute2', 'prepare:edge1']);
      for (const p of parked.parked) expect(p.error).toMatch(new RegExp(`^host ${p.host}: connect: cannot reach the bastion ${prod.bastion.address}:${prod.bastion.port} .*, on the way to`));
      expect(parked.steps.find((s) => s.id === 'prepare:compute1')?.status).toBe('completed');
      // Retried with backoff before parking: a bastion that is down may come back.
      expect(Math.max(...activityAttempts(runHistories(runId)).filter((a) => a.type === 'prepareHost').map((a) => a.attempt))).toBeGreaterThan(1);
    } finally {
      expect(spawnSync('bash', [LAB, 'fault', 'bastion', 'up']).status).toBe(0);
    }
    const first = await cli(['retry', runId, '--step', 'prepare:compute2', '--json'], env);
    expect(first.code === 0 || first.code === 3).toBe(true);
    const retried = await cli(['retry', runId, '--step', 'prepare:edge1', '--json'], env);
    expect({ code: retried.code, stdout: retried.stdout }).toMatchObject({ code: 0 });
    expect(lastJsonLine<Summary>(retried.stdout)).toMatchObject({ status: 'completed', containers: { created: 1 } });
    // The service answers on edge1, asked through the bastion (this machine cannot reach it otherwise).
    expect(await httpProbe(`http://${edge().address}:${port}/smoke.conf`, 5000, probeVia(edgeTarget()))).toBe(true);
    expect(await httpProbe(`http://${edge().address}:${port}/smoke.conf`, 2000)).not.toBe(true); // and not directly
    const s = await HostSession.open(edgeTarget());
    await s.exec(s.dockerCommand(`rm -f ${name}-web`));
  });

  test('topology/lab-production.yaml: the smoke stack through sudo, the bastion, hashed and certified host keys', async () => {
    const run = await cli(['run', 'topology/lab-production.yaml', '--json'], env);
    if (run.code !== 0) throw new Error(`run failed (${run.code}):\n${run.stdout.slice(-3000)}\n${run.stderr}\nworker:\n${worker.output().slice(-3000)}`);
    const summary = lastJsonLine<Summary>(run.stdout);
    expect(summary.status).toBe('completed');
    // Where it runs, as its engine says (asked over SSH through the bastion, as deploy with sudo).
    const { plan } = loadPlan(path.join(PROJECT_ROOT, 'topology/lab-production.yaml'));
    const web = plan.stages.flatMap((st) => st.containers).find((c) => c.service === 'smoke-web')!;
    expect(web.host).toBe('edge1');
    const s = await HostSession.open(edgeTarget());
    expect((await s.docker().getContainer(web.name).inspect()).State.Running).toBe(true);
    // The deployed container answers, through the bastion: the rendered config names its host and greeting.
    const { status, body } = await getThroughBastion(`http://${web.hostAddress}:${web.health!.tcp!}/smoke.conf`);
    expect(status).toBe(200);
    expect(body).toContain(`host_ip = ${edge().address}`);
    expect(body).toContain('greeting = hello from behind the bastion');
    // A second run changes nothing.
    const again = await cli(['run', 'topology/lab-production.yaml', '--json'], env);
    expect(lastJsonLine<Summary>(again.stdout)).toMatchObject({ status: 'completed', containers: { created: 0, recreated: 0 } });
  });
});
