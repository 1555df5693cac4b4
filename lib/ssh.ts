// One SSH connection per host (ssh2), with the host key checked against known_hosts as OpenSSH does (plain, hashed,
// [host]:port, @cert-authority and @revoked entries: lib/known-hosts.ts), used both for commands and as the transport
// of the host's Docker API (`docker system dial-stdio`, one channel per HTTP connection). A host behind a bastion is
// reached as OpenSSH's ProxyJump does: its connection is a forwarded channel on the one connection to the bastion.
// A non-root user acts as root through `sudo -n`; the Docker engine is reached as ssh.docker says.
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import type { Duplex } from 'stream';
import { inspect } from 'util';
import { ApplicationFailure } from '@temporalio/common';
import Docker from 'dockerode';
import { Client, type ClientChannel, type ConnectConfig } from 'ssh2';
import type { SshSettings } from '../model/activity-types';
import type { HostRef } from '../model/plan';
import { Semaphore } from '../model/semaphore';
import { fetchHostCertificate } from './host-certificate-probe';
import { probesThroughSsh, type ProbeVia } from './probes';
import { checkCertificate, keysForHost, lookupName, parseKnownHosts, signatureAlgorithmsFor, verifyHostKey, WireReader, type HostKeys } from './known-hosts';
import { expandHome } from './paths';
import { shq } from '../model/shell';

// sshd drops new connections at random once 10 are still authenticating (MaxStartups 10:30:100, the default): a stage
// that starts many containers on one host at once would see handshake timeouts. Handshakes to one host take turns,
// a few at a time; the sessions themselves are not limited.
const HANDSHAKES_PER_HOST = 4;
const handshakes = new Map<string, Semaphore>();
function handshakeSlots(address: string, port: number): Semaphore {
  const key = `${address}:${port}`;
  if (!handshakes.has(key)) handshakes.set(key, new Semaphore(HANDSHAKES_PER_HOST));
  return handshakes.get(key)!;
}

/** A bastion that hosts are reached through, as OpenSSH's ProxyJump: `user@address:port`. */
export interface JumpHost {
  address: string;
  port: number;
  user: string;
}

/** How the Docker engine is reached: as root (user root), through `sudo -n`, or as a member of the docker group. */
export type DockerAccess = 'root' | 'sudo' | 'group';

export interface SshTarget {
  host: string;
  address: string;
  port: number;
  user: string;
  keyFile: string | null;
  knownHosts: string;
  /** Default: root for user root, else sudo. */
  docker?: DockerAccess;
  /** The bastion the connection goes through; none: straight to the host. */
  jumpHost?: JumpHost | null;
}

/** Where and how to reach a planned host: its address and SSH port, with the topology's SSH settings. */
export function sshTarget(host: HostRef, ssh: SshSettings): SshTarget {
  const overrides = ssh.hostJumpHosts ?? {};
  const jumpHost = host.name in overrides ? overrides[host.name] : ssh.jumpHost ?? null;
  return { host: host.name, address: host.address, port: host.sshPort, user: ssh.user, keyFile: ssh.keyFile, knownHosts: ssh.knownHosts, docker: dockerAccess(ssh.user, ssh.docker), jumpHost };
}

export function dockerAccess(user: string, chosen: 'sudo' | 'group' | undefined): DockerAccess {
  return user === 'root' ? 'root' : chosen ?? 'sudo';
}

/**
 * A host that cannot be reached (retryable) or refuses us (not: a host key, a key, sudo rights). An ApplicationFailure,
 * so that an activity's own error handling passes it on as it is, whatever catches it on the way.
 */
export class SshError extends ApplicationFailure {
  constructor(readonly host: string, readonly step: string, readonly detail: string, readonly retryable: boolean) {
    super(`host ${host}: ${step}: ${detail}`, retryable ? 'SshUnreachable' : 'SshRefused', !retryable);
  }
}

