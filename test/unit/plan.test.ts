import * as fs from 'fs';
import * as path from 'path';
import { buildLevels } from '../../model/catalog';
import { deriveAddresses } from '../../model/addresses';
import { isLegacyBuildFile, parseLegacyBuildFile } from '../../model/legacy';
import { makePlan } from '../../model/plan';
import { stageBatches } from '../../model/rollout';
import { selectImages } from '../../model/selection';
import { parseTopology } from '../../model/topology';
import type { Catalog, ImageSpec } from '../../model/types';
import { PROJECT_ROOT } from '../../lib/paths';
import { configProblems, RUNTIME_DEFAULTS } from '../helpers/files';

const fixture = (name: string) => path.join(PROJECT_ROOT, 'test/fixtures/legacy', name);

describe("the original's build files", () => {
  test('2015: every base before its subs; subs are <base>-<sub> on their base', () => {
    const text = fs.readFileSync(fixture('structure-2015.yaml'), 'utf8');
    expect(isLegacyBuildFile(text)).toBe(true);
    const c = parseLegacyBuildFile('structure.yaml', text);
    expect(c.release).toBe('contrail-3.0-2668');
    expect(c.images).toHaveLength(36);
    expect(c.images.find((i) => i.name === 'analytics-api')?.parent).toBe('analytics');
    const order = buildLevels(c.images).map((x) => x.image.name);
    for (const i of c.images) if (i.parent) expect(order.indexOf(i.parent)).toBeLessThan(order.indexOf(i.name));
  });

  test('2016: the three sections merge into one graph', () => {
    const c = parseLegacyBuildFile('structure.yaml', fs.readFileSync(fixture('structure-2016.yaml'), 'utf8'));
    expect(c.release).toBe('3.0-2668');
    expect(c.images).toHaveLength(48);
    expect(c.images.map((i) => i.name)).toEqual(expect.arrayContaining(['glance-registry', 'cinder-scheduler', 'redis', 'opencontrail-docker-libnetwork']));
  });

  test('a malformed build file is reported with line and field', () => {
    expect(configProblems(() => parseLegacyBuildFile('s.yaml', 'version: x\ncontainers:\n  analytics: {api: 1}\n'))).toContain('s.yaml:3:14: containers.analytics: expected a list of sub image suffixes, or nothing');
  });
});

const img = (name: string, parent: string | null, labels: Record<string, string> = {}, needs: string[] = []): ImageSpec => ({
  name, context: name, dockerfile: 'Dockerfile', parent, base: parent ? null : 'debian:bookworm-slim', labels, buildArgs: {}, ports: [], ...RUNTIME_DEFAULTS, needs,
});

describe('selection', () => {
  const images = [img('base', null), img('config', 'base'), img('config-api', 'config', { 'net.juniper.contrail': 'config' }), img('config-schema', 'config', { 'net.juniper.contrail': 'config' }), img('redis', 'base', { 'net.juniper.contrail': 'common' })];
  const names = (sel: Parameters<typeof selectImages>[1]) => selectImages(images, sel).selected.map((s) => `${s.name}${s.reason === 'ancestor' ? '*' : ''}`);

  test('bases, subs, a name with its ancestors, a label', () => {
    expect(names({ images: ['bases'], filters: [] })).toEqual(['base', 'config', 'redis']);
    expect(names({ images: ['bases'], filters: [{ key: 'net.juniper.contrail', value: 'config' }] })).toEqual([]);
    expect(names({ images: ['subs'], filters: [] })).toEqual(['base*', 'config*', 'config-api', 'config-schema']);
    expect(names({ images: ['config-api'], filters: [] })).toEqual(['base*', 'config*', 'config-api']);
    expect(names({ images: [], filters: [{ key: 'net.juniper.contrail', value: 'common' }] })).toEqual(['base*', 'redis']);
    expect(names({ images: [], filters: [{ key: 'net.juniper.contrail' }] })).toEqual(['base*', 'config*', 'config-api', 'config-schema', 'redis']);
    expect(selectImages(images, { images: ['nope'], filters: [] }).unknown).toEqual(['nope']);
  });
});

