// Reachability probes run from the worker (or a bench): a TCP connect and an HTTP GET, each with a timeout. For a host
// behind a bastion, `via` opens the connection through it (lib/ssh.ts probeVia), since the worker cannot reach it; a
// worker on an operations host that reaches the hosts over SSH only has the host open it (probesThroughSsh).
import * as http from 'http';
import * as net from 'net';
import type { Duplex } from 'stream';

/** Opens a connection to address:port some other way than from here (through a bastion, or the host itself). */
export type ProbeVia = (address: string, port: number) => Promise<Duplex>;

/**
 * Whether this worker probes hosts' ports through each host's own SSH connection (a direct-tcpip channel the host
 * opens) instead of connecting itself: `contrail-deploy worker --probes ssh` (CONTRAIL_PROBES=ssh), for a deploy
 * worker whose machine reaches the hosts over SSH only. Off by default: measured on the lab, a passing probe takes
 * about 10 to 20 ms more through SSH than direct (1 to 6 ms).
 */
export function probesThroughSsh(): boolean {
  return process.env.CONTRAIL_PROBES === 'ssh';
}

/** An HTTP GET: true for a status below 400, else the status or the error. */
export function httpProbe(url: string, timeoutMs: number, via?: ProbeVia): Promise<true | string> {
  return new Promise((resolve) => {
    const u = new URL(url);
    const createConnection = via && ((_: unknown, cb: (err: Error | null, s?: Duplex) => void) => void via(u.hostname, Number(u.port || 80)).then((s) => cb(null, s), (e: Error) => cb(e)));
    const req = http.get(url, { timeout: timeoutMs, ...(createConnection ? { createConnection: createConnection as never } : {}) }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 0) < 400 ? true : `HTTP ${res.statusCode}`);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

export function tcpProbe(address: string, port: number, timeoutMs: number, via?: ProbeVia): Promise<true | string> {
  if (via) {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<string>((resolve) => (timer = setTimeout(() => resolve('timed out'), timeoutMs)));
    const opened = via(address, port).then((s) => (s.destroy(), true as const), (e: Error) => e.message);
    return Promise.race([opened, timedOut]).finally(() => clearTimeout(timer));
  }
  return new Promise((resolve) => {
    const socket = net.connect({ host: address, port });
    const done = (r: true | string) => {
      socket.destroy();
      resolve(r);
    };
    socket.setTimeout(timeoutMs, () => done('timed out'));
    socket.once('connect', () => done(true));
    socket.once('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
  });
}
