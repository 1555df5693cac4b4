// The docker CLI on the lab's build engine, and small waits, for the image tests.
import { spawnSync } from 'child_process';
import * as net from 'net';
import { labStatus } from './lab';

export interface DockerResult {
  code: number;
  stdout: string;
  stderr: string;
}

let host: string | undefined;

export function docker(args: string[], opts: { input?: string; timeoutMs?: number } = {}): DockerResult {
  host ??= labStatus().docker.host;
  const r = spawnSync('docker', ['-H', host, ...args], { encoding: 'utf8', input: opts.input, timeout: opts.timeoutMs ?? 1200000, maxBuffer: 64 * 1024 * 1024 });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? (r.error ? String(r.error) : '') };
}

/** docker ARGS, failing the test with docker's own words when it fails. */
export function dockerOk(args: string[]): string {
  const r = docker(args);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} failed (${r.code}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Whether something accepts TCP connections on 127.0.0.1:PORT. */
export function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect({ host: '127.0.0.1', port, timeout: 1000 });
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
    c.once('timeout', () => {
      c.destroy();
      resolve(false);
    });
  });
}

/** Polls CHECK four times a second for up to SECONDS; true as soon as it holds. */
export async function within(seconds: number, check: () => boolean | Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < seconds * 4; i++) {
    if (await check()) return true;
    await sleep(250);
  }
  return false;
}