/** What a known_hosts file says about one host: refused with a clear line when it says nothing. */
function hostKeysOf(target: SshTarget): { keys: HostKeys; fingerprint: string } {
  let text: string;
  try {
    text = fs.readFileSync(expandHome(target.knownHosts), 'utf8');
  } catch {
    throw new SshError(target.host, 'verify host key', `cannot read the known_hosts file ${target.knownHosts} (ssh.knownHosts in the topology)`, false);
  }
  const keys = keysForHost(parseKnownHosts(text).entries, target.address, target.port);
  if (!keys.pinned.length && !keys.authorities.length) {
    throw new SshError(target.host, 'verify host key', `no key for ${lookupName(target.address, target.port)} in ${target.knownHosts}; add the host's key there (ssh-keyscan, checked by hand), or a @cert-authority line for its CA, before deploying`, false);
  }
  const fingerprint = [...keys.pinned, ...keys.authorities, ...keys.revoked].map((e) => `${e.marker ?? ''}${e.key.toString('base64')}`).join(' ');
  return { keys, fingerprint };
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

// One SSH connection per host, shared by every activity on this worker: a handshake costs far more than a channel,
// and a no-op redeploy is mostly small requests. sshd refuses channels beyond MaxSessions (10 by default) per
// connection, so a busy host gets a second connection rather than a refused channel.
const CHANNELS_PER_CONNECTION = 8;
// An unused connection is closed after this long; the next request opens a new one.
const IDLE_CLOSE_MS = 20000;

/** One authenticated SSH connection and the channels open on it. */
class Connection {
  channels = 0;
  closed = false;
  private idleTimer: NodeJS.Timeout | undefined;
  readonly ready: Promise<void>;

  constructor(readonly target: SshTarget, readonly client: Client, connect: () => Promise<void>, private readonly onClosed: (c: Connection) => void) {
    this.ready = connect();
    // A connection lost later (keepalive timeout, reset) ends its channels, which fails what runs over them; the
    // listener keeps the event from being thrown as unhandled.
    client.on('error', () => undefined);
    client.on('close', () => this.markClosed());
    this.ready.catch(() => this.markClosed());
  }

  claim(): void {
    this.channels++;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  release(): void {
    this.channels--;
    if (this.channels > 0 || this.closed) return;
    this.idleTimer = setTimeout(() => this.close(), IDLE_CLOSE_MS);
    this.idleTimer.unref();
  }

  close(): void {
    this.markClosed();
    this.client.end();
  }

  private markClosed(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.onClosed(this);
  }
}

/** Connections per host target; the key includes the known_hosts entries for it, so an edited file is checked afresh. */
const connections = new Map<string, Connection[]>();
/** One connection per bastion, carrying every host connection through it (forwarded channels are not sessions, so
 *  sshd's MaxSessions does not cap them). */
const bastions = new Map<string, Connection>();

function poolKey(target: SshTarget, fingerprint: string): string {
  const jump = target.jumpHost ? `${target.jumpHost.user}@${target.jumpHost.address}:${target.jumpHost.port}` : 'direct';
  return [target.user, target.address, target.port, target.keyFile ?? 'agent', jump, fingerprint].join(' ');
}

function endpoint(target: SshTarget): string {
  return `${target.address}:${target.port}`;
}

function connectConfig(target: SshTarget, timeoutMs: number): ConnectConfig {
  const config: ConnectConfig = {
    host: target.address,
    port: target.port,
    username: target.user,
    readyTimeout: timeoutMs,
    // A host whose link drops sends nothing back, not even a reset: without keepalives a pull or a wait on it
    // hangs until the activity's start-to-close timeout while the timer heartbeats say all is well.
    keepaliveInterval: 5000,
    keepaliveCountMax: 3,
  };
  if (target.keyFile) {
    try {
      config.privateKey = fs.readFileSync(expandHome(target.keyFile));
    } catch {
      throw new SshError(target.host, 'read SSH key', `cannot read the key file ${target.keyFile}`, false);
    }
  } else if (process.env.SSH_AUTH_SOCK) {
    config.agent = process.env.SSH_AUTH_SOCK;
  } else {
    throw new SshError(target.host, 'authenticate', 'the topology names no ssh.keyFile and no ssh-agent is running (SSH_AUTH_SOCK)', false);
  }
  return config;
}

/**
 * The host's certificate, when the known_hosts file trusts a CA for it (see lib/host-certificate-probe.ts for why it
 * is fetched on a transport of its own), or null when the host presents none.
 */
async function hostCertificate(target: SshTarget, keys: HostKeys, timeoutMs: number): Promise<Buffer | null> {
  if (!keys.authorities.length) return null;
  try {
    if (!target.jumpHost) return await fetchHostCertificate(net.connect({ host: target.address, port: target.port }), timeoutMs);
    const bastion = await claimBastion(target, timeoutMs);
    try {
      return await fetchHostCertificate(await forwardThrough(bastion, target), timeoutMs);
    } finally {
      bastion.release();
    }
  } catch (e) {
    if (e instanceof SshError) throw e;
    throw new SshError(target.host, 'connect', `cannot reach ${endpoint(target)} (${(e as Error).message})`, true);
  }
}

// The host key algorithms ssh2 negotiates, in its default order (ssh-ed25519 needs node's Ed25519, present since 12).
const HOST_KEY_ALGORITHMS = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256'];

/** Host key algorithms with the kinds of key the file knows for the host first (as OpenSSH orders them), so a host
 *  with several host keys presents the one pinned or certified, and any other still reads as a changed key. */
function preferredHostKeyAlgorithms(keys: HostKeys, certificate: Buffer | null, address: string): string[] | undefined {
  let types = keys.pinned.map((e) => e.keyType);
  if (certificate) {
    const certified = checkCertificate(keys, certificate, address);
    if (certified.ok) types = [new WireReader(certified.key).string().toString()];
  }
  const wanted = [...new Set(types.flatMap(signatureAlgorithmsFor))].filter((a) => HOST_KEY_ALGORITHMS.includes(a));
  return wanted.length ? [...wanted, ...HOST_KEY_ALGORITHMS.filter((a) => !wanted.includes(a))] : undefined;
}

function openConnection(target: SshTarget, keys: HostKeys, timeoutMs: number, onClosed: (c: Connection) => void): Connection {
  const config = connectConfig(target, timeoutMs);
  let refusal: string | undefined;
  const client = new Client();
  const handshake = async () => {
    // Through a bastion, the connection is a forwarded channel on the bastion's connection, held while it is open.
    const bastion = target.jumpHost ? await claimBastion(target, timeoutMs) : undefined;
    let released = false;
    const releaseBastion = () => {
      if (bastion && !released) bastion.release();
      released = true;
    };
    client.once('close', releaseBastion);
    try {
      await handshakeSlots(target.address, target.port).run(async () => {
        const certificate = await hostCertificate(target, keys, timeoutMs);
        const algorithms = preferredHostKeyAlgorithms(keys, certificate, target.address);
        if (algorithms) config.algorithms = { serverHostKey: algorithms as NonNullable<ConnectConfig['algorithms']>['serverHostKey'] };
        if (bastion) config.sock = await forwardThrough(bastion, target);
        config.hostVerifier = (key: Buffer) => {
          const verdict = verifyHostKey(keys, key, target.address, certificate);
          if (!verdict.ok) refusal = verdict.reason;
          return verdict.ok;
        };
        await new Promise<void>((resolve, reject) => {
          // No Nagle delay: short requests (a probe's channel, a Docker API call) would wait for the peer's delayed ACK.
          client.once('ready', () => (client.setNoDelay(true), resolve()));
          client.once('error', (err: Error & { level?: string }) => {
            if (refusal) {
              const changed = refusal.includes('a changed host key');
              const fix = changed ? 'if the host was reinstalled, update that file' : 'fix the host or that file';
              reject(new SshError(target.host, 'verify host key', `the host key of ${target.address} ${changed ? 'does not match' : 'is refused by'} ${target.knownHosts}: ${refusal}; refusing to connect (${fix})`, false));
            } else if (err.level === 'client-authentication') {
              reject(new SshError(target.host, 'authenticate', `${target.user}@${target.address} refused the key`, false));
            } else {
              reject(new SshError(target.host, 'connect', `cannot reach ${endpoint(target)}${bastion ? ` through the bastion ${endpoint(bastion.target)}` : ''} (${err.message})`, true));
            }
          });
          client.connect(config);
        });
      });
    } catch (e) {
      client.end();
      releaseBastion(); // also when the client never connected (no close event then)
      throw e;
    }
  };
  return new Connection(target, client, handshake, onClosed);
}

/** The bastion's own target: same key and known_hosts file, its address, port and user. */
function bastionTarget(target: SshTarget): SshTarget {
  const jump = target.jumpHost!;
  return { host: target.host, address: jump.address, port: jump.port, user: jump.user, keyFile: target.keyFile, knownHosts: target.knownHosts, jumpHost: null };
}

/**
 * The one connection to the target's bastion, opened if needed, claimed for the caller. Its failures name the host
 * the caller wanted to reach (every host behind a bastion that is down parks with its own name).
 */
async function claimBastion(target: SshTarget, timeoutMs: number): Promise<Connection> {
  const bt = bastionTarget(target);
  const behind = (e: unknown) => {
    if (!(e instanceof SshError)) return e;
    const detail = e.detail.replace(endpoint(bt), `the bastion ${endpoint(bt)}`).replace(`for ${lookupName(bt.address, bt.port)}`, `for the bastion ${lookupName(bt.address, bt.port)}`);
    return new SshError(target.host, e.step, `${detail}, on the way to ${endpoint(target)}`, e.retryable);
  };
  let bastion: Connection;
  try {
    const { keys, fingerprint } = hostKeysOf(bt);
    const key = poolKey(bt, fingerprint);
    let existing = bastions.get(key);
    if (!existing || existing.closed) {
      existing = openConnection(bt, keys, timeoutMs, (closed) => {
        if (bastions.get(key) === closed) bastions.delete(key);
      });
      bastions.set(key, existing);
    }
    bastion = existing;
  } catch (e) {
    throw behind(e);
  }
  bastion.claim();
  try {
    await bastion.ready;
  } catch (e) {
    bastion.release();
    throw behind(e);
  }
  return bastion;
}

/** A direct-tcpip channel from the bastion to the target's address and port (what ProxyJump does). */
function forwardThrough(bastion: Connection, target: { host: string; address: string; port: number }): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    bastion.client.forwardOut('127.0.0.1', 0, target.address, target.port, (err, stream) => {
      if (err) return reject(new SshError(target.host, 'connect', `the bastion ${endpoint(bastion.target)} cannot reach ${target.address}:${target.port} (${err.message})`, true));
      resolve(stream);
    });
  });
}

