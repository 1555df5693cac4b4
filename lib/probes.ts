// Reachability probes run from the worker (or a bench): a TCP connect and an HTTP GET, each with a timeout.
import * as http from 'http';
import * as net from 'net';

/** An HTTP GET: true for a status below 400, else the status or the error. */
export function httpProbe(url: string, timeoutMs: number): Promise<true | string> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 0) < 400 ? true : `HTTP ${res.statusCode}`);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

export function tcpProbe(address: string, port: number, timeoutMs: number): Promise<true | string> {
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
