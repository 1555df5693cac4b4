// One SSH connection per host (ssh2), with the host key checked against known_hosts, used both for commands and as the
// transport of the host's Docker API (`docker system dial-stdio`, one channel per HTTP connection).
import * as fs from 'fs';
import * as http from 'http';
import type { Duplex } from 'stream';
import { inspect } from 'util';
import Docker from 'dockerode';
import { Client, type ClientChannel, type ConnectConfig } from 'ssh2';
import type { SshSettings } from '../model/activity-types';
import type { HostRef } from '../model/plan';
import { Semaphore } from '../model/semaphore';
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

export interface SshTarget {
  host: string;
  address: string;
  port: number;
  user: string;
  keyFile: string | null;
  knownHosts: string;
}

/** Where and how to reach a planned host: its address and SSH port, with the topology's SSH settings. */
export function sshTarget(host: HostRef, ssh: SshSettings): SshTarget {
  return { host: host.name, address: host.address, port: host.sshPort, user: ssh.user, keyFile: ssh.keyFile, knownHosts: ssh.knownHosts };
}

export class SshError extends Error {
  constructor(readonly host: string, readonly step: string, message: string, readonly retryable: boolean) {
    super(`host ${host}: ${step}: ${message}`);
    this.name = retryable ? 'SshUnreachable' : 'SshRefused';
  }
}

/** Host keys pinned for an address in a known_hosts file (plain entries; hashed entries are not supported). */
export function pinnedKeys(knownHostsFile: string, address: string, port: number): Buffer[] {
  let text = '';
  try {
    text = fs.readFileSync(expandHome(knownHostsFile), 'utf8');
  } catch {
    return [];
  }
  const names = port === 22 ? [address] : [`[${address}]:${port}`];
  return text
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 3 && !f[0].startsWith('#') && f[0].split(',').some((n) => names.includes(n)))
    .map((f) => Buffer.from(f[2], 'base64'));
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

/** Connections per host target; the key includes the pinned keys, so an edited known_hosts is checked afresh. */
const connections = new Map<string, Connection[]>();

function poolKey(target: SshTarget, pinned: Buffer[]): string {
  return [target.user, target.address, target.port, target.keyFile ?? 'agent', ...pinned.map((k) => k.toString('base64'))].join(' ');
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

function openConnection(target: SshTarget, pinned: Buffer[], timeoutMs: number, onClosed: (c: Connection) => void): Connection {
  const config = connectConfig(target, timeoutMs);
  let keyMismatch = false;
  config.hostVerifier = (key: Buffer) => {
    keyMismatch = !pinned.some((p) => p.equals(key));
    return !keyMismatch;
  };
  const client = new Client();
  const handshake = () =>
    handshakeSlots(target.address, target.port).run(
      () =>
        new Promise<void>((resolve, reject) => {
          client.once('ready', () => resolve());
          client.once('error', (err: Error & { level?: string }) => {
            if (keyMismatch) {
              reject(new SshError(target.host, 'verify host key', `the host key of ${target.address} does not match ${target.knownHosts}: refusing to connect (if the host was reinstalled, update that file)`, false));
            } else if (err.level === 'client-authentication') {
              reject(new SshError(target.host, 'authenticate', `${target.user}@${target.address} refused the key`, false));
            } else {
              reject(new SshError(target.host, 'connect', `cannot reach ${target.address}:${target.port} (${err.message})`, true));
            }
          });
          client.connect(config);
        }),
    );
  return new Connection(target, client, handshake, onClosed);
}

/** A connection to the target with a free channel, opened if none has one; the channel is claimed for the caller. */
async function claimChannel(target: SshTarget, timeoutMs = 10000): Promise<Connection> {
  const pinned = pinnedKeys(target.knownHosts, target.address, target.port);
  if (pinned.length === 0) {
    throw new SshError(target.host, 'verify host key', `no key for ${target.address} in ${target.knownHosts}; add the host's key there (ssh-keyscan, checked by hand) before deploying`, false);
  }
  const key = poolKey(target, pinned);
  const pool = connections.get(key) ?? [];
  connections.set(key, pool);
  let connection = pool.find((c) => !c.closed && c.channels < CHANNELS_PER_CONNECTION);
  if (!connection) {
    connection = openConnection(target, pinned, timeoutMs, (closed) => {
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
  sessions.clear();
}

/** One session per host target, so every activity on this worker shares its Docker client and kept channels. */
const sessions = new Map<string, HostSession>();

/** A host's shell and Docker API over the pooled SSH connections to it. */
export class HostSession {
  private dockerClient: Docker | undefined;

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
   * A dockerode client for the host's own engine: each HTTP connection is a `docker system dial-stdio` channel. The
   * channels are kept open for the next request a few seconds (each new one starts a docker process on the host).
   */
  docker(): Docker {
    if (this.dockerClient) return this.dockerClient;
    const agent = new http.Agent({ keepAlive: true, maxFreeSockets: 4, timeout: DOCKER_CHANNEL_IDLE_MS });
    // docker-modem formats each request's options with util.inspect (depth unlimited), agent included, whether or not
    // its debug output is on: through the kept channels that would walk the whole SSH connection on every request.
    Object.defineProperty(agent, inspect.custom, { value: () => `[Docker API over SSH to ${this.target.host}]` });
    const target = this.target;
    (agent as unknown as { createConnection: unknown }).createConnection = (_opts: unknown, cb: (err: Error | null, s?: Duplex) => void) => {
      openChannel<ClientChannel>(target, (client, done) => client.exec('docker system dial-stdio', (err, s) => done(err, s))).then(
        (stream) => cb(null, asAgentSocket(stream)),
        (err: Error) => cb(err),
      );
    };
    this.dockerClient = new Docker({ protocol: 'http', host: 'docker', port: 80, agent } as Docker.DockerOptions);
    return this.dockerClient;
  }

}

export async function withHost<T>(target: SshTarget, fn: (s: HostSession) => Promise<T>): Promise<T> {
  return fn(await HostSession.open(target));
}
