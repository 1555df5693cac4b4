// One SSH connection per host (ssh2), with the host key checked against known_hosts, used both for commands and as the
// transport of the host's Docker API (`docker system dial-stdio`, one channel per HTTP connection).
import * as fs from 'fs';
import * as http from 'http';
import type { Duplex } from 'stream';
import Docker from 'dockerode';
import { Client, type ConnectConfig } from 'ssh2';
import { Semaphore } from '../model/semaphore';
import { expandHome } from './paths';

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

export class HostSession {
  private constructor(readonly target: SshTarget, private readonly client: Client) {}

  static async open(target: SshTarget, timeoutMs = 10000): Promise<HostSession> {
    const pinned = pinnedKeys(target.knownHosts, target.address, target.port);
    if (pinned.length === 0) {
      throw new SshError(target.host, 'verify host key', `no key for ${target.address} in ${target.knownHosts}; add the host's key there (ssh-keyscan, checked by hand) before deploying`, false);
    }
    let keyMismatch = false;
    const config: ConnectConfig = {
      host: target.address,
      port: target.port,
      username: target.user,
      readyTimeout: timeoutMs,
      // A host whose link drops sends nothing back, not even a reset: without keepalives a pull or a wait on it
      // hangs until the activity's start-to-close timeout while the timer heartbeats say all is well.
      keepaliveInterval: 5000,
      keepaliveCountMax: 3,
      hostVerifier: (key: Buffer) => {
        keyMismatch = !pinned.some((p) => p.equals(key));
        return !keyMismatch;
      },
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
    const client = new Client();
    await handshakeSlots(target.address, target.port).run(() => new Promise<void>((resolve, reject) => {
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
    }));
    // A connection lost later (keepalive timeout, reset) ends its channels, which fails what runs over them; the
    // listener keeps the event from being thrown as unhandled.
    client.on('error', () => undefined);
    return new HostSession(target, client);
  }

  exec(command: string, timeoutMs = 120000): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
      this.client.exec(command, (err, stream) => {
        if (err) return reject(new SshError(this.target.host, 'exec', err.message, true));
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
    });
  }

  /** A dockerode client for the host's own engine, tunnelled through this SSH connection. */
  docker(): Docker {
    const agent = new http.Agent({ keepAlive: false });
    const client = this.client;
    (agent as unknown as { createConnection: unknown }).createConnection = (_opts: unknown, cb: (err: Error | null, s?: Duplex) => void) => {
      client.exec('docker system dial-stdio', (err, stream) => {
        if (err) return cb(err);
        cb(null, stream as unknown as Duplex);
      });
    };
    return new Docker({ protocol: 'http', host: 'docker', port: 80, agent } as Docker.DockerOptions);
  }

  close(): void {
    this.client.end();
  }
}

export async function withHost<T>(target: SshTarget, fn: (s: HostSession) => Promise<T>): Promise<T> {
  const session = await HostSession.open(target);
  try {
    return await fn(session);
  } finally {
    session.close();
  }
}

/** Quotes one argument for a POSIX shell. */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