describe('addresses from placement', () => {
  const catalog: Catalog = { file: '/c.yaml', images: [img('base', null), img('cassandra', 'base'), img('config-api', 'base', {}, ['CASSANDRA_SERVER', 'KEYSTONE_SERVER'])] };
  const ctx = { labDir: '/lab', loadCatalog: () => catalog };
  const topo = (extra: string, stages = '') => `name: t
release: r
catalog: c.yaml
registry: { address: "r:5000", username: u, password: { secret: PW } }
hosts:
  - { name: c1, address: 10.0.0.11, roles: [controller] }
  - { name: c2, address: 10.0.0.12, roles: [controller] }
  - { name: c3, address: 10.0.0.13, roles: [db] }
${stages}services:
  - { name: cassandra, image: cassandra, stage: database, roles: [controller, db] }
  - { name: config-api, image: config-api, stage: config, roles: [controller] }
${extra}`;

  test('each needed address lists every host running its provider; an override wins', () => {
    const t = parseTopology('/t.yaml', topo('addresses: { KEYSTONE_SERVER: keystone.example.org }\n'), ctx);
    expect(deriveAddresses(t).CASSANDRA_SERVER).toEqual({ value: '10.0.0.11,10.0.0.12,10.0.0.13', source: 'placement', providers: ['cassandra'] });
    const plan = makePlan(t, { catalogDir: '/' });
    const api = plan.stages.find((s) => s.name === 'config')!.containers[0];
    expect(api.env).toEqual({ HOST_IP: '10.0.0.11', CASSANDRA_SERVER: '10.0.0.11,10.0.0.12,10.0.0.13', KEYSTONE_SERVER: 'keystone.example.org' });
  });

  test('shared env goes to every container; a credential only where the image declares it, as a secret name', () => {
    const withSecrets: Catalog = { ...catalog, images: catalog.images.map((i) => (i.name === 'config-api' ? { ...i, secrets: ['ADMIN_PASSWORD'] } : i)) };
    const text = topo('addresses: { KEYSTONE_SERVER: k }\nenv: { ADMIN_USER: admin }\nsecrets: { ADMIN_PASSWORD: { secret: LAB_ADMIN_PASSWORD } }\n');
    const plan = makePlan(parseTopology('/t.yaml', text, { ...ctx, loadCatalog: () => withSecrets }), { catalogDir: '/' });
    const containers = plan.stages.flatMap((s) => s.containers);
    expect(containers.find((c) => c.name === 'config-api')?.env).toMatchObject({ ADMIN_USER: 'admin', ADMIN_PASSWORD: { secret: 'LAB_ADMIN_PASSWORD' } });
    expect(containers.find((c) => c.name === 'cassandra')?.env.ADMIN_PASSWORD).toBeUndefined();
    expect(configProblems(() => parseTopology('/t.yaml', topo('addresses: { KEYSTONE_SERVER: k }\n'), { ...ctx, loadCatalog: () => withSecrets }))).toContain('image config-api needs the credential ADMIN_PASSWORD');
    expect(configProblems(() => parseTopology('/t.yaml', text.replace('env: { ADMIN_USER: admin }', 'env: { ADMIN_TOKEN: abc }'), ctx))).toContain('env.ADMIN_TOKEN: ADMIN_TOKEN looks like a credential');
  });

  test('each container knows where its dependencies answer (for a gate that times out to name them)', () => {
    const withPorts: Catalog = { ...catalog, images: catalog.images.map((i) => (i.name === 'cassandra' ? { ...i, health: { tcp: 9160, timeoutSeconds: 60 } } : i)) };
    const plan = makePlan(parseTopology('/t.yaml', topo('addresses: { KEYSTONE_SERVER: k }\n'), { ...ctx, loadCatalog: () => withPorts }), { catalogDir: '/' });
    const api = plan.stages.find((s) => s.name === 'config')!.containers[0];
    // Every cassandra container, by host; an address given by hand (KEYSTONE_SERVER) is not probed.
    expect(api.dependencies).toEqual(['c1', 'c2', 'c3'].map((host, i) => ({ variable: 'CASSANDRA_SERVER', service: 'cassandra', host, endpoint: `10.0.0.1${i + 1}:9160` })));
  });

  test('a service may run a privileged image unprivileged (privileged: false), or a plain one privileged', () => {
    const privilegedDb: Catalog = { ...catalog, images: catalog.images.map((i) => (i.name === 'cassandra' ? { ...i, privileged: true } : i)) };
    const privilegedOf = (extra: string) => {
      const text = topo('addresses: { KEYSTONE_SERVER: k }\n').replace('roles: [controller, db] }', `roles: [controller, db]${extra} }`);
      const plan = makePlan(parseTopology('/t.yaml', text, { ...ctx, loadCatalog: () => privilegedDb }), { catalogDir: '/' });
      return plan.stages.flatMap((s) => s.containers).find((c) => c.name === 'cassandra')?.privileged;
    };
    expect(privilegedOf('')).toBe(true);
    expect(privilegedOf(', privileged: false')).toBe(false);
    expect(configProblems(() => privilegedOf(', privileged: "no"'))).toContain('privileged: expected true or false');
  });

  test('a needed address nobody provides is named, with the fix', () => {
    expect(configProblems(() => parseTopology('/t.yaml', topo(''), ctx))).toContain('config-api needs KEYSTONE_SERVER, but no service runs image keystone (place a keystone service, or set addresses.KEYSTONE_SERVER)');
  });

  test('a stage order that contradicts a dependency is refused', () => {
    const msg = configProblems(() => parseTopology('/t.yaml', topo('addresses: { KEYSTONE_SERVER: k }\n', 'stages: [common, config, database]\n'), ctx));
    expect(msg).toContain('the stage order contradicts a dependency: config-api (stage config) needs CASSANDRA_SERVER from cassandra (stage database, later)');
  });
});

describe('compute rollout batches', () => {
  const stage = (name: string, hosts: string[]) => ({ name, containers: hosts.map((h) => ({ name: `vr`, host: h }) as never) });
  const hostsOf = (name: string, n: number, canary: number, pct: number) => stageBatches(stage(name, Array.from({ length: n }, (_, i) => `c${i + 1}`)), { computeCanary: canary, computeBatchPercent: pct, parkTimeoutSeconds: 0 }).map((b) => b.hosts.length);

  test('24 computes, canary 1, 25%: 1 then 6 at a time', () => {
    expect(hostsOf('compute', 24, 1, 25)).toEqual([1, 6, 6, 6, 5]);
  });
  test('no canary, 100%: one batch; other stages are never batched', () => {
    expect(hostsOf('compute', 5, 0, 100)).toEqual([5]);
    expect(hostsOf('config', 5, 1, 25)).toEqual([5]);
  });
  test('a canary larger than the hosts is all of them', () => {
    expect(hostsOf('compute', 2, 3, 25)).toEqual([2]);
  });
});
