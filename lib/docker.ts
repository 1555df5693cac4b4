// The build host's Docker engine: CONTRAIL_DOCKER_HOST, else DOCKER_HOST, else the lab's build engine.
import Docker from 'dockerode';

export const LAB_BUILD_SOCKET = '/run/cdlab/build/docker.sock';

export function buildEngineAddress(): string {
  return process.env.CONTRAIL_DOCKER_HOST ?? process.env.DOCKER_HOST ?? `unix://${LAB_BUILD_SOCKET}`;
}

export function buildEngine(): Docker {
  const address = buildEngineAddress();
  if (address.startsWith('unix://')) return new Docker({ socketPath: address.slice('unix://'.length) });
  const url = new URL(address.replace(/^tcp:/, 'http:'));
  return new Docker({ host: url.hostname, port: Number(url.port || 2375), protocol: url.protocol === 'https:' ? 'https' : 'http' });
}

/** Reads a Docker JSON-lines progress stream; calls onEvent for each object; rejects on an error event. */
export function followStream(stream: NodeJS.ReadableStream, onEvent: (e: DockerEvent) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    let failed: DockerEvent | undefined;
    stream.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (!line) continue;
        let event: DockerEvent;
        try {
          event = JSON.parse(line) as DockerEvent;
        } catch {
          event = { stream: line };
        }
        if (event.error) failed = event;
        onEvent(event);
      }
    });
    stream.on('error', reject);
    stream.on('end', () => (failed ? reject(new DockerStreamError(failed.error!)) : resolve()));
  });
}

export interface DockerEvent {
  stream?: string;
  status?: string;
  progress?: string;
  id?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { ID?: string; Digest?: string; Tag?: string; Size?: number };
}

export class DockerStreamError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DockerStreamError';
  }
}

/** Errors from the engine's connection (not from the Dockerfile or the registry's answer): worth retrying. */
export function isConnectionError(e: unknown): boolean {
  const code = (e as { code?: string }).code;
  return ['ECONNREFUSED', 'ECONNRESET', 'ENOENT', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN'].includes(code ?? '');
}
