// `contrail-deploy check` on the real lab hosts, and the same checks as the first step of a run's host preparation.
// Each fault is made on one lab host, inside its own namespaces, and undone after:
//   controller1: a full data filesystem (a 1 MiB tmpfs, filled, mounted over the role's directory in its mount namespace)
//   compute1:    a busy port (busybox nc listening in its network namespace on a port its plan needs)
//   compute2:    a kernel module no kernel has, and a skewed clock. The lab's hosts share this machine's one clock, so
//                the skew is FAKED: `date` (which the check reads the host's time with) is shadowed in compute2's mount
//                namespace by a script that answers 30 s ahead.
import { spawn, spawnSync, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PROJECT_ROOT } from '../../lib/paths';
import type { HostReport } from '../../model/preflight';
import type { RunSummary } from '../../model/steps';
import { activityAttempts, runHistories } from '../helpers/history';
import { cli, labStatus, labTopology, lastJsonLine, sshRun, startWorker, uniqueSuffix, type LabStatus, type WorkerProcess } from '../helpers/lab';

jest.setTimeout(300000);

const LAB = path.join(PROJECT_ROOT, 'lab', 'lab.sh');
const suffix = uniqueSuffix();
const env = { CONTRAIL_TASK_QUEUE_PREFIX: `chk-${suffix}` };
const busyPort = 22000 + Math.floor(Math.random() * 8000);
const busyService = `busy-${suffix}`;
const fullDir = `/dockervolumes/cf-${suffix}`;
const MISSING_MODULE = 'cdlab_no_such_module';
// On compute2's private tmpfs (the lab's per-host /run/cdlab/host): the real date, and the fake that shadows it.
const REAL_DATE = '/run/cdlab/host/real-date';
const FAKE_DATE = '/run/cdlab/host/fake-date';
const SKEW_SECONDS = 30;

let lab: LabStatus;
let worker: WorkerProcess;
let workDir: string;
let listener: ChildProcess;

interface CheckJson {
  topology: string;
  ok: boolean;
  hosts: HostReport[];
}

/** A command inside a lab host's namespaces (mount, network, UTS), as `lab.sh exec` runs it. */
function labExec(host: string, script: string): { code: number; out: string } {
  const r = spawnSync('bash', [LAB, 'exec', host, 'sh', '-c', script], { encoding: 'utf8' });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

function writeTopology(name: string, body: { hosts: string; roles: string; services: string; extra?: string }): string {
  const file = path.join(workDir, `${name}.yaml`);
  fs.writeFileSync(file, labTopology(lab, { name, release: `${name}-1`, catalog: path.join(PROJECT_ROOT, 'images/smoke.yaml'), ...body }) + (body.extra ?? ''));
  return file;
}

const result = (report: CheckJson, host: string, check: string) => report.hosts.find((h) => h.host === host)!.results.find((r) => r.check === check)!;

beforeAll(async () => {
  lab = labStatus();
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'contrail-check-'));
  worker = await startWorker(env);
});

afterAll(async () => {
  await worker?.stop();
});

/** The faults, made for the tests that need them (after the healthy lab's test) and undone after them. */
async function makeFaults(): Promise<void> {
  const full = labExec('controller1', `mkdir -p ${fullDir} && mount -t tmpfs -o size=1m cdlab-check-full ${fullDir} && { dd if=/dev/zero of=${fullDir}/fill bs=64k 2>/dev/null; true; }`);
  if (full.code !== 0) throw new Error(`could not fill a tmpfs on controller1: ${full.out}`);
  const skew = labExec('compute2', `grep -q ' /usr/bin/date ' /proc/self/mountinfo || cp /usr/bin/date ${REAL_DATE}
    printf '#!/bin/sh\\n# preflight e2e test: this host is ${SKEW_SECONDS} s ahead\\nexec ${REAL_DATE} -d "@$(( $(${REAL_DATE} +%%s) + ${SKEW_SECONDS} ))" "$@"\\n' >${FAKE_DATE}
    chmod 0755 ${FAKE_DATE} && mount --bind ${FAKE_DATE} /usr/bin/date`);
  if (skew.code !== 0) throw new Error(`could not shadow date on compute2: ${skew.out}`);
  // `lab.sh exec` ends in exec: the child is busybox itself, so its pid is the one ss names.
  listener = spawn('bash', [LAB, 'exec', 'compute1', 'busybox', 'nc', '-l', '-p', String(busyPort)], { stdio: 'ignore' });
  for (let i = 0; i < 50 && !labExec('compute1', `ss -Hltn 'sport = :${busyPort}'`).out.trim(); i++) await new Promise((r) => setTimeout(r, 100));
}

