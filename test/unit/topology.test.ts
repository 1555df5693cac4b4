import * as path from 'path';
import { makePlan } from '../../model/plan';
import { parseTopology } from '../../model/topology';
import type { Catalog } from '../../model/types';
import { loadPlan, loadTopology } from '../../lib/load';
import { listeningPorts } from '../../model/topology-checks';
import { PROJECT_ROOT } from '../../lib/paths';
import { RUNTIME_DEFAULTS } from '../helpers/files';
import { configProblems } from '../helpers/files';

const catalog: Catalog = {
  file: '/p/images/catalog.yaml',
  images: [
    { name: 'base', context: 'base', dockerfile: 'Dockerfile', parent: null, base: 'busybox:local', labels: {}, buildArgs: {}, ports: [], ...RUNTIME_DEFAULTS },
    { name: 'web', context: 'web', dockerfile: 'Dockerfile', parent: 'base', base: null, labels: { 'net.juniper.node': 'controller' }, buildArgs: {}, ports: [8180], ...RUNTIME_DEFAULTS, health: { tcp: 8180, timeoutSeconds: 30 } },
  ],
};
const ctx = { labDir: '/lab', loadCatalog: () => catalog };

const VALID = `name: t
release: r1
catalog: ../images/catalog.yaml
registry: { address: "10.0.0.1:5000", ca: "@lab/tls/ca.crt", username: u, password: { secret: REG_PW } }
ssh: { user: root, keyFile: "@lab/ssh/id", knownHosts: "@lab/ssh/known_hosts" }
hosts:
  - { name: c1, address: 10.0.0.11, roles: [controller] }
  - { name: n1, address: 10.0.0.12, roles: [compute] }
roles:
  controller: { directories: [{ path: /dockervolumes/x, mode: "0750" }], kernelModules: [overlay] }
  compute: { kernelModules: [kvm, vrouter] }
services:
  - name: web
    image: web
    stage: common
    roles: [controller]
    env: { GREETING: hi, ADMIN_PASSWORD: { secret: ADMIN_PW } }
`;

const problems = (text: string) => configProblems(() => parseTopology('/p/topology/t.yaml', text, ctx));

