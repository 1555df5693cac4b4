import * as path from 'path';
import { makePlan } from '../../model/plan';
import { parseTopology } from '../../model/topology';
import type { Catalog } from '../../model/types';
import { loadPlan } from '../../lib/load';
import { PROJECT_ROOT } from '../../lib/paths';
import { RUNTIME_DEFAULTS } from '../helpers/files';
import { configProblems } from '../helpers/files';

const catalog: Catalog = {
  file: '/p/images/catalog.yaml',
  images: [
    { name: 'base', context: 'base', dockerfile: 'Dockerfile', parent: null, base: 'busybox:local', labels: {}, buildArgs: {}, ports: [], ...RUNTIME_DEFAULTS },
    { name: 'web', context: 'web', dockerfile: 'Dockerfile', parent: 'base', base: null, labels: { 'net.juniper.node': 'controller' }, buildArgs: {}, ports: [8082], ...RUNTIME_DEFAULTS, health: { tcp: 8082, timeoutSeconds: 30 } },
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
    expect(common.containers[0]).toMatchObject({ host: 'c1', hostAddress: '10.0.0.11', env: { HOST_IP: '10.0.0.11', GREETING: 'hi' }, health: { tcp: 8082 } });
    expect(plan.hosts.find((h) => h.name === 'n1')?.kernelModules).toEqual(['kvm', 'vrouter']);
    expect(plan.hosts.find((h) => h.name === 'c1')?.directories).toEqual([{ path: '/dockervolumes/x', mode: '0750', owner: 'root:root' }]);
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
    expect(plan.images).toHaveLength(48);
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