function undoFaults(): void {
  listener?.kill();
  labExec('controller1', `umount ${fullDir}; rmdir ${fullDir}`);
  labExec('compute2', `umount /usr/bin/date; rm -f ${FAKE_DATE} ${REAL_DATE}`);
}

test('on a healthy lab, after a deploy of topology/smoke.yaml, every check passes: its own container holds its port', async () => {
  const run = lastJsonLine<RunSummary>((await cli(['run', 'topology/smoke.yaml', '--json'], env)).stdout);
  if (run.status !== 'completed') await cli(['abort', run.runId], env);
  expect(run.status).toBe('completed');
  const r = await cli(['check', 'topology/smoke.yaml', '--json']);
  const report = lastJsonLine<CheckJson>(r.stdout);
  expect({ code: r.code, ok: report.ok }).toEqual({ code: 0, ok: true });
  expect(report.hosts.map((h) => h.host)).toEqual(['controller1', 'compute1', 'compute2']);
  for (const h of report.hosts) {
    expect(h.results.map((x) => x.check)).toEqual(['ssh', 'sudo', 'docker', 'disk', 'modules', 'ports', 'clock', 'registry']);
    expect(h.results.filter((x) => x.status !== 'ok')).toEqual([]);
  }
  // The smoke container runs and holds its port: its own, so no failure.
  expect(sshRun(lab, 'controller1', "docker inspect -f '{{.State.Running}}' smoke-web").stdout.trim()).toBe('true');
  expect(result(report, 'controller1', 'ports').detail).toContain('held by their own containers: 8180 (smoke-web)');
  expect(result(report, 'controller1', 'docker').detail).toMatch(/^engine \S+, API 1\.\d+$/);
  expect(result(report, 'compute1', 'modules').detail).toBe('kvm loaded');
  const text = await cli(['check', 'topology/smoke.yaml']);
  expect(text.code).toBe(0);
  expect(text.stdout).toMatch(/^controller1 +ports +OK +/m);
  expect(text.stdout).toContain('every check passed on 3 hosts');
});

