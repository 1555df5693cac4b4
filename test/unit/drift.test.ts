// Drift: what `contrail-deploy diff` reports for a host, from its survey and its listing of containers.
import * as path from 'path';
import { loadPlan } from '../../lib/load';
import { PROJECT_ROOT } from '../../lib/paths';
import type { SurveyedContainer } from '../../model/activity-types';
import { hostDrift, orphansAmong, type HostDriftInput, type ListedContainer } from '../../model/drift';

const { plan } = loadPlan(path.join(PROJECT_ROOT, 'topology/lab.yaml'));
const onController = plan.stages.flatMap((s) => s.containers).filter((c) => c.host === 'controller1');
const [redis, memcached] = ['redis', 'memcached'].map((n) => onController.find((c) => c.name === n)!);
const rabbit = onController.find((c) => c.name === 'rabbitmq')!;
const ref = (image: string, digest: string) => `10.213.57.1:5000/${image}@sha256:${digest}`;
const ours = (name: string, image: string, state = 'running', topology: string | null = 'lab'): ListedContainer => ({ name, image, state, topology, managed: true });
const healthy = (name: string, imageRef: string): SurveyedContainer => ({ container: name, imageRef, healthy: true });

function drift(over: Partial<HostDriftInput>) {
  return hostDrift({
    host: 'controller1', topology: 'lab', planned: [redis, memcached],
    surveyed: [healthy('redis', ref('redis', 'a')), healthy('memcached', ref('memcached', 'b'))],
    listed: [ours('redis', ref('redis', 'a')), ours('memcached', ref('memcached', 'b'))],
    expected: { redis: ref('redis', 'a'), memcached: ref('memcached', 'b') },
    ...over,
  }).map((d) => [d.container, d.kind, d.detail]);
}

test('a host that runs what the release points at, healthy, with nothing else of the topology: no drift', () => {
  expect(drift({})).toEqual([]);
});

test('missing, stopped, restarting, just started and not answering are each named with what the survey saw', () => {
  const surveyed: SurveyedContainer[] = [
    { container: 'redis', imageRef: null, healthy: false, note: 'exited' },
    { container: 'memcached', imageRef: null, healthy: false, note: 'absent' },
  ];
  expect(drift({ surveyed, listed: [ours('redis', ref('redis', 'a'), 'exited')] })).toEqual([
    ['redis', 'stopped', `exited (image ${ref('redis', 'a')})`],
    ['memcached', 'missing', 'not on the host'],
  ]);
  expect(drift({ surveyed: [{ container: 'redis', imageRef: null, healthy: false, note: 'restarting' }, { container: 'memcached', imageRef: ref('memcached', 'b'), healthy: false, note: '10.213.57.11:11211: connection refused' }] })).toEqual([
    ['redis', 'restarting', expect.stringContaining('restarting')],
    ['memcached', 'unhealthy', '10.213.57.11:11211: connection refused'],
  ]);
});

test('another digest than the release tag is "image"; the same digest with another spec is "spec"; unknown digests are not compared', () => {
  const surveyed = [{ ...healthy('redis', ref('redis', 'old')), healthy: false, note: 'spec changed' }, { container: 'memcached', imageRef: ref('memcached', 'b'), healthy: false, note: 'spec changed' }];
  expect(drift({ surveyed })).toEqual([
    ['redis', 'image', `runs ${ref('redis', 'old')}, the release points at ${ref('redis', 'a')}`],
    ['memcached', 'spec', expect.stringContaining('spec')],
  ]);
  expect(drift({ surveyed: [healthy('redis', ref('redis', 'old')), healthy('memcached', ref('memcached', 'b'))], expected: {} })).toEqual([]);
});

test('a container with a planned name that contrail-deploy did not make is "foreign", whatever its state', () => {
  const surveyed = [{ container: 'redis', imageRef: null, healthy: false, note: 'absent' }, healthy('memcached', ref('memcached', 'b'))];
  const listed = [{ name: 'redis', image: 'busybox:local', state: 'running', topology: null, managed: false }, ours('memcached', ref('memcached', 'b'))];
  expect(drift({ surveyed, listed })).toEqual([['redis', 'foreign', 'a container not made by contrail-deploy has this name (running, image busybox:local)']]);
});

test("orphans: this topology's containers not planned on the host; not another topology's, not a replacement's kept container, not unlabelled ones", () => {
  const listed = [
    ours('redis', ref('redis', 'a')), ours('memcached', ref('memcached', 'b')),
    ours('old-service', 'x@sha256:1', 'exited'),
    ours('redis-previous', ref('redis', 'old'), 'exited'),
    ours('smoke-web', 'y@sha256:2', 'running', 'smoke'),
    ours('made-before-labels', 'z@sha256:3', 'running', null),
  ];
  expect(drift({ listed })).toEqual([['old-service', 'orphan', "carries topology lab's label but is not planned on this host any more (exited, image x@sha256:1)"]]);
  // A service moved to another host is an orphan where it was, and so is what its last replacement kept.
  expect(orphansAmong(listed, 'lab', new Set(['memcached'])).map((o) => o.name)).toEqual(['redis', 'old-service', 'redis-previous']);
});

test('a clustered member that answers but is out of quorum drifts', () => {
  const surveyed = [{ ...healthy('rabbitmq', ref('rabbitmq', 'r')), inQuorum: false }];
  expect(drift({ planned: [rabbit], surveyed, listed: [ours('rabbitmq', ref('rabbitmq', 'r'))], expected: {} })).toEqual([['rabbitmq', 'unhealthy', expect.stringContaining('quorum')]]);
});
