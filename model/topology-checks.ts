// Checks of a whole topology that reading each field alone cannot make, so that what would fail only later, on the
// hosts, is refused at load: an address that is no address, one machine listed twice, two services on one host that
// would listen on the same port (containers use the host's network: the second one cannot bind it).
import { isMap, isSeq } from 'yaml';
import { placeService } from './placement';
import type { HealthCheck, ImageSpec, ServiceSpec, Topology } from './types';
import type { YamlNode, YamlReader } from './yaml-reader';

const ADDRESS_HINT = 'an IPv4 address (10.0.0.11), an IPv6 address without brackets (fd00::11) or a DNS name (ctl1.example.net)';

/** Adds a problem (file, line, field, fix) to the reader for each address, duplicate host and port collision. */
export function checkHostsAndPorts(r: YamlReader, t: Topology, top: Map<string, YamlNode>): void {
  const hostNode = (i: number, key: string) => fieldNode(top.get('hosts'), i, key);
  const seen = new Map<string, number>();
  t.hosts.forEach((h, i) => {
    const problem = addressProblem(h.address);
    if (problem) {
      r.problem(hostNode(i, 'address'), `hosts[${i}].address`, `${JSON.stringify(h.address)} is not ${problem}`, ADDRESS_HINT);
      return;
    }
    const key = `${canonicalAddress(h.address)} port ${h.sshPort}`;
    const first = seen.get(key);
    if (first === undefined) {
      seen.set(key, i);
      return;
    }
    r.problem(hostNode(i, 'address'), `hosts[${i}].address`, `host "${h.name}" has the address of host "${t.hosts[first].name}" (hosts[${first}]): ${h.address}, SSH port ${h.sshPort}`,
      `a host is listed once: give it its own address, or list that machine once with all its roles (roles: [${[...new Set([...t.hosts[first].roles, ...h.roles])].join(', ')}])`);
  });
  checkJumpHostAddresses(r, t, top);
  checkPorts(r, t, top);
}

/** The bastions' addresses (ssh.jumpHost, hosts[i].jumpHost), held to the same rule as the hosts'. */
function checkJumpHostAddresses(r: YamlReader, t: Topology, top: Map<string, YamlNode>): void {
  const check = (address: string | undefined, node: YamlNode, field: string) => {
    const problem = address === undefined ? undefined : addressProblem(address);
    if (problem) r.problem(node, field, `${JSON.stringify(address)} is not ${problem}`, ADDRESS_HINT);
  };
  const ssh = top.get('ssh');
  check(t.ssh.jumpHost?.address, mapPath(ssh, ['jumpHost', 'address']) ?? ssh, 'ssh.jumpHost.address');
  t.hosts.forEach((h, i) => {
    const jump = t.ssh.hostJumpHosts?.[h.name];
    const node = fieldNode(top.get('hosts'), i, 'jumpHost');
    check(jump?.address, mapPath(node, ['address']) ?? node, `hosts[${i}].jumpHost.address`);
  });
}

function mapPath(node: YamlNode, keys: string[]): YamlNode {
  let at = node;
  for (const key of keys) at = isMap(at) ? (at.get(key, true) as YamlNode) : undefined;
  return at;
}

/** Two services placed on one host must not listen on the same port: one problem per pair and port, at the second. */
function checkPorts(r: YamlReader, t: Topology, top: Map<string, YamlNode>): void {
  const images = new Map(t.catalog.images.map((i) => [i.name, i]));
  const listening = t.services.map((s, index) => ({ s, index, placed: new Set(placeService(t, s).map((h) => h.name)), ...listeningPorts(s, images.get(s.image)) }));
  const collisions = new Map<string, { first: ServiceSpec; second: (typeof listening)[number]; port: number; hosts: string[] }>();
  for (const h of t.hosts) {
    const taken = new Map<number, ServiceSpec>();
    for (const l of listening.filter((x) => x.placed.has(h.name))) {
      for (const port of l.ports) {
        const first = taken.get(port);
        if (!first) {
          taken.set(port, l.s);
          continue;
        }
        const key = `${first.name} ${l.s.name} ${port}`;
        const seen = collisions.get(key) ?? { first, second: l, port, hosts: [] };
        seen.hosts.push(`${h.name} (${h.address})`);
        collisions.set(key, seen);
      }
    }
  }
  for (const { first, second, port, hosts } of collisions.values()) {
    const { s, index, fromService } = second;
    const where = hosts.length === 1 ? `host ${hosts[0]}` : `hosts ${hosts.slice(0, 3).join(', ')}${hosts.length > 3 ? ` and ${hosts.length - 3} more` : ''}`;
    r.problem(fieldNode(top.get('services'), index, fromService ? 'health' : 'image'), `services[${index}].${fromService ? 'health' : 'image'}`,
      `services "${first.name}" and "${s.name}" both listen on port ${port} on ${where}; containers use the host's network, so the second one cannot bind it`,
      fromService
        ? `give "${s.name}" another port (in its env and its health check), or place one of them on other hosts (roles or hosts)`
        : `place one of them on other hosts (roles or hosts), or move "${s.name}" to another port (its env, and health: { tcp: PORT } on the service)`);
  }
}

