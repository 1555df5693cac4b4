// The SSH transport against a lab host's real sshd: connections are reused across callers, and a burst of channels
// beyond sshd's per-connection limit (MaxSessions, 10 by default) still succeeds on a second connection.
import { inspect } from 'util';
import { closeHostConnections, HostSession, type SshTarget } from '../../lib/ssh';
import { labStatus, sshRun, type LabStatus } from '../helpers/lab';

let lab: LabStatus;
let target: SshTarget;
beforeAll(() => {
  lab = labStatus();
  const host = lab.hosts[0];
  target = { host: host.name, address: host.address, port: 22, user: 'root', keyFile: lab.ssh.keyFile, knownHosts: lab.ssh.knownHosts };
});
afterEach(() => closeHostConnections());

/** SSH connections the host's sshd has from this machine, not counting the one asking. */
function connectionsFromUs(): number {
  const r = sshRun(lab, lab.hosts[0].name, "ss -Htn state established '( sport = :22 )' | wc -l");
  return Number(r.stdout.trim()) - 1;
}

test('callers one after another share one connection', async () => {
  for (let i = 0; i < 5; i++) {
    const session = await HostSession.open(target);
    expect((await session.exec('echo ok')).stdout.trim()).toBe('ok');
    expect((await session.docker().version()).ApiVersion).toBeTruthy();
  }
  expect(connectionsFromUs()).toBe(1);
});

test('more channels at once than sshd allows on one connection all succeed, on few connections', async () => {
  const session = await HostSession.open(target);
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => session.exec(`sleep 1; echo ${i}`)));
  expect(results.map((r) => [r.code, r.stdout.trim()])).toEqual(Array.from({ length: 20 }, (_, i) => [0, String(i)]));
  const during = connectionsFromUs();
  expect(during).toBeGreaterThanOrEqual(2);
  expect(during).toBeLessThanOrEqual(3);
});

test('a Docker client with channels kept open stays cheap to format (docker-modem inspects its options on every request)', async () => {
  const docker = (await HostSession.open(target)).docker();
  await Promise.all(Array.from({ length: 6 }, () => docker.listContainers()));
  // Before, each request walked the kept channels' whole SSH connection: megabytes of text, a stalled worker.
  expect(inspect(docker.modem, { showHidden: true, depth: null }).length).toBeLessThan(20000);
});

test('closing ends the connections', async () => {
  await (await HostSession.open(target)).exec('true');
  expect(connectionsFromUs()).toBe(1);
  closeHostConnections();
  await new Promise((r) => setTimeout(r, 300));
  expect(connectionsFromUs()).toBe(0);
});
