// The lab fixture of the upgrade test and bench: a three-member ZooKeeper ensemble across the lab's three hosts plus a
// single memcached on the first, with releases whose images differ by a label (or whose ZooKeeper exits at start),
// built from copies of the catalog's own build contexts in a scratch directory.
import * as fs from 'fs';
import * as path from 'path';
import { PROJECT_ROOT } from '../../lib/paths';
import { loadCatalog } from '../../lib/load';
import type { ImageSpec, UpgradeStrategy } from '../../model/types';
import { scratchDir } from './files';
import { labTopology, sshRun, type LabStatus } from './lab';

const DATA = '/dockervolumes/upgrade-zookeeper';
const CATALOG = new Map(loadCatalog(path.join(PROJECT_ROOT, 'images/catalog.yaml')).images.map((i) => [i.name, i]));
const depth = (i: ImageSpec): number => (i.parent ? 1 + depth(CATALOG.get(i.parent)!) : 0);

export interface RunningContainer {
  id: string;
  /** The reference it was created from: repository@sha256:digest. */
  image: string;
  created: string;
  running: boolean;
}

export class UpgradeFixture {
  readonly zk: string;
  readonly mc: string;
  readonly topologyName: string;
  private readonly dir = scratchDir({});

  constructor(private readonly lab: LabStatus, private readonly suffix: string) {
    this.zk = `upg-zk-${suffix}`;
    this.mc = `upg-mc-${suffix}`;
    this.topologyName = `upgrade${suffix}`;
    for (const image of [...this.ancestors(), CATALOG.get('zookeeper')!, CATALOG.get('memcached')!]) fs.cpSync(path.join(PROJECT_ROOT, 'images', image.context), path.join(this.dir, image.context), { recursive: true });
    // The same image, whose process exits at once (the engine restarts it, and it exits again).
    fs.cpSync(path.join(this.dir, 'zookeeper'), path.join(this.dir, 'zookeeper-broken'), { recursive: true });
    fs.appendFileSync(path.join(this.dir, 'zookeeper-broken/Dockerfile'), 'ENTRYPOINT ["/bin/false"]\n');
  }

  /** The catalog images the two services build on, root first. */
  private ancestors(): ImageSpec[] {
    const chain: ImageSpec[] = [];
    for (const name of ['zookeeper', 'memcached']) {
      for (let p = CATALOG.get(name)!.parent; p; p = CATALOG.get(p)!.parent) if (!chain.some((i) => i.name === p)) chain.push(CATALOG.get(p)!);
    }
    return chain.sort((a, b) => depth(a) - depth(b));
  }

  get members(): LabStatus['hosts'] {
    return this.lab.hosts.slice(0, 3);
  }

  /** Every container of the fixture: host and name. */
  containers(): { host: string; name: string }[] {
    return [...this.members.map((h) => ({ host: h.name, name: this.zk })), { host: this.members[0].name, name: this.mc }];
  }

  releaseTag(name: string): string {
    return `upg-${this.suffix}-${name}`;
  }

  /** Writes release `name`'s catalog and topology; returns the topology file. The images carry the label
   *  upgrade-test=<name>; `broken`: ZooKeeper's image exits at start (memcached stays as in release A). */
  release(name: string, opts: { broken?: boolean; upgrade?: UpgradeStrategy } = {}): string {
    const catalog = path.join(this.dir, `catalog-${name}.yaml`);
    const label = (value: string) => ({ 'net.contrail-deploy.upgrade-test': value });
    // The catalog's own images, their ancestors as they are (so that those are found in the registry, not rebuilt).
    const zookeeper = CATALOG.get('zookeeper')!;
    const memcached = CATALOG.get('memcached')!;
    const entry = (i: ImageSpec) => `  - ${JSON.stringify({ name: i.name, context: i.context, ...(i.parent ? { parent: i.parent } : { base: i.base }), ...(Object.keys(i.labels).length ? { labels: i.labels } : {}), ...(Object.keys(i.buildArgs).length ? { buildArgs: i.buildArgs } : {}) })}`;
    const service = (i: ImageSpec, extra: object) => `  - ${JSON.stringify({ name: `upgrade-${i.name}`, context: i.context, parent: i.parent, ports: i.ports, health: i.health, reads: i.reads, ...(i.quorum ? { quorum: i.quorum } : {}), ...extra })}`;
    fs.writeFileSync(catalog, [
      'images:',
      ...this.ancestors().map(entry),
      service(zookeeper, { labels: label(name), volumes: [`${DATA}:/var/lib/zookeeper`], ...(opts.broken ? { context: 'zookeeper-broken' } : {}) }),
      service(memcached, { labels: label(opts.broken ? 'A' : name) }),
      '',
    ].join('\n'));
    const [first] = this.members;
    const topology = path.join(this.dir, `topology-${name}.yaml`);
    fs.writeFileSync(topology, labTopology(this.lab, {
      name: this.topologyName, release: this.releaseTag(name), catalog,
      hosts: this.members.map((h) => `  - { name: ${h.name}, address: ${h.address}, roles: [zk] }`).join('\n'),
      roles: `  zk: { directories: [{ path: ${DATA}, mode: "0750" }] }`,
      services: `  - { name: ${this.zk}, image: upgrade-zookeeper, stage: database, hosts: [${this.members.map((h) => h.name).join(', ')}] }
  - { name: ${this.mc}, image: upgrade-memcached, stage: database, hosts: [${first.name}] }`,
    }) + `addresses:\n  ZOOKEEPER_SERVER: "${this.members.map((h) => h.address).join(',')}"\n${opts.upgrade ? `rollout: { upgrade: ${opts.upgrade} }\n` : ''}`);
    return topology;
  }

  /** What a container runs on a host, or undefined when there is none. */
  inspect(host: string, name: string): RunningContainer | undefined {
    const r = sshRun(this.lab, host, `docker inspect -f '{{.Id}} {{.Config.Image}} {{.Created}} {{.State.Running}}' ${name} 2>/dev/null`);
    if (r.code !== 0) return undefined;
    const [id, image, created, running] = r.stdout.trim().split(' ');
    return { id, image, created, running: running === 'true' };
  }

  /** Removes the fixture's containers (kept ones too) and the ensemble's data. */
  cleanUp(): void {
    for (const h of this.members) sshRun(this.lab, h.name, `docker rm -f ${this.zk} ${this.zk}-previous ${this.mc} ${this.mc}-previous >/dev/null 2>&1; rm -rf ${DATA}`);
  }
}
