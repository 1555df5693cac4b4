// The topology's SSH settings for real hosts (a non-root user, how it reaches the Docker engine, bastions per topology
// and per host), and how each host's connection target is made from them.
import * as path from 'path';
import { loadPlan } from '../../lib/load';
import { PROJECT_ROOT } from '../../lib/paths';
import { sshTarget } from '../../lib/ssh';
import { makePlan } from '../../model/plan';
import { parseTopology } from '../../model/topology';
import type { Catalog } from '../../model/types';
import { configProblems, RUNTIME_DEFAULTS } from '../helpers/files';

const catalog: Catalog = {
  file: '/p/images/catalog.yaml',
  images: [{ name: 'web', context: 'web', dockerfile: 'Dockerfile', parent: null, base: 'busybox:local', labels: {}, buildArgs: {}, ports: [8180], ...RUNTIME_DEFAULTS }],
};
const ctx = { labDir: '/lab', loadCatalog: () => catalog };

const topology = (ssh: string, hosts = '  - { name: c1, address: 10.0.0.11, roles: [controller] }') => `name: t
release: r1
catalog: ../images/catalog.yaml
registry: { address: "10.0.0.1:5000", username: u, password: { secret: REG_PW } }
${ssh}
hosts:
${hosts}
roles: { controller: {} }
services:
  - { name: web, image: web, stage: common, roles: [controller] }
`;
const parse = (text: string) => parseTopology('/p/topology/t.yaml', text, ctx);
const ref = (name: string, address: string) => ({ name, address, sshPort: 22 });

test('a root user by default; root reaches the engine as root, whatever ssh.docker says', () => {
  const t = parse(topology('ssh: { docker: group }'));
  expect(t.ssh).toMatchObject({ user: 'root', docker: 'group' });
  expect(sshTarget(ref('c1', '10.0.0.11'), t.ssh)).toMatchObject({ user: 'root', docker: 'root', jumpHost: null });
});

test('a non-root user reaches the engine through sudo unless the topology says group', () => {
  expect(sshTarget(ref('c1', '10.0.0.11'), parse(topology('ssh: { user: deploy }')).ssh).docker).toBe('sudo');
  expect(sshTarget(ref('c1', '10.0.0.11'), parse(topology('ssh: { user: deploy, docker: group }')).ssh).docker).toBe('group');
});

test('a topology bastion applies to every host but those that name their own, or none', () => {
  const t = parse(topology('ssh: { user: deploy, jumpHost: { address: bastion.dc1, port: 2222 } }', [
    '  - { name: c1, address: 10.0.0.11, roles: [controller] }',
    '  - { name: c2, address: 10.0.0.12, roles: [controller], jumpHost: none }',
    '  - { name: c3, address: 10.0.1.13, roles: [controller], jumpHost: { address: 10.0.1.1, user: ops } }',
  ].join('\n')));
  expect(t.ssh.jumpHost).toEqual({ address: 'bastion.dc1', port: 2222, user: 'deploy' });
  expect(t.ssh.hostJumpHosts).toEqual({ c2: null, c3: { address: '10.0.1.1', port: 22, user: 'ops' } });
  const plan = makePlan(t, { catalogDir: '/p/images' });
  expect(plan.hosts.map((h) => [h.name, sshTarget(h, plan.ssh).jumpHost])).toEqual([
    ['c1', { address: 'bastion.dc1', port: 2222, user: 'deploy' }],
    ['c2', null],
    ['c3', { address: '10.0.1.1', port: 22, user: 'ops' }],
  ]);
});

test('wrong values are refused at load with file, line and field', () => {
  expect(problems(topology('ssh: { user: deploy, docker: wheel }'))).toMatch(/t\.yaml:5:\d+: ssh\.docker: invalid value "wheel" \(sudo .*or group/);
  expect(problems(topology('ssh: { jumpHost: { address: "bad address!", port: 70000 } }'))).toMatch(/ssh\.jumpHost\.address: invalid value[\s\S]*ssh\.jumpHost\.port: 70000 is out of range/);
  expect(problems(topology('ssh: { jumpHost: nowhere }'))).toMatch(/ssh\.jumpHost: expected a mapping/);
  expect(problems(topology('ssh: {}', '  - { name: c1, address: 10.0.0.11, roles: [controller], jumpHost: { user: x } }'))).toMatch(/hosts\[0\]\.jumpHost\.address: missing required key "address"/);
});

test('topology/lab-production.yaml: deploy with sudo, edge1 through the bastion, compute1 directly', () => {
  const { plan } = loadPlan(path.join(PROJECT_ROOT, 'topology/lab-production.yaml'));
  expect(plan.ssh).toMatchObject({ user: 'deploy', docker: 'sudo', jumpHost: { address: '10.213.57.5', port: 2222, user: 'deploy' } });
  expect(plan.hosts.map((h) => [h.name, sshTarget(h, plan.ssh).jumpHost?.address ?? 'direct'])).toEqual([['edge1', '10.213.57.5'], ['compute1', 'direct']]);
});

function problems(text: string): string {
  return configProblems(() => parse(text));
}
