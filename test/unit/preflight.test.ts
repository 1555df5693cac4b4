// Preflight verdicts from what hosts report (model/preflight.ts): each check's limits and messages, without a host.
import { compactPlan, expandPlan } from '../../model/compact-plan';
import { makePlan } from '../../model/plan';
import {
  apiAtLeast, clockResult, DEFAULT_PREFLIGHT_LIMITS, diskResult, dockerResult, holderOf, hostPorts, modulesResult, parseDisk, parseHostClock, parseListeners,
  parseContainerPids, parseParents, parseProcesses, parseRegistryProbe, parseSize, portsResult, preflightFailure, registryResult, renderReports, sudoResult, type Holder, type HostReport,
} from '../../model/preflight';
import { parseTopology } from '../../model/topology';
import type { Catalog } from '../../model/types';
import { RUNTIME_DEFAULTS } from '../helpers/files';
import { limitsFrom } from '../../cli/check';

const GiB = 1024 ** 3;
const limits = DEFAULT_PREFLIGHT_LIMITS;

describe('the ports a host needs', () => {
  const catalog: Catalog = {
    file: '/p/images/catalog.yaml',
    images: [
      { name: 'api', context: 'api', dockerfile: 'Dockerfile', parent: null, base: 'busybox:local', labels: {}, buildArgs: {}, ports: [8082, 8084], ...RUNTIME_DEFAULTS, health: { tcp: 8082, timeoutSeconds: 30 } },
      { name: 'web', context: 'web', dockerfile: 'Dockerfile', parent: null, base: 'busybox:local', labels: {}, buildArgs: {}, ports: [], ...RUNTIME_DEFAULTS, health: { http: { port: 8143, path: '/' }, timeoutSeconds: 30 } },
    ],
  };
  const topology = `name: t
release: r1
catalog: ../images/catalog.yaml
registry: { address: "10.0.0.1:5000", username: u, password: { secret: REG_PW } }
ssh: { user: root, keyFile: /k, knownHosts: /kh }
hosts:
  - { name: c1, address: 10.0.0.11, roles: [controller] }
  - { name: n1, address: 10.0.0.12, roles: [compute] }
roles: { controller: {}, compute: {} }
services:
  - { name: config-api, image: api, stage: config, roles: [controller] }
  - { name: webui, image: web, stage: webui, roles: [controller] }
  - { name: moved, image: api, stage: common, roles: [compute], env: { LISTEN_PORT: "9000" }, health: { tcp: 9000, timeoutSeconds: 5 } }
`;
  const plan = makePlan(parseTopology('/p/topology/t.yaml', topology, { labDir: '/lab', loadCatalog: () => catalog }), { catalogDir: '/p/images' });

  test("the catalog's ports and health ports of every container planned on the host, across stages", () => {
    expect(plan.hosts.find((h) => h.name === 'c1')!.ports).toEqual([{ port: 8082, container: 'config-api' }, { port: 8084, container: 'config-api' }, { port: 8143, container: 'webui' }]);
  });

  test("a service with its own health check listens where it asks, not on its image's ports", () => {
    expect(plan.hosts.find((h) => h.name === 'n1')!.ports).toEqual([{ port: 9000, container: 'moved' }]);
  });

  test('the compact plan that workflows carry keeps them (a run checks every stage of a host at its preparation)', () => {
    expect(expandPlan(compactPlan(plan)).hosts).toEqual(plan.hosts);
    expect(hostPorts({ services: [], catalog }, plan.stages, 'c1')).toEqual([]);
  });
});