describe('faults made on the lab hosts', () => {
  beforeAll(makeFaults);
  afterAll(undoFaults);

  test('a full data filesystem, ports held by a process and by another topology\'s container, a missing module, a skewed clock: each named on its host, with what to do', async () => {
    const topology = writeTopology(`chk${suffix}`, {
      hosts: `  - { name: controller1, address: ${lab.hosts[0].address}, roles: [full] }
  - { name: compute1, address: ${lab.hosts[1].address}, roles: [busy] }
  - { name: compute2, address: ${lab.hosts[2].address}, roles: [odd] }`,
      roles: `  full: { directories: [{ path: ${fullDir}, mode: "0750" }] }
  busy: {}
  odd: { kernelModules: [kvm, ${MISSING_MODULE}] }`,
      // And on controller1 a service whose port the smoke stack's container (deployed above) holds.
      services: `  - { name: ${busyService}, image: smoke-web, stage: common, roles: [busy], env: { LISTEN_PORT: "${busyPort}" }, health: { tcp: ${busyPort}, timeoutSeconds: 10 } }
  - { name: taken-${suffix}, image: smoke-web, stage: common, roles: [full], env: { LISTEN_PORT: "8180" }, health: { tcp: 8180, timeoutSeconds: 10 } }`,
    });
    const r = await cli(['check', topology, '--json']);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 1, stderr: '' });
    const report = lastJsonLine<CheckJson>(r.stdout);
    expect(report.ok).toBe(false);
    const failures = report.hosts.flatMap((h) => h.results.filter((x) => x.status === 'fail').map((x) => `${h.host} ${x.check}`));
    expect(failures.sort()).toEqual(['compute1 ports', 'compute2 clock', 'compute2 modules', 'controller1 disk', 'controller1 ports']);
    // Another topology's container: named by its name (its main process is the listener's ancestor).
    expect(result(report, 'controller1', 'ports').detail).toBe(`port 8180 (needed by taken-${suffix}) is held by container smoke-web`);
    expect(result(report, 'controller1', 'ports').fix).toContain('docker rm -f smoke-web');

    const disk = result(report, 'controller1', 'disk');
    expect(disk.detail).toMatch(new RegExp(`^\\d+(\\.\\d)? (B|KiB) free on ${fullDir} \\(${fullDir}\\): less than 2\\.0 GiB$`));
    expect(disk.fix).toContain(`free space on ${fullDir}`);
    const port = result(report, 'compute1', 'ports');
    expect(port.detail).toBe(`port ${busyPort} (needed by ${busyService}) is held by process busybox (pid ${listener.pid})`);
    expect(port.fix).toContain(`kill ${listener.pid} (busybox)`);
    const module = result(report, 'compute2', 'modules');
    expect(module.detail).toContain(`the kernel lacks module "${MISSING_MODULE}"`);
    expect(module.fix).toContain(`remove ${MISSING_MODULE} from the host's roles`);
    const clock = result(report, 'compute2', 'clock');
    expect(clock.detail).toMatch(/^\+(29|30|31) s from this machine's clock \(±\d\.\d\d s\): more than 2\.00 s$/);
    expect(clock.fix).toContain('synchronise the clocks');
    // Everything else on those hosts still passes (the faults are only where they were made).
    expect(result(report, 'compute1', 'clock').status).toBe('ok');
    expect(result(report, 'compute2', 'registry').status).toBe('ok');

    const text = await cli(['check', topology]);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain(`FAIL compute1 ports: port ${busyPort} (needed by ${busyService}) is held by process busybox (pid ${listener.pid})`);
    expect(text.stdout).toContain('     what to do: ');
    expect(text.stdout).toContain('5 checks failed on 3 of 3 hosts');
    // Read-only: the directory check made nothing, and nothing was started.
    expect(sshRun(lab, 'compute1', `docker ps -aq --filter name=${busyService}`).stdout.trim()).toBe('');
  });

  test('run with a busy port parks at the preparation of that host, naming the port and its holder, without retries', async () => {
    const topology = writeTopology(`chkrun${suffix}`, {
      hosts: `  - { name: compute1, address: ${lab.hosts[1].address}, roles: [busy] }`,
      roles: '  busy: {}',
      services: `  - { name: ${busyService}, image: smoke-web, stage: common, roles: [busy], env: { LISTEN_PORT: "${busyPort}" }, health: { tcp: ${busyPort}, timeoutSeconds: 10 } }`,
    });
    const r = await cli(['run', topology, '--json'], env);
    expect(r.code).toBe(3);
    const s = lastJsonLine<RunSummary>(r.stdout);
    expect(s.parked?.map((p) => p.id)).toEqual(['prepare:compute1']);
    const holder = `port ${busyPort} (needed by ${busyService}) is held by process busybox (pid ${listener.pid})`;
    expect(s.parked![0].error).toContain(`host compute1: step preflight: ports: ${holder}`);
    expect(r.stdout).toContain(`PARKED at step prepare:compute1 on compute1`);
    // Failed early: the container was never created; one attempt, and the request carried the host's planned ports.
    expect(sshRun(lab, 'compute1', `docker ps -aq --filter name=${busyService}`).stdout.trim()).toBe('');
    const prepares = activityAttempts(runHistories(s.runId)).filter((a) => a.type === 'prepareHost');
    expect(prepares.map((a) => a.attempt)).toEqual([1]);
    expect((prepares[0].input as { host: { ports: unknown } }).host.ports).toEqual([{ port: busyPort, container: busyService }]);
    const aborted = await cli(['abort', s.runId, '--json'], env);
    expect(aborted.code).toBe(1);
    expect(lastJsonLine<RunSummary>(aborted.stdout).failedStep?.message).toContain(holder);
  });

});

test('a simulated topology is refused: its hosts do not exist', async () => {
  const topology = writeTopology(`chksim${suffix}`, {
    hosts: `  - { name: controller1, address: ${lab.hosts[0].address}, roles: [controller] }`,
    roles: '  controller: {}',
    services: `  - { name: sim-${suffix}, image: smoke-web, stage: common, roles: [controller] }`,
    extra: 'simulate:\n  latencyMs: { median: 5, p95: 9 }\n',
  });
  const r = await cli(['check', topology]);
  expect(r.code).toBe(2);
  expect(r.stderr.trim()).toBe(`contrail-deploy check: ${topology} is a simulated topology (simulate:): its hosts do not exist, so there is nothing to check`);
  expect(r.stdout).toBe('');
});
