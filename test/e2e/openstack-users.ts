// OpenStack as its users reach it, on the deployed lab stack (called from stack.test.ts, which deploys it once): the
// operator's `openstack` client from this machine, signed in as the admin, asks each API what an operator asks. And
// the API health gates ask the same way: a service that answers on its port but refuses the token does not pass.
import { createHash, randomBytes } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { scratchDir } from '../helpers/files';
import { sshRun, uniqueSuffix, type LabStatus } from '../helpers/lab';
import { openStackClient, type OpenStackClient } from '../helpers/openstack-client';

interface Endpoint { 'Service Type': string; Interface: string; URL: string; Region: string; Enabled: boolean }
interface Service { Binary: string; Host: string; State: string; Status: string }

/** Asks until every row of a list is there and up: services report every 10 s, a compute host's resources a moment
 *  after its service starts. */
async function eventually<T>(ask: () => T, done: (value: T) => boolean, seconds = 60): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  let value = ask();
  while (!done(value) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 3000));
    value = ask();
  }
  return value;
}

export function openStackAsItsUsers(getLab: () => LabStatus): void {
  describe('OpenStack as its users reach it: the openstack client, as the admin', () => {
    let lab: LabStatus;
    let controller: string;
    let os: OpenStackClient;
    beforeAll(() => {
      lab = getLab();
      controller = lab.hosts.find((h) => h.name === 'controller1')!.address;
      os = openStackClient(lab, controller);
    });

    test('a token; the catalog and its endpoints hold identity, compute, placement, image and volume on the controller', () => {
      const token = os.json<{ id: string; project_id: string }>(['token', 'issue']);
      expect(token.id).toMatch(/^\S{20,}$/);
      const catalog = os.json<{ Type: string }[]>(['catalog', 'list']);
      expect(catalog.map((c) => c.Type).sort()).toEqual(['compute', 'identity', 'image', 'placement', 'volumev3']);
      const ports: Record<string, number[]> = { identity: [5000, 35357], compute: [8774], placement: [8778], image: [9292], volumev3: [8776] };
      const endpoints = os.json<Endpoint[]>(['endpoint', 'list']);
      for (const [type, port] of Object.entries(ports)) {
        const mine = endpoints.filter((e) => e['Service Type'] === type);
        expect([type, mine.map((e) => e.Interface).sort()]).toEqual([type, ['admin', 'internal', 'public']]);
        for (const e of mine) {
          expect([type, e.Region, e.Enabled]).toEqual([type, 'RegionOne', true]);
          expect(port.map((p) => `http://${controller}:${p}`)).toContain(new URL(e.URL).origin);
        }
      }
    });

    test('an image uploaded into glance is listed and shown active, with its size and checksum', () => {
      const file = path.join(scratchDir({}), 'tiny.raw');
      const bytes = randomBytes(64 * 1024);
      fs.writeFileSync(file, bytes);
      const name = `e2e-tiny-${uniqueSuffix()}`;
      const created = os.json<{ id: string }>(['image', 'create', '--disk-format', 'raw', '--container-format', 'bare', '--file', file, name]);
      try {
        expect(os.json<{ ID: string; Name: string; Status: string }[]>(['image', 'list', '--name', name])).toEqual([{ ID: created.id, Name: name, Status: 'active' }]);
        const shown = os.json<{ status: string; size: number; checksum: string }>(['image', 'show', created.id]);
        expect([shown.status, shown.size, shown.checksum]).toEqual(['active', bytes.length, createHash('md5').update(bytes).digest('hex')]);
      } finally {
        os.run(['image', 'delete', created.id]);
      }
    });

    test('volume service list shows cinder-scheduler up on the controller', async () => {
      const services = await eventually(() => os.json<Service[]>(['volume', 'service', 'list']), (l) => l.some((s) => s.Binary === 'cinder-scheduler' && s.State === 'up'));
      expect(services.filter((s) => s.Binary === 'cinder-scheduler').map((s) => [s.Host, s.Status, s.State])).toEqual([['controller1', 'enabled', 'up']]);
    });

    test('compute service list shows every nova service up, nova-compute on both compute hosts', async () => {
      const expected = ['nova-compute@compute1', 'nova-compute@compute2', 'nova-conductor@controller1', 'nova-scheduler@controller1'];
      const upNow = (l: Service[]) => l.filter((s) => s.State === 'up' && s.Status === 'enabled').map((s) => `${s.Binary}@${s.Host}`).sort();
      const services = await eventually(() => os.json<Service[]>(['compute', 'service', 'list']), (l) => upNow(l).length === l.length && l.length === expected.length);
      expect(services.map((s) => `${s.Binary}@${s.Host}`).sort()).toEqual(expected);
      expect(upNow(services)).toEqual(expected);
    });

    test('hypervisor list and resource provider list show compute1 and compute2', async () => {
      const hypervisors = await eventually(() => os.json<{ 'Hypervisor Hostname': string }[]>(['hypervisor', 'list']), (l) => l.length >= 2);
      expect(hypervisors.map((h) => h['Hypervisor Hostname']).sort()).toEqual(['compute1', 'compute2']);
      const providers = await eventually(() => os.json<{ name: string }[]>(['resource', 'provider', 'list']), (l) => l.length >= 2);
      expect(providers.map((p) => p.name).sort()).toEqual(['compute1', 'compute2']);
    });

    test("an API's health check fails when the service answers but refuses the token, and passes on the real one", async () => {
      const check = (port: number, urlPath: string, env = '') => sshRun(lab, 'controller1', `docker exec ${env} glance-api openstack-api-check ${port} ${urlPath}`);
      expect(check(9292, '/v2/images')).toMatchObject({ code: 0 });
      // What keystonemiddleware answers when its own user cannot sign in, from a listener that answers for a minute.
      const port = 29000 + Math.floor(Math.random() * 1000);
      const refuser = `import http.server as h, time
class Refuse(h.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(401); self.end_headers(); self.wfile.write(b"Authentication required")
s = h.HTTPServer(("127.0.0.1", ${port}), Refuse); s.timeout = 1
end = time.time() + 60
while time.time() < end: s.handle_request()`;
      expect(sshRun(lab, 'controller1', `docker exec -d glance-api python3 -c '${refuser}'`).code).toBe(0);
      // (Python takes a moment to start in the container on a busy machine: until it listens, the check says so.)
      let refused = check(port, '/v2/images', '-e HOST_IP=127.0.0.1');
      for (let i = 0; i < 30 && /Connection refused/.test(refused.stderr); i++) {
        await new Promise((r) => setTimeout(r, 1000));
        refused = check(port, '/v2/images', '-e HOST_IP=127.0.0.1');
      }
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain(`GET http://127.0.0.1:${port}/v2/images with the admin token: HTTP 401`);
    });
  });
}