describe('ports: free, or held by the container that needs them', () => {
  const ss = [
    'LISTEN 0      128    10.213.57.11:22 0.0.0.0:* users:(("sshd",pid=100,fd=3))',
    'LISTEN 0      64     0.0.0.0:8082 0.0.0.0:* users:(("httpd",pid=502,fd=3))',
    'LISTEN 0      64     [::]:8143 [::]:* users:(("nc",pid=777,fd=3),("nc",pid=778,fd=3))',
    'LISTEN 0      64     127.0.0.1:9000 0.0.0.0:*',
  ].join('\n');
  const listeners = parseListeners(ss);
  // smoke-web's main process is 500; its httpd (502) is a child of 501, a child of 500.
  const parents = parseParents('  1     0\n 500   400\n 501   500\n 502   501\n 777   1\n');
  const containers = parseContainerPids('/smoke-web 500\n/stopped 0\n');
  const at = (port: number) => listeners.find((l) => l.port === port)!;
  const holders = new Map<number, Holder[]>([8082, 8143, 9000].map((p) => [p, [holderOf(at(p), containers, parents)]]));

  test("docker inspect lines: each container's name (without the slash) and main process", () => {
    expect(containers).toEqual([{ name: 'smoke-web', pid: 500 }, { name: 'stopped', pid: 0 }]);
  });

  test('ss lines: port, address and processes, IPv6 included', () => {
    expect(listeners.map((l) => [l.address, l.port])).toEqual([['10.213.57.11', 22], ['0.0.0.0', 8082], ['[::]', 8143], ['127.0.0.1', 9000]]);
    expect(at(8143).processes).toEqual([{ name: 'nc', pid: 777 }, { name: 'nc', pid: 778 }]);
  });

  test("a listener is a container's when that container's main process is it or an ancestor; else the process itself", () => {
    expect(holders.get(8082)).toEqual([{ container: 'smoke-web' }]);
    expect(holders.get(8143)).toEqual([{ process: 'nc', pid: 777 }]);
    expect(holders.get(9000)).toEqual([{ unknown: true }]);
  });

  test("ps lines: each container's shim is the ancestor of its processes, found by the container id in its arguments", () => {
    const id = 'ab'.repeat(32);
    const ps = [
      '    1     0 /sbin/init',
      ` 400     1 /usr/bin/containerd-shim-runc-v2 -namespace moby -id ${id} -address /run/containerd/containerd.sock`,
      ' 500   400 /bin/sh /entrypoint.sh',
      ' 501   500 httpd -DFOREGROUND',
      ' 502   501 httpd -DFOREGROUND',
      ' 777     1 nc -l 8143',
      ` 900     1 vim notes-${id}`,
    ].join('\n');
    const { parents, shims } = parseProcesses(ps);
    expect(shims).toEqual(new Map([[id, 400]]));
    expect(parents.get(502)).toBe(501);
    const viaShim = [{ name: 'smoke-web', pid: shims.get(id)! }];
    expect(holderOf(at(8082), viaShim, parents)).toEqual({ container: 'smoke-web' });
    expect(holderOf(at(8143), viaShim, parents)).toEqual({ process: 'nc', pid: 777 });
  });

  test('held by its own container passes (a redeploy); held by another container fails naming it and what to do', () => {
    const own = portsResult([{ port: 8082, container: 'smoke-web' }, { port: 8084, container: 'smoke-web' }], listeners, holders);
    expect(own).toMatchObject({ status: 'ok', detail: '1 of 2 free (8082, 8084); held by their own containers: 8082 (smoke-web)' });
    const other = portsResult([{ port: 8082, container: 'config-api' }], listeners, holders);
    expect(other.status).toBe('fail');
    expect(other.detail).toBe('port 8082 (needed by config-api) is held by container smoke-web');
    expect(other.fix).toContain('docker rm -f smoke-web');
  });

  test('held by a process outside Docker fails naming the process and pid', () => {
    const r = portsResult([{ port: 8143, container: 'webui' }, { port: 9000, container: 'api' }], listeners, holders);
    expect(r.status).toBe('fail');
    expect(r.detail).toBe('port 8143 (needed by webui) is held by process nc (pid 777); port 9000 (needed by api) is held by a process ss could not name');
    expect(r.fix).toContain('kill 777 (nc)');
  });

  test('two listeners on one port (IPv4 and IPv6): one foreign is enough to fail', () => {
    const both = new Map<number, Holder[]>([[8082, [{ container: 'smoke-web' }, { process: 'nginx', pid: 9 }]]]);
    expect(portsResult([{ port: 8082, container: 'smoke-web' }], listeners, both).detail).toContain('held by process nginx (pid 9)');
  });

  test('a controller with dozens of ports: counted, not listed', () => {
    const many = Array.from({ length: 20 }, (_, i) => ({ port: 9000 + i, container: `s${i}` }));
    const lots = parseListeners(many.map((p) => `LISTEN 0 64 0.0.0.0:${p.port} 0.0.0.0:* users:(("x",pid=${p.port},fd=3))`).join('\n'));
    const theirs = new Map<number, Holder[]>(many.map((p) => [p.port, [{ container: p.container }]]));
    expect(portsResult(many, lots, theirs).detail).toBe('0 of 20 free; 20 held by their own containers');
  });

  test('no ports planned, or every one free', () => {
    expect(portsResult([], listeners, holders).status).toBe('ok');
    expect(portsResult([{ port: 5672, container: 'rabbitmq' }], listeners, holders)).toMatchObject({ status: 'ok', detail: '1 of 1 free (5672)' });
  });
});