/**
 * How probes reach a host's ports: through the host's bastion when it has one (the worker cannot reach such hosts
 * itself); from the host over its SSH connection for a worker started with `--probes ssh`; else undefined (connect
 * directly). Each connection holds a claim on the bastion until it closes.
 */
export function probeVia(target: SshTarget, timeoutMs = 10000): ProbeVia | undefined {
  if (!target.jumpHost) return probesThroughSsh() ? async (address, port) => (await HostSession.open(target, timeoutMs)).connectFrom(address, port) : undefined;
  return async (address, port) => {
    const bastion = await claimBastion(target, timeoutMs);
    try {
      const stream = await forwardThrough(bastion, { host: target.host, address, port });
      stream.once('close', () => bastion.release());
      return asAgentSocket(stream);
    } catch (e) {
      bastion.release();
      throw e;
    }
  };
}

/** A connection to the target with a free channel, opened if none has one; the channel is claimed for the caller. */
async function claimChannel(target: SshTarget, timeoutMs = 10000): Promise<Connection> {
  const { keys, fingerprint } = hostKeysOf(target);
  const key = poolKey(target, fingerprint);
  const pool = connections.get(key) ?? [];
  connections.set(key, pool);
  let connection = pool.find((c) => !c.closed && c.channels < CHANNELS_PER_CONNECTION);
  if (!connection) {
    connection = openConnection(target, keys, timeoutMs, (closed) => {
      const i = pool.indexOf(closed);
      if (i >= 0) pool.splice(i, 1);
    });
    pool.push(connection);
  }
  // Claimed before the handshake ends, so concurrent callers share this connection instead of each opening one.
  connection.claim();
  try {
    await connection.ready;
  } catch (e) {
    connection.release();
    throw e;
  }
  return connection;
}