describe('topology', () => {
  test('paths resolve against the file and the lab dir; secrets stay names', () => {
    const t = parseTopology('/p/topology/t.yaml', VALID, ctx);
    expect(t.registry).toEqual({ address: '10.0.0.1:5000', ca: '/lab/tls/ca.crt', username: 'u', password: { secret: 'REG_PW' } });
    expect(t.ssh.keyFile).toBe('/lab/ssh/id');
    expect(t.stages[0]).toBe('common');
    expect(t.services[0].env.ADMIN_PASSWORD).toEqual({ secret: 'ADMIN_PW' });
  });

  test('the plan places services by role, sets HOST_IP, merges role preparation per host', () => {
    const plan = makePlan(parseTopology('/p/topology/t.yaml', VALID, ctx), { catalogDir: '/p/images' });
    expect(plan.images.map((i) => [i.name, i.level, i.repository])).toEqual([['base', 0, '10.0.0.1:5000/base'], ['web', 1, '10.0.0.1:5000/web']]);
    const common = plan.stages.find((s) => s.name === 'common')!;
    expect(common.containers).toHaveLength(1);
    expect(common.containers[0]).toMatchObject({ host: 'c1', hostAddress: '10.0.0.11', env: { HOST_IP: '10.0.0.11', GREETING: 'hi' }, health: { tcp: 8180 } });
    expect(plan.hosts.find((h) => h.name === 'n1')?.kernelModules).toEqual(['kvm', 'vrouter']);
    // No owner declared: none enforced (an existing directory keeps the owner its container gave it).
    expect(plan.hosts.find((h) => h.name === 'c1')?.directories).toEqual([{ path: '/dockervolumes/x', mode: '0750' }]);
    const owned = makePlan(parseTopology('/p/topology/t.yaml', VALID.replace('mode: "0750" }', 'mode: "0750", owner: "100:101" }'), ctx), { catalogDir: '/p/images' });
    expect(owned.hosts.find((h) => h.name === 'c1')?.directories).toEqual([{ path: '/dockervolumes/x', mode: '0750', owner: '100:101' }]);
    expect(JSON.stringify(plan)).not.toMatch(/"ADMIN_PW"\s*:\s*"[^{]/);
  });

  test('a credential given as a plain value is refused, naming line and field', () => {
    const msg = problems(VALID.replace('ADMIN_PASSWORD: { secret: ADMIN_PW }', 'ADMIN_PASSWORD: contrail123'));
    expect(msg).toMatch(/t\.yaml:17:\d+: services\[0\]\.env\.ADMIN_PASSWORD: ADMIN_PASSWORD looks like a credential/);
    expect(problems(VALID.replace('password: { secret: REG_PW }', 'password: hunter22'))).toContain('registry.password: a secret must be a reference, not a value');
  });

  test('relative host paths, "..", and shell characters are refused', () => {
    expect(problems(VALID.replace('/dockervolumes/x', 'dockervolumes/x'))).toContain('roles.controller.directories[0].path: invalid value');
    expect(problems(VALID.replace('/dockervolumes/x', '/dockervolumes/../etc'))).toContain('invalid value "/dockervolumes/../etc"');
    expect(problems(VALID.replace('kvm, vrouter', 'kvm, "vrouter; rm -rf /"'))).toContain('roles.compute.kernelModules[1]: invalid value');
  });

  test('a service on no host, an unknown image and an unknown stage are named', () => {
    expect(problems(VALID.replace('roles: [controller]\n    env', 'roles: [storage]\n    env'))).toContain('service "web" is placed on no host (no host has role storage)');
    expect(problems(VALID.replace('image: web', 'image: nope'))).toContain('image "nope" is not in the catalog');
    expect(problems(VALID.replace('stage: common', 'stage: later'))).toContain('unknown stage "later"');
  });

  test('wrong types say what was expected', () => {
    expect(problems(VALID.replace('address: 10.0.0.11', 'address: [1]'))).toContain('hosts[0].address: expected a non-empty string, got a list');
    expect(problems(VALID.replace('release: r1', 'release: 2026'))).toContain('release: expected a string, got 2026 (quote it: "2026")');
  });

  test('topology/smoke.yaml plans against the real catalog', () => {
    const { plan } = loadPlan(path.join(PROJECT_ROOT, 'topology/smoke.yaml'));
    expect(plan.hosts.map((h) => h.name)).toEqual(['controller1', 'compute1', 'compute2']);
    expect(plan.images.map((i) => i.name)).toEqual(['smoke-base', 'smoke-web']);
    expect(plan.registry.password).toEqual({ secret: 'LAB_REGISTRY_PASSWORD' });
  });
});

describe('the shipped topologies', () => {
  test.each(['lab.yaml', 'single-host.yaml', 'production.yaml'])('%s plans the whole tree: every service placed, addresses derived, secrets by name', (file) => {
    const { plan } = loadPlan(path.join(PROJECT_ROOT, 'topology', file));
    expect(plan.images).toHaveLength(51);
    const containers = plan.stages.flatMap((s) => s.containers);
    const configApi = containers.find((c) => c.service === 'config-api')!;
    expect(typeof configApi.env.CASSANDRA_SERVER).toBe('string');
    expect(configApi.env.ADMIN_PASSWORD).toEqual({ secret: expect.any(String) });
    expect(configApi.standin).toContain('Contrail 3.0');
    expect(containers.find((c) => c.service === 'redis')?.standin).toBeNull();
    for (const c of containers) for (const v of Object.values(c.env)) if (typeof v !== 'string') expect(Object.keys(v)).toEqual(['secret']);
  });

  test('production: quorum services on all three controllers; every compute host runs the compute stage', () => {
    const { plan } = loadPlan(path.join(PROJECT_ROOT, 'topology/production.yaml'));
    const on = (service: string) => plan.stages.flatMap((s) => s.containers).filter((c) => c.service === service).map((c) => c.host);
    for (const quorum of ['cassandra', 'zookeeper', 'rabbitmq']) expect(on(quorum)).toEqual(['ctl1', 'ctl2', 'ctl3']);
    expect(on('vrouter-agent')).toHaveLength(24);
    const api = plan.stages.flatMap((s) => s.containers).find((c) => c.service === 'config-api')!;
    expect(api.env.ZOOKEEPER_SERVER).toBe('198.51.100.11,198.51.100.12,198.51.100.13');
  });
});

describe('simulate: (simulated hosts, for scale measurements)', () => {
  const withSimulate = (block: string) => `${VALID}simulate:\n${block}`;

  test('absent: a topology is never simulated by accident', () => {
    const t = parseTopology('/p/topology/t.yaml', VALID, ctx);
    expect(t.simulate).toBeUndefined();
    expect(makePlan(t, { catalogDir: '/p/images' }).simulate).toBeUndefined();
  });

  test('parsed with defaults, and carried into the plan', () => {
    const t = parseTopology('/p/topology/t.yaml', withSimulate('  latencyMs: { median: 300, p95: 900.5 }\n  transientFailureRate: 0.005\n  failHosts: [n1]\n'), ctx);
    const spec = { latencyMs: { median: 300, p95: 900.5 }, transientFailureRate: 0.005, permanentFailureRate: 0, failHosts: ['n1'] };
    expect(t.simulate).toEqual(spec);
    expect(makePlan(t, { catalogDir: '/p/images' }).simulate).toEqual(spec);
  });

  test.each([
    ['  latencyMs: { median: 0, p95: 10 }\n', /t\.yaml:\d+:\d+: simulate\.latencyMs\.median: 0 is out of range/],
    ['  latencyMs: { median: 500, p95: 100 }\n', /t\.yaml:\d+:\d+: simulate\.latencyMs\.p95: p95 100 is below the median 500/],
    ['  latencyMs: { median: 5 }\n', /simulate\.latencyMs\.p95: missing required key "p95"/],
    ['  latencyMs: { median: 5, p95: "9" }\n', /simulate\.latencyMs\.p95: expected a number, got "9"/],
    ['  latencyMs: { median: 5, p95: 9 }\n  transientFailureRate: 1.5\n', /t\.yaml:\d+:\d+: simulate\.transientFailureRate: 1\.5 is out of range \(a share from 0 to 1/],
    ['  latencyMs: { median: 5, p95: 9 }\n  permanentFailureRate: -0.1\n', /simulate\.permanentFailureRate: -0\.1 is out of range/],
    ['  latencyMs: { median: 5, p95: 9 }\n  failHosts: [n1, nope]\n', /t\.yaml:\d+:\d+: simulate\.failHosts\[1\]: host "nope" is not in hosts \(hosts: c1, n1\)/],
    ['  latencyMs: { median: 5, p95: 9 }\n  transientRate: 0.1\n', /simulate\.transientRate: unknown key "transientRate"/],
  ])('bad input names file, line and field: %j', (block, message) => {
    expect(problems(withSimulate(block))).toMatch(message);
  });

  test('the line is the offending value', () => {
    const text = withSimulate('  latencyMs: { median: 5, p95: 9 }\n  failHosts: [nope]\n');
    const line = text.split('\n').findIndex((l) => l.includes('nope')) + 1;
    expect(problems(text)).toContain(`t.yaml:${line}:`);
  });
});

describe('validation at load: addresses, one machine listed twice, two services on one port of a host', () => {
  /** Where what first starts in text, as a problem names it: "line:column", both from 1. */
  const at = (text: string, what: string) => {
    const lines = text.split('\n');
    const i = lines.findIndex((l) => l.includes(what));
    return `${i + 1}:${lines[i].indexOf(what) + 1}`;
  };
  const withHosts = (hosts: string) => VALID.replace(/hosts:\n(  - .*\n)+/, `hosts:\n${hosts}`);
  const twoWebs = (second: string) => `${VALID}  - { name: web2, image: web, stage: common, roles: [controller]${second} }\n`;

  test.each([
    ['10.0.0.256', 'a valid IPv4 address'],
    ['10.0.0', 'a valid IPv4 address'],
    ['010.0.0.1', 'a valid IPv4 address'],
    ['ctl1..example.net', 'a valid DNS name'],
    ['-ctl1.example.net', 'a valid DNS name'],
    [`${'a'.repeat(64)}.example.net`, 'a valid DNS name'],
    ['fd00:::11', 'a valid IPv6 address'],
    ['1:2:3:4:5:6:7:8:9', 'a valid IPv6 address'],
    ['fd00::1::2', 'a valid IPv6 address'],
    ['::ffff:10.0.0.300', 'a valid IPv6 address'],
  ])('%s is refused with file, line, field and the fix', (address, what) => {
    const text = VALID.replace('address: 10.0.0.11', `address: "${address}"`);
    expect(problems(text)).toContain(`t.yaml:${at(text, `"${address}"`)}: hosts[0].address: "${address}" is not ${what}`);
    expect(problems(text)).toContain('(an IPv4 address (10.0.0.11), an IPv6 address without brackets (fd00::11) or a DNS name (ctl1.example.net))');
  });

  test.each(['10.0.0.11', '198.51.100.255', 'ctl1', 'ctl1.example.net', 'ctl1.example.net.', 'fd00::11', '::1', '2001:db8:0:0:0:0:0:1', '::ffff:10.0.0.1', '64:ff9b::192.0.2.33'])('%s is accepted', (address) => {
    const t = parseTopology('/p/topology/t.yaml', VALID.replace('address: 10.0.0.11', `address: "${address}"`), ctx);
    expect(t.hosts[0].address).toBe(address);
  });

  test('a shell or URL character is refused before anything else looks at the address', () => {
    expect(problems(VALID.replace('address: 10.0.0.11', 'address: "ctl1;reboot"'))).toContain('hosts[0].address: invalid value "ctl1;reboot" (an IPv4 or IPv6 address or a DNS name)');
  });

  test('two hosts with the same address (and SSH port) are refused on the second, naming the first', () => {
    const text = withHosts('  - { name: c1, address: 10.0.0.11, roles: [controller] }\n  - { name: n1, address: 10.0.0.11, roles: [compute] }\n');
    expect(problems(text)).toContain(`t.yaml:${at(text, '10.0.0.11, roles: [compute]')}: hosts[1].address: host "n1" has the address of host "c1" (hosts[0]): 10.0.0.11, SSH port 22 (a host is listed once: give it its own address, or list that machine once with all its roles (roles: [controller, compute]))`);
    // Spelled differently, the same machine still.
    expect(problems(withHosts('  - { name: c1, address: "fd00::11", roles: [controller] }\n  - { name: n1, address: "FD00:0:0::11", roles: [compute] }\n'))).toContain('host "n1" has the address of host "c1"');
    expect(problems(withHosts('  - { name: c1, address: ctl1.example.net, roles: [controller] }\n  - { name: n1, address: CTL1.example.net., roles: [compute] }\n'))).toContain('host "n1" has the address of host "c1"');
    // One address, two SSH ports (hosts behind one forwarding address): two hosts.
    const t = parseTopology('/p/topology/t.yaml', withHosts('  - { name: c1, address: 10.0.0.11, roles: [controller] }\n  - { name: n1, address: 10.0.0.11, sshPort: 2222, roles: [compute] }\n'), ctx);
    expect(t.hosts.map((h) => h.sshPort)).toEqual([22, 2222]);
  });

  test('two services on one host that listen on the same port: both services, the host and the port, at the second', () => {
    const text = twoWebs('');
    expect(problems(text)).toContain(`t.yaml:${at(text, 'web, stage: common, roles: [controller] }')}: services[1].image: services "web" and "web2" both listen on port 8180 on host c1 (10.0.0.11); containers use the host's network, so the second one cannot bind it (place one of them on other hosts (roles or hosts), or move "web2" to another port (its env, and health: { tcp: PORT } on the service))`);
    // The port named by the service's own health check.
    const own = twoWebs(', health: { tcp: 9000 }').replace('    env: { GREETING: hi, ADMIN_PASSWORD: { secret: ADMIN_PW } }\n', '    env: { GREETING: hi, ADMIN_PASSWORD: { secret: ADMIN_PW } }\n    health: { http: { port: 9000, path: / } }\n');
    expect(problems(own)).toMatch(/t\.yaml:19:\d+: services\[1\]\.health: services "web" and "web2" both listen on port 9000 on host c1 \(10\.0\.0\.11\).*\(give "web2" another port \(in its env and its health check\), or place one of them on other hosts/);
  });

  test('a collision on many hosts is one problem that names them', () => {
    const hosts = '  - { name: c1, address: 10.0.0.11, roles: [controller] }\n  - { name: n1, address: 10.0.0.12, roles: [compute] }\n  - { name: n2, address: 10.0.0.13, roles: [compute] }\n';
    const text = withHosts(hosts).replace('roles: [controller]\n    env', 'roles: [compute]\n    env') + '  - { name: web2, image: web, stage: common, roles: [compute] }\n';
    const message = problems(text);
    expect(message).toContain('services "web" and "web2" both listen on port 8180 on hosts n1 (10.0.0.12), n2 (10.0.0.13);');
    expect(message.split('\n')).toHaveLength(1);
  });

  test('the same image twice on one host is fine on ports of their own, or on different hosts', () => {
    expect(parseTopology('/p/topology/t.yaml', twoWebs(', health: { tcp: 9000 }'), ctx).services).toHaveLength(2);
    expect(parseTopology('/p/topology/t.yaml', twoWebs('').replace('name: web2, image: web, stage: common, roles: [controller]', 'name: web2, image: web, stage: common, roles: [compute]'), ctx).services).toHaveLength(2);
  });

  test('the smoke topology takes no port of the catalog\'s services, so the stack that `npm start` leaves running keeps none of theirs', () => {
    const smoke = loadTopology(path.join(PROJECT_ROOT, 'topology/smoke.yaml'));
    const lab = loadTopology(path.join(PROJECT_ROOT, 'topology/lab.yaml'));
    const portsOf = (t: typeof smoke) => t.services.flatMap((s) => listeningPorts(s, t.catalog.images.find((i) => i.name === s.image)).ports);
    const catalogPorts = new Set(lab.catalog.images.flatMap((i) => [...i.ports, ...[i.health?.tcp, i.health?.http?.port].filter((p) => p !== undefined)]));
    expect(portsOf(smoke)).toEqual([8180]);
    expect(portsOf(smoke).filter((p) => catalogPorts.has(p) || portsOf(lab).includes(p))).toEqual([]);
  });
});
