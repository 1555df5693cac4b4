// The tree's shared layers on the lab's build engine, as the pipeline builds them from topology/lab.yaml: every
// OpenStack family is built on openstack-base and every Contrail family on contrail-base (their layers are the shared
// ones, stored once), and no image keeps apt's downloads, package caches or lists in its layers.
import * as fs from 'fs';
import * as path from 'path';
import { parseCatalogPart } from '../../model/catalog';
import type { ImageSpec } from '../../model/types';
import { PROJECT_ROOT } from '../../lib/paths';
import { pipelineImages } from '../helpers/images';
import { docker, dockerOk } from '../helpers/docker';

const IMAGES = path.join(PROJECT_ROOT, 'images');
const catalogPart = (file: string): ImageSpec[] => parseCatalogPart(path.join(IMAGES, file), fs.readFileSync(path.join(IMAGES, file), 'utf8')).images;
const catalog = ['infra.yaml', 'openstack.yaml', 'contrail.yaml'].flatMap(catalogPart);
const familiesOf = (shared: string) => catalog.filter((i) => i.parent === shared).map((i) => i.name).sort();

let tags = new Map<string, string>();
const layers = (name: string): string[] => JSON.parse(dockerOk(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', tags.get(name)!])) as string[];

beforeAll(async () => {
  // Already built by the image tests before this one (skipped as unchanged); built here when run alone.
  tags = await pipelineImages(['openstack-base', 'contrail-base', ...familiesOf('openstack-base'), ...familiesOf('contrail-base'), 'redis']);
}, 3600000);

test.each([
  ['openstack-base', ['cinder', 'glance', 'horizon', 'keystone', 'neutron-server', 'nova', 'placement']],
  ['contrail-base', ['analytics', 'config', 'control', 'ifmap', 'vrouter-agent', 'webui']],
])('every family of %s is built on it: its layers come first in each, stored once', (shared, families) => {
  expect(familiesOf(shared)).toEqual(families);
  const sharedLayers = layers(shared);
  for (const family of families) expect([family, layers(family).slice(0, sharedLayers.length)]).toEqual([family, sharedLayers]);
});

test('no image keeps apt downloads, package caches or package lists', () => {
  const leftovers = 'ls /var/cache/apt/archives/*.deb /var/cache/apt/*.bin 2>/dev/null; find /var/lib/apt/lists -type f ! -name lock 2>/dev/null; true';
  for (const name of ['openstack-base', 'keystone', 'nova', 'horizon', 'contrail-base', 'redis']) {
    const r = docker(['run', '--rm', '--network', 'none', '--entrypoint', 'sh', tags.get(name)!, '-c', leftovers]);
    expect([name, r.code, r.stdout.trim()]).toEqual([name, 0, '']);
  }
});