/** Opens a channel on a pooled connection; the claim is given back when the channel closes or cannot open. */
async function openChannel<T extends NodeJS.EventEmitter>(target: SshTarget, open: (client: Client, cb: (err: Error | undefined, channel: T) => void) => void): Promise<T> {
  const connection = await claimChannel(target);
  return new Promise<T>((resolve, reject) => {
    open(connection.client, (err, channel) => {
      if (err) {
        connection.release();
        return reject(new SshError(target.host, 'open channel', err.message, true));
      }
      channel.once('close', () => connection.release());
      resolve(channel);
    });
  });
}

// A Docker API channel left open for reuse is closed after this long without a request.
const DOCKER_CHANNEL_IDLE_MS = 4000;

/**
 * An SSH channel as the socket http.Agent expects for keep-alive: the agent calls these socket methods on the
 * connections it keeps. `setTimeout` arms the idle timer that lets the agent close a kept channel.
 */
function asAgentSocket(channel: ClientChannel): Duplex {
  let idle: NodeJS.Timeout | undefined;
  const socket = channel as unknown as Duplex & Record<string, unknown>;
  socket.setKeepAlive = () => socket;
  socket.setNoDelay = () => socket;
  socket.ref = () => socket;
  socket.unref = () => socket;
  socket.setTimeout = (ms: number) => {
    if (idle) clearTimeout(idle);
    idle = ms > 0 ? setTimeout(() => socket.emit('timeout'), ms).unref() : undefined;
    return socket;
  };
  channel.once('close', () => idle && clearTimeout(idle));
  return socket;
}