/**
 * The ports a service's container listens on: those its own health check names (a service that sets one has moved
 * to its port, as smoke-web does with LISTEN_PORT); otherwise its image's ports and health check port.
 */
export function listeningPorts(s: ServiceSpec, image: ImageSpec | undefined): { ports: number[]; fromService: boolean } {
  const own = healthPorts(s.health);
  if (own.length) return { ports: own, fromService: true };
  return { ports: [...new Set([...(image?.ports ?? []), ...healthPorts(image?.health)])], fromService: false };
}

function healthPorts(h: HealthCheck | undefined): number[] {
  return [...new Set([h?.tcp, h?.http?.port].filter((p): p is number => p !== undefined))];
}

/** The node of `key` in the i-th mapping of a list, for the line of a problem; the list's own node when absent. */
function fieldNode(list: YamlNode, i: number, key: string): YamlNode {
  if (!isSeq(list)) return list;
  const item = list.items[i] as YamlNode;
  return (isMap(item) ? (item.get(key, true) as YamlNode) : undefined) ?? item ?? list;
}

/** Why an address is not a valid IPv4 or IPv6 address or DNS name ("a valid IPv4 address"), or undefined. */
export function addressProblem(address: string): string | undefined {
  if (address.includes(':')) return ipv6Groups(address) ? undefined : 'a valid IPv6 address';
  // All digits and dots: meant as an IPv4 address (a DNS name's last label is never all digits).
  if (/^[0-9.]+$/.test(address)) return isIpv4(address) ? undefined : 'a valid IPv4 address (four numbers 0-255, without leading zeros)';
  return isDnsName(address) ? undefined : 'a valid DNS name (labels of letters, digits and "-", at most 63 characters each, 253 in all)';
}

function isIpv4(text: string): boolean {
  const parts = text.split('.');
  return parts.length === 4 && parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255);
}

function isDnsName(text: string): boolean {
  const name = text.endsWith('.') ? text.slice(0, -1) : text;
  const labels = name.split('.');
  return name.length <= 253 && labels.every((l) => /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l)) && !/^[0-9]+$/.test(labels[labels.length - 1]);
}

/** The eight 16-bit groups of an IPv6 address (with "::" and a trailing IPv4 part), or undefined when invalid. */
function ipv6Groups(text: string): number[] | undefined {
  let rest = text;
  const tail: number[] = [];
  const v4 = /^(.*:)([0-9.]+)$/.exec(rest);
  if (v4 && v4[2].includes('.')) {
    if (!isIpv4(v4[2])) return undefined;
    const [a, b, c, d] = v4[2].split('.').map(Number);
    tail.push((a << 8) | b, (c << 8) | d);
    // "::1.2.3.4" keeps its "::"; "64:ff9b::1.2.3.4" too; "1:2:3:4:5:6:1.2.3.4" drops the trailing ":".
    rest = v4[1].endsWith('::') ? v4[1] : v4[1].slice(0, -1);
  }
  const halves = rest.split('::');
  if (halves.length > 2) return undefined;
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  const [head, after] = [groups(halves[0]), halves.length === 2 ? groups(halves[1]) : []];
  if (![...head, ...after].every((g) => /^[0-9A-Fa-f]{1,4}$/.test(g))) return undefined;
  const known = head.length + after.length + tail.length;
  if (halves.length === 1 ? known !== 8 : known > 7) return undefined;
  const parse = (g: string) => parseInt(g, 16);
  return [...head.map(parse), ...Array<number>(8 - known).fill(0), ...after.map(parse), ...tail];
}

/** One spelling per address, so that two spellings of one machine compare equal. */
function canonicalAddress(address: string): string {
  const v6 = address.includes(':') ? ipv6Groups(address) : undefined;
  if (v6) return v6.map((g) => g.toString(16)).join(':');
  return address.toLowerCase().replace(/\.$/, '');
}
