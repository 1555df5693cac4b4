// Connection settings come from @temporalio/envconfig (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, profiles, TLS...);
// without them, the lab's dev server on 127.0.0.1:7233.
import { Client, Connection } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnection } from '@temporalio/worker';

export function connectConfig() {
  const config = loadClientConnectConfig();
  if (!process.env.TEMPORAL_ADDRESS && !config.connectionOptions.address) config.connectionOptions.address = '127.0.0.1:7233';
  return { connectionOptions: config.connectionOptions, namespace: config.namespace ?? 'default' };
}

export async function connectClient(): Promise<Client> {
  const { connectionOptions, namespace } = connectConfig();
  try {
    const connection = await Connection.connect({ ...connectionOptions, connectTimeout: '5s' });
    return new Client({ connection, namespace });
  } catch (e) {
    throw new TemporalUnreachable(connectionOptions.address ?? '127.0.0.1:7233', e as Error);
  }
}

export async function connectWorker(): Promise<{ connection: NativeConnection; namespace: string }> {
  const { connectionOptions, namespace } = connectConfig();
  // The worker SDK loads here, not on every CLI start that only needs a client.
  const { NativeConnection } = await import('@temporalio/worker');
  try {
    return { connection: await NativeConnection.connect(connectionOptions), namespace };
  } catch (e) {
    throw new TemporalUnreachable(connectionOptions.address ?? '127.0.0.1:7233', e as Error);
  }
}

export class TemporalUnreachable extends Error {
  constructor(address: string, cause: Error) {
    super(`cannot reach the Temporal server at ${address} (${cause.message.split('\n')[0]}): start the lab with "contrail-deploy lab up", or set TEMPORAL_ADDRESS`);
    this.name = 'TemporalUnreachable';
  }
}

export function uiLink(workflowId: string, namespace = 'default'): string {
  const base = process.env.CONTRAIL_TEMPORAL_UI ?? 'http://127.0.0.1:8233';
  return `${base}/namespaces/${namespace}/workflows/${encodeURIComponent(workflowId)}`;
}