/** Ends every pooled connection (a process that is done with its hosts, e.g. at worker shutdown or after tests). */
export function closeHostConnections(): void {
  for (const pool of connections.values()) [...pool].forEach((c) => c.close());
  connections.clear();
  for (const bastion of bastions.values()) bastion.close();
  bastions.clear();
  sessions.clear();
}

/** One session per host target, so every activity on this worker shares its Docker client and kept channels. */
const sessions = new Map<string, HostSession>();

// What sudo says when it will not run a command for this user without asking (sudo 1.9), or when it is missing.
const SUDO_REFUSED = /sudo: (a password is required|a terminal is required)|not in the sudoers file|is not allowed to (execute|run sudo)|sudo: (command )?not found/;
// What the docker CLI says when the user may not open the engine's socket.
const SOCKET_DENIED = /permission denied while trying to connect to the Docker daemon socket/i;

/** A host's shell and Docker API over the pooled SSH connections to it. */
export class HostSession {
  private dockerClient: Docker | undefined;
  private engineAccess: Promise<void> | undefined;

  private constructor(readonly target: SshTarget) {}

  /** Checks that the host can be reached (host key, authentication) and returns its session. */
  static async open(target: SshTarget, timeoutMs = 10000): Promise<HostSession> {
    const connection = await claimChannel(target, timeoutMs);
    connection.release();
    const key = JSON.stringify(target);
    if (!sessions.has(key)) sessions.set(key, new HostSession(target));
    return sessions.get(key)!;
  }

  /**
   * The command as it must run to act as root on the host: unchanged for root, through `sudo -n` (never prompting)
   * for any other user. Preparation, checks and the Docker engine go through this.
   */
  asRoot(command: string): string {
    return this.target.user === 'root' ? command : `sudo -n sh -c ${shq(command)}`;
  }

  /**
   * Runs a command as root (see asRoot). When sudo refuses, throws one non-retryable line naming the host, the user
   * and `shown` (the command as an operator would recognise it) and what to add to sudoers.
   */
  async execAsRoot(command: string, step: string, shown: string, timeoutMs?: number): Promise<ExecResult> {
    const r = await this.exec(this.asRoot(command), timeoutMs);
    const refused = this.sudoRefusal(r, step, shown);
    if (refused) throw refused;
    return r;
  }

  private sudoRefusal(r: ExecResult, step: string, shown: string): SshError | undefined {
    if (this.target.user === 'root' || r.code === 0) return undefined;
    const said = r.stderr.split('\n').find((l) => SUDO_REFUSED.test(l))?.trim();
    if (!said) return undefined;
    const { host, user } = this.target;
    if (/not found/.test(said)) return new SshError(host, step, `user ${user} cannot run \`${shown}\` as root: sudo is not installed on ${host} (${said}). Install sudo there, or deploy as root`, false);
    return new SshError(host, step, `user ${user} cannot run \`${shown}\` as root without a password (sudo -n: ${said.replace(/^sudo: /, '')}). Add a NOPASSWD sudoers entry for ${user} on ${host}, e.g. /etc/sudoers.d/contrail-deploy: "${user} ALL=(root) NOPASSWD: ALL"`, false);
  }