describe('disk', () => {
  const facts = parseDisk('/dockervolumes/a\t10485760\t/\n/dockervolumes/b\t10485760\t/\n/var/lib/nova/instances\t512\t/var/lib/nova\n');

  test('one line per filesystem; below the limit fails naming the filesystem, its directories and the limit', () => {
    const r = diskResult(['/dockervolumes/a', '/dockervolumes/b', '/var/lib/nova/instances'], facts, limits);
    expect(r.status).toBe('fail');
    expect(r.detail).toBe('512.0 KiB free on /var/lib/nova (/var/lib/nova/instances): less than 2.0 GiB');
    expect(r.fix).toContain('--min-free');
  });

  test('enough space passes; the limit is a setting', () => {
    expect(diskResult(['/dockervolumes/a', '/dockervolumes/b'], facts, limits).detail).toBe('10.0 GiB free on / (/dockervolumes/a, /dockervolumes/b)');
    expect(diskResult(['/dockervolumes/a'], facts, { ...limits, minFreeBytes: 20 * GiB }).status).toBe('fail');
    expect(diskResult(['/var/lib/nova/instances'], facts, { ...limits, minFreeBytes: 256 * 1024 }).status).toBe('ok');
  });

  test('a directory df said nothing about fails; none planned passes', () => {
    expect(diskResult(['/x'], facts, limits).status).toBe('fail');
    expect(diskResult([], [], limits).status).toBe('ok');
  });
});

describe('kernel modules', () => {
  test('loaded or loadable pass; missing fails with the kernel, in the words a run has always used', () => {
    expect(modulesResult(['overlay', 'kvm'], '6.1.0-13-amd64\noverlay loaded\nkvm loadable\n')).toMatchObject({ status: 'ok', detail: 'overlay loaded, kvm loadable' });
    const r = modulesResult(['overlay', 'vrouter'], '6.1.0-13-amd64\noverlay loaded\nvrouter missing\n');
    expect(r.status).toBe('fail');
    expect(r.detail).toContain('the kernel lacks module "vrouter"');
    expect(r.fix).toContain('kernel 6.1.0-13-amd64');
  });
});

describe('clock', () => {
  test('nanoseconds from date +%s%N; a date without %N gives seconds', () => {
    expect(parseHostClock('1796174475434566390\n')).toEqual({ ms: 1796174475434.56639, resolutionMs: 0 });
    expect(parseHostClock('1796174475N')).toEqual({ ms: 1796174475000, resolutionMs: 1000 });
    expect(parseHostClock('garbage')).toBeNull();
  });

  test('the skew is measured from the midpoint of the round trip; only what is surely beyond the limit fails', () => {
    const sent = 1_000_000;
    expect(clockResult({ ms: sent + 50 + 30_000, resolutionMs: 0 }, sent, sent + 100, limits)).toMatchObject({ status: 'fail', detail: "+30 s from this machine's clock (±0.05 s): more than 2.00 s" });
    expect(clockResult({ ms: sent + 50 - 2_500, resolutionMs: 0 }, sent, sent + 100, limits).status).toBe('fail');
    expect(clockResult({ ms: sent + 50 + 1_900, resolutionMs: 0 }, sent, sent + 100, limits).status).toBe('ok');
    // 2.5 s off, but a slow answer (2 s round trip) cannot prove more than 1.5 s.
    expect(clockResult({ ms: sent + 1000 + 2_500, resolutionMs: 0 }, sent, sent + 2000, limits).status).toBe('ok');
    expect(clockResult(null, sent, sent, limits).status).toBe('fail');
  });
});

describe('registry', () => {
  const probe = (text: string) => registryResult('10.0.0.1:5000', '/lab/tls/ca.crt', parseRegistryProbe(text));

  test('an answer (401 without credentials) with the CA installed passes; not installed yet only warns', () => {
    expect(probe('http=401\nrc=0\ntrust=same\n').status).toBe('ok');
    const w = probe('http=401\nrc=0\ntrust=none\n');
    expect(w.status).toBe('warn');
    expect(w.fix).toContain('/etc/docker/certs.d/10.0.0.1:5000/ca.crt');
  });

  test("a certificate that does not chain to the topology's CA fails, not retried; unreachable fails, retried", () => {
    const tls = probe('curl: (60) SSL certificate problem: unable to get local issuer certificate\nhttp=000\nrc=60\ntrust=none\n');
    expect(tls).toMatchObject({ status: 'fail' });
    expect(tls.transient).toBeUndefined();
    expect(tls.detail).toContain('SSL certificate problem');
    const down = probe('curl: (7) Failed to connect to 10.0.0.1 port 5000\nhttp=000\nrc=7\ntrust=same\n');
    expect(down).toMatchObject({ status: 'fail', transient: true });
  });

  test('no curl on the host: a warning, not a failure; something else than a registry: a failure', () => {
    expect(probe('rc=127\ntrust=same\n').status).toBe('warn');
    expect(probe('http=404\nrc=0\ntrust=same\n').status).toBe('fail');
  });
});

