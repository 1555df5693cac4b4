// A real Cassandra ring across hosts: one node on each of the three lab hosts, every one a seed (CASSANDRA_SERVER is
// derived from where the service runs). The ring forms, the quorum gate passes on what the ring says through CQL
// (system.local and system.peers), and a keyspace with replication factor 3 takes a write at QUORUM on one host that
// a QUORUM read on another host gives back, from inside the started containers, as a user would. Then each node as the
// image promises (Thrift and CQL on the host address, data under the host volume, no quorum without a majority): the
// infra image tests leave Cassandra to this file, so that its JVMs start once.
// Sibling of quorum.test.ts (ZooKeeper); `down --purge-data` leaves the hosts' Cassandra directories empty again.
import * as fs from 'fs';
import * as path from 'path';
import { PROJECT_ROOT } from '../../lib/paths';
import type { RunSummary, Step } from '../../model/steps';
import { scratchDir } from '../helpers/files';
import { talk, thriftDescribeVersion } from '../helpers/net';
import { cli, labStatus, labTopology, lastJsonLine, sshRun, startWorker, uniqueSuffix, type LabStatus, type WorkerProcess } from '../helpers/lab';

jest.setTimeout(20 * 60 * 1000);

const suffix = uniqueSuffix();
const env = { CONTRAIL_TASK_QUEUE_PREFIX: `ring-${suffix}` };
const ring = `cassandra-${suffix}`;
let lab: LabStatus;
let worker: WorkerProcess;
let topology: string;

beforeAll(async () => {
  lab = labStatus();
  worker = await startWorker(env);
  const [controller, compute1, compute2] = lab.hosts;
  topology = path.join(scratchDir({}), 'ring.yaml');
  fs.writeFileSync(topology, labTopology(lab, {
    name: `ring${suffix}`, release: `ring-${suffix}`, catalog: path.join(PROJECT_ROOT, 'images/catalog.yaml'),
    hosts: [controller, compute1, compute2].map((h) => `  - { name: ${h.name}, address: ${h.address}, roles: [db] }`).join('\n'),
    roles: '  db: { directories: [{ path: /dockervolumes/cassandra1/var/lib/cassandra/data, mode: "0750" }] }',
    services: `  - { name: ${ring}, image: cassandra, stage: database, roles: [db] }`,
  }));
});
afterAll(async () => {
  // As an operator would: the containers go, and so does the ring's data (the lab stack's Cassandra reuses the paths).
  if (topology) await cli(['down', topology, '--purge-data'], env);
  await worker?.stop();
});

/** `cql ARGS` inside the ring's container on HOST, over SSH, as an operator on that host would run it. */
function cql(host: LabStatus['hosts'][number], ...args: string[]) {
  const quoted = args.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return sshRun(lab, host.name, `docker exec ${ring} cql ${quoted}`);
}

test('three Cassandra nodes on three hosts form a ring, pass the quorum gate, and take a QUORUM write with replication factor 3', async () => {
  const [controller, compute1, compute2] = lab.hosts;
  const run = await cli(['run', topology, '--json'], env);
  const summary = lastJsonLine<RunSummary>(run.stdout);
  expect([run.code, summary.status]).toEqual([0, 'completed']);
  const steps = lastJsonLine<{ steps: Step[] }>((await cli(['status', summary.runId, '--json'], env)).stdout).steps;
  const byId = new Map(steps.map((s) => [s.id, s]));
  // Each node answered CQL and Thrift (its health gate), then a majority said the ring holds them (the quorum gate
  // passes as soon as two of the three do).
  for (const h of [controller, compute1, compute2]) expect(byId.get(`health:${ring}@${h.name}`)?.status).toBe('completed');
  expect(byId.get(`quorum:${ring}`)).toMatchObject({ status: 'completed', detail: expect.stringMatching(/^[23] of 3 members in quorum \(.*\), 2 needed$/) });

  // The ring as each node sees it: itself in system.local and the two others in system.peers.
  const addresses = [controller, compute1, compute2].map((h) => h.address).sort();
  for (const h of [controller, compute1, compute2]) {
    const peers = cql(h, 'SELECT peer FROM system.peers');
    expect([h.name, peers.code, peers.stdout.trim().split('\n').sort()]).toEqual([h.name, 0, addresses.filter((a) => a !== h.address)]);
  }
  expect(cql(compute1, 'ring').stdout).toBe(`ring of 3: 3 answer, 2 needed (${addresses.map((a) => `${a} up`).join(', ')})\n`);

  // Replication factor 3: a QUORUM write needs two replicas to acknowledge it; a QUORUM read on another host sees it.
  const created = cql(controller, "CREATE KEYSPACE ring WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}");
  expect([created.code, created.stderr]).toEqual([0, '']);
  expect(cql(controller, 'CREATE TABLE ring.writes (id text PRIMARY KEY, host text)').code).toBe(0);
  const write = cql(controller, '--consistency', 'QUORUM', `INSERT INTO ring.writes (id, host) VALUES ('${suffix}', '${controller.name}')`);
  expect([write.code, write.stderr]).toEqual([0, '']);
  expect(cql(compute2, '--consistency', 'QUORUM', `SELECT host FROM ring.writes WHERE id = '${suffix}'`)).toMatchObject({ code: 0, stdout: `${controller.name}\n` });
  expect(cql(compute1, "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = 'ring'").stdout).toContain("'replication_factor': '3'");
});

test('each node as its clients and operators meet it: Thrift and CQL on its host address, its data under the host volume, and no quorum when its ring is no majority of the members named', async () => {
  const members = lab.hosts.slice(0, 3); // the ring's hosts (see beforeAll)
  for (const h of members) {
    // Thrift as pycassa (Contrail's API server) asks first, from outside: describe_version, answered with the API version.
    expect([h.name, await talk(h.address, 9160, thriftDescribeVersion(), /20\.1\.0/)]).toEqual([h.name, expect.stringMatching(/describe_version[\s\S]*20\.1\.0\x00?$/)]);
    expect(cql(h, 'health')).toMatchObject({ code: 0, stdout: `cassandra 3.11.19 on ${h.address}: CQL answers, Thrift API 20.1.0 answers\n` });
    // Everything it writes (the commit log too) is under the host's directory, which outlives the container.
    const volume = sshRun(lab, h.name, 'ls /dockervolumes/cassandra1/var/lib/cassandra/data /dockervolumes/cassandra1/var/lib/cassandra/data/data');
    expect([h.name, volume.stdout]).toEqual([h.name, expect.stringMatching(/commitlog[\s\S]*data[\s\S]*hints[\s\S]*saved_caches[\s\S]*\bring\b/)]);
  }
  // Told of four more members it never met (addresses nothing answers on), the ring of three is no majority of the
  // seven: no quorum, and it says which members are missing. (Nothing connects to them: only ring members are asked.)
  const [controller] = members;
  const fakes = ['10.213.57.95', '10.213.57.96', '10.213.57.97', '10.213.57.98'];
  const split = sshRun(lab, controller.name, `docker exec -e 'CASSANDRA_SERVER=${[controller.address, ...fakes].join(' ')}' ${ring} cql ring`);
  expect([split.code, split.stderr]).toEqual([1, expect.stringMatching(/^cql: no quorum: 3 of 7 members in the ring answer, 4 needed \(.*\)\n$/)]);
  for (const h of members) expect(split.stderr).toContain(`${h.address} up`);
  for (const a of fakes) expect(split.stderr).toContain(`${a} not in the ring`);
});