  /** The docker CLI as this session reaches the engine (ssh.docker): as root, through sudo, or as a docker group member. */
  dockerCommand(args: string): string {
    const command = `docker ${args}`;
    return this.target.docker === 'sudo' ? this.asRoot(command) : command;
  }

  /**
   * Whether this user may use the Docker engine the way the topology says, asked once per session: a sudo refusal or
   * a socket the user may not open is one clear, non-retryable line; anything else (an engine that is down) is left
   * to the request that needs the engine.
   */
  ensureEngineAccess(step = 'step reach the Docker engine'): Promise<void> {
    if (!this.target.docker || this.target.docker === 'root') return Promise.resolve();
    this.engineAccess ??= this.checkEngineAccess(step).catch((e: unknown) => {
      this.engineAccess = undefined;
      throw e;
    });
    return this.engineAccess;
  }

  private async checkEngineAccess(step: string): Promise<void> {
    const r = await this.exec(this.dockerCommand(`version --format '{{.Server.Version}}'`));
    const refused = this.sudoRefusal(r, step, 'docker system dial-stdio');
    if (refused) throw refused;
    if (r.code !== 0 && SOCKET_DENIED.test(r.stderr)) {
      const { host, user } = this.target;
      throw new SshError(host, step, `user ${user} may not use the Docker engine on ${host}: not in the docker group (${r.stderr.trim().split('\n')[0]}). Add ${user} to the group (usermod -aG docker ${user}), or set ssh.docker: sudo in the topology`, false);
    }
  }

  async exec(command: string, timeoutMs = 120000): Promise<ExecResult> {
    const stream = await openChannel<ClientChannel>(this.target, (client, cb) => client.exec(command, (err, s) => cb(err, s)));
    return new Promise((resolve, reject) => {
      let stdout = '';
      let stderr = '';
      const timer = setTimeout(() => {
        stream.close();
        reject(new SshError(this.target.host, 'exec', `command timed out after ${timeoutMs / 1000}s`, true));
      }, timeoutMs);
      stream.on('data', (d: Buffer) => (stdout += d.toString()));
      stream.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      stream.on('close', (code: number | null) => {
        clearTimeout(timer);
        resolve({ code: code ?? -1, stdout, stderr });
      });
    });
  }

  /**
   * A dockerode client for the host's own engine: each HTTP connection is a `docker system dial-stdio` channel (as
   * root, through sudo, or as a docker group member: ssh.docker). The channels are kept open for the next request a
   * few seconds (each new one starts a docker process on the host).
   */
  docker(): Docker {
    if (this.dockerClient) return this.dockerClient;
    const agent = new http.Agent({ keepAlive: true, maxFreeSockets: 4, timeout: DOCKER_CHANNEL_IDLE_MS });
    // docker-modem formats each request's options with util.inspect (depth unlimited), agent included, whether or not
    // its debug output is on: through the kept channels that would walk the whole SSH connection on every request.
    Object.defineProperty(agent, inspect.custom, { value: () => `[Docker API over SSH to ${this.target.host}]` });
    const target = this.target;
    const dialStdio = this.dockerCommand('system dial-stdio');
    (agent as unknown as { createConnection: unknown }).createConnection = (_opts: unknown, cb: (err: Error | null, s?: Duplex) => void) => {
      this.ensureEngineAccess()
        .then(() => openChannel<ClientChannel>(target, (client, done) => client.exec(dialStdio, (err, s) => done(err, s))))
        .then(
          (stream) => cb(null, asAgentSocket(stream)),
          (err: Error) => cb(err),
        );
    };
    this.dockerClient = new Docker({ protocol: 'http', host: 'docker', port: 80, agent } as Docker.DockerOptions);
    return this.dockerClient;
  }

  /** A TCP connection to address:port opened by the host itself (a direct-tcpip channel): probes from the host. */
  async connectFrom(address: string, port: number): Promise<Duplex> {
    return asAgentSocket(await openChannel<ClientChannel>(this.target, (client, cb) => client.forwardOut('127.0.0.1', 0, address, port, (err, s) => cb(err, s))));
  }
}

export async function withHost<T>(target: SshTarget, fn: (s: HostSession) => Promise<T>): Promise<T> {
  return fn(await HostSession.open(target));
}