describe('sudo and docker', () => {
  test('root needs no sudo; a password prompt fails with the sudoers line to add', () => {
    expect(sudoResult('root', null).status).toBe('ok');
    const r = sudoResult('deploy', { code: 1, stderr: 'sudo: a password is required\n' });
    expect(r).toMatchObject({ status: 'fail', detail: 'deploy cannot run "sudo -n true" (sudo: a password is required)' });
    expect(r.fix).toContain('deploy ALL=(root) NOPASSWD: ALL');
  });

  test('the engine and its API version; below 1.39 (no dial-stdio) fails; no answer fails, retried', () => {
    expect(dockerResult({ version: '20.10.24', apiVersion: '1.41' })).toMatchObject({ status: 'ok', detail: 'engine 20.10.24, API 1.41' });
    expect(dockerResult({ version: '18.06.1', apiVersion: '1.38' }).status).toBe('fail');
    expect(dockerResult({ error: 'connect ENOENT' })).toMatchObject({ status: 'fail', transient: true });
    expect(apiAtLeast('1.100', '1.39')).toBe(true);
    expect(apiAtLeast('1.39', '1.39')).toBe(true);
  });
});

describe('reports', () => {
  const report = (results: HostReport['results']): HostReport => ({ host: 'controller1', address: '10.0.0.11', results });

  test("a run's verdict names the host and every failed check with its fix; retried only if every failure may pass", () => {
    expect(preflightFailure(report([{ check: 'disk', status: 'ok', detail: '' }, { check: 'registry', status: 'warn', detail: '' }]))).toBeNull();
    const v = preflightFailure(report([
      { check: 'registry', status: 'fail', detail: 'unreachable', transient: true },
      { check: 'ports', status: 'fail', detail: 'port 8082 (needed by config-api) is held by container smoke-web', fix: 'docker rm -f smoke-web' },
    ]))!;
    expect(v.message).toBe('host controller1: step preflight: registry: unreachable; ports: port 8082 (needed by config-api) is held by container smoke-web (fix: docker rm -f smoke-web)');
    expect(v).toMatchObject({ retryable: false, type: 'PortBusy' });
    expect(preflightFailure(report([{ check: 'docker', status: 'fail', detail: 'down', transient: true }]))).toMatchObject({ retryable: true, type: 'DockerEngineDown' });
  });

  test('the table: a line per host and check, then each failure and warning with what to do, then the count', () => {
    const text = renderReports([
      report([{ check: 'ssh', status: 'ok', detail: 'root@10.0.0.11:22' }, { check: 'disk', status: 'fail', detail: '1.0 MiB free on /x', fix: 'free space' }]),
      { host: 'compute1', address: '10.0.0.12', results: [{ check: 'ssh', status: 'ok', detail: 'root@10.0.0.12:22' }] },
    ]);
    expect(text.split('\n')).toEqual([
      'HOST         CHECK  RESULT  DETAIL',
      'controller1  ssh    OK      root@10.0.0.11:22',
      'controller1  disk   FAIL    1.0 MiB free on /x',
      'compute1     ssh    OK      root@10.0.0.12:22',
      '',
      'FAIL controller1 disk: 1.0 MiB free on /x',
      '     what to do: free space',
      '',
      '1 check failed on 1 of 2 hosts',
    ]);
  });

  test('sizes and limits from the command line', () => {
    expect(parseSize('2G')).toBe(2 * GiB);
    expect(parseSize('512MiB')).toBe(512 * 1024 ** 2);
    expect(parseSize('1.5g')).toBe(1.5 * GiB);
    expect(parseSize('100')).toBe(100);
    expect(parseSize('lots')).toBeNull();
    expect(limitsFrom({ 'min-free': '1G', 'max-skew': '0.5' })).toEqual({ minFreeBytes: GiB, maxClockSkewMs: 500 });
    expect(() => limitsFrom({ 'min-free': 'x' })).toThrow('--min-free takes a size');
  });
});
