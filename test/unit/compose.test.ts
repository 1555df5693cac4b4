// compose export and the container selection of logs/down, on the shipped lab topology.
import * as path from 'path';
import { parse } from 'yaml';
import { loadPlan } from '../../lib/load';
import { PROJECT_ROOT } from '../../lib/paths';
import { composeFiles } from '../../model/compose';
import { dataDirectories, selectContainers, teardownOrder } from '../../model/targets';

const { plan } = loadPlan(path.join(PROJECT_ROOT, 'topology/lab.yaml'));

test('one docker-compose.yml and common.env per host and group, the groups of each host in stage order', () => {
  const groups = composeFiles(plan).filter((f) => f.path.endsWith('docker-compose.yml')).map((f) => path.dirname(f.path));
  expect(groups).toEqual(['controller1/common', 'controller1/database', 'controller1/config', 'controller1/control', 'controller1/analytics', 'controller1/webui', 'controller1/openstack', 'compute1/compute', 'compute2/compute']);
});

test('a service keeps host networking, restart policy, volumes and labels; a secret is a ${NAME} reference, never a value', () => {
  const file = composeFiles(plan).find((f) => f.path === 'controller1/config/docker-compose.yml')!;
  const api = (parse(file.text) as { services: Record<string, Record<string, unknown>> }).services['config-api'];
  expect(api).toMatchObject({ image: '10.213.57.1:5000/config-api:2026.11-lab', network_mode: 'host', restart: 'unless-stopped', env_file: ['./common.env'] });
  expect((api.environment as Record<string, string>).ADMIN_PASSWORD).toBe('${LAB_ADMIN_PASSWORD:?export LAB_ADMIN_PASSWORD}');
  expect(api.labels).toMatchObject({ 'net.juniper.contrail': 'config' });
  const env = composeFiles(plan).find((f) => f.path === 'controller1/config/common.env')!.text;
  expect(env).toMatch(/^HOST_IP=10\.213\.57\.11$/m);
});

test('logs and down select by service, group or host, and name the choices when nothing matches', () => {
  expect(selectContainers(plan, 'config-api').containers.map((c) => c.host)).toEqual(['controller1']);
  expect(selectContainers(plan, 'compute1').containers.every((c) => c.host === 'compute1')).toBe(true);
  expect(new Set(selectContainers(plan, 'analytics').containers.map((c) => c.stage))).toEqual(new Set(['analytics']));
  const none = selectContainers(plan, 'nova');
  expect(none.containers).toEqual([]);
  expect(none.problem).toContain('groups: common, database, config');
});

test('down goes in reverse stage order; --purge-data only ever names declared role directories', () => {
  expect(teardownOrder(plan, selectContainers(plan).containers).map((g) => g.stage)).toEqual(['compute', 'openstack', 'webui', 'analytics', 'control', 'config', 'database', 'common']);
  const libvirt = plan.stages.flatMap((s) => s.containers).find((c) => c.service === 'libvirt')!;
  // /lib/modules and /sys/fs/cgroup are bound too, but are not data.
  expect(libvirt.volumes.some((v) => v.startsWith('/lib/modules'))).toBe(true);
  expect(dataDirectories(plan, libvirt)).toEqual(['/var/lib/nova/instances', '/var/lib/libvirt']);
});
