// Connection settings come from @temporalio/envconfig (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TLS_*, or a
// profile in TEMPORAL_CONFIG_FILE / TEMPORAL_PROFILE); without them, the lab's dev server on 127.0.0.1:7233. The lab's
// cluster (mutual TLS) is reached the same way: eval "$(contrail-deploy lab env --temporal cluster)".
import * as fs from 'fs';
import { Client, Connection } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnection } from '@temporalio/worker';
import { diagnoseConnectFailure, type TlsSetting } from './temporal-connect-diagnosis';

const DEFAULT_ADDRESS = '127.0.0.1:7233';
const CONNECT_HINT = 'start the lab with "contrail-deploy lab up", or set TEMPORAL_ADDRESS (for the lab\'s cluster: eval "$(contrail-deploy lab env --temporal cluster)")';

export function connectConfig() {
  const config = loadSettings();
  if (!process.env.TEMPORAL_ADDRESS && !config.connectionOptions.address) config.connectionOptions.address = DEFAULT_ADDRESS;
  return { connectionOptions: config.connectionOptions, namespace: config.namespace ?? 'default' };
}

export async function connectClient(): Promise<Client> {
  const { connectionOptions, namespace } = connectConfig();
  const address = connectionOptions.address ?? DEFAULT_ADDRESS;
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...connectionOptions, connectTimeout: '5s' });
  } catch (e) {
    throw await unreachable(address, e as Error, connectionOptions.tls);
  }
  return new Client({ connection: await withNamespaceChecked(connection, namespace, address), namespace });
}

export async function connectWorker(): Promise<{ connection: NativeConnection; namespace: string }> {
  const { connectionOptions, namespace } = connectConfig();
  const address = connectionOptions.address ?? DEFAULT_ADDRESS;
  // The worker SDK loads here, not on every CLI start that only needs a client.
  const { NativeConnection } = await import('@temporalio/worker');
  let connection: NativeConnection;
  try {
    connection = await NativeConnection.connect(connectionOptions);
  } catch (e) {
    throw await unreachable(address, e as Error, connectionOptions.tls);
  }
  return { connection: await withNamespaceChecked(connection, namespace, address), namespace };
}

/** The envconfig settings, or one line that names the setting at fault (a missing certificate file, a bad profile). */
function loadSettings(): ReturnType<typeof loadClientConnectConfig> {
  const file = process.env.TEMPORAL_CONFIG_FILE;
  // envconfig takes a missing config file for "no file" and then only says that the profile is not found.
  if (file && !fs.existsSync(file)) throw new TemporalSettingsError(`TEMPORAL_CONFIG_FILE=${file}: no such file`);
  try {
    return loadClientConnectConfig();
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT' && err.path) throw new TemporalSettingsError(`${settingNaming(err.path)}: no such file`);
    if (err.code && err.path) throw new TemporalSettingsError(`${settingNaming(err.path)}: cannot read it (${err.code})`);
    throw new TemporalSettingsError(firstLine(err.message));
  }
}

const TLS_PATH_VARIABLES = ['TEMPORAL_TLS_CLIENT_CERT_PATH', 'TEMPORAL_TLS_CLIENT_KEY_PATH', 'TEMPORAL_TLS_SERVER_CA_CERT_PATH'];

/** "TEMPORAL_TLS_CLIENT_CERT_PATH=/x" when a variable holds the path, else the path and the profile file. */
function settingNaming(filePath: string): string {
  const variable = TLS_PATH_VARIABLES.find((name) => process.env[name] === filePath);
  if (variable) return `${variable}=${filePath}`;
  const profile = process.env.TEMPORAL_PROFILE ?? 'default';
  return process.env.TEMPORAL_CONFIG_FILE ? `${filePath} (profile "${profile}" in ${process.env.TEMPORAL_CONFIG_FILE})` : filePath;
}

/** The connection, once its namespace is known to exist; closed when it is not. */
async function withNamespaceChecked<C extends Connection | NativeConnection>(connection: C, namespace: string, address: string): Promise<C> {
  try {
    await checkNamespace(connection.workflowService, namespace, address);
    return connection;
  } catch (e) {
    await connection.close();
    throw e;
  }
}

/** Connecting does not check the namespace: the first call would fail later, deep in a command. Check it now. */
async function checkNamespace(service: Connection['workflowService'], namespace: string, address: string): Promise<void> {
  try {
    await service.describeNamespace({ namespace });
  } catch (e) {
    const err = e as Error & { code?: number };
    if (err.code === GRPC_NOT_FOUND) throw new TemporalNamespaceUnknown(namespace, address);
    if (err.code === GRPC_UNAVAILABLE || err.code === GRPC_DEADLINE_EXCEEDED) throw new TemporalUnreachable(address, firstLine(err.message));
    throw new Error(`the Temporal server at ${address} refused to describe namespace "${namespace}" (${firstLine(err.message)}): check that this client's identity may use it`);
  }
}

/** The failure explained: what the TCP/TLS probe found (a refused certificate...), else the client's own message. */
async function unreachable(address: string, cause: Error, tls: TlsSetting): Promise<TemporalUnreachable> {
  const diagnosis = await diagnoseConnectFailure(address, tls).catch(() => undefined);
  return new TemporalUnreachable(address, firstLine(cause.message), diagnosis);
}

// gRPC status codes.
const GRPC_DEADLINE_EXCEEDED = 4;
const GRPC_NOT_FOUND = 5;
const GRPC_UNAVAILABLE = 14;

export class TemporalSettingsError extends Error {
  constructor(detail: string) {
    super(`Temporal client settings: ${detail}: fix the TEMPORAL_* variables or the profile (eval "$(contrail-deploy lab env --temporal cluster)" sets them for the lab's cluster)`);
    this.name = 'TemporalSettingsError';
  }
}

export class TemporalNamespaceUnknown extends Error {
  constructor(namespace: string, address: string) {
    super(`the Temporal server at ${address} has no namespace "${namespace}": set TEMPORAL_NAMESPACE to an existing one, or create it (temporal operator namespace create --namespace ${namespace})`);
    this.name = 'TemporalNamespaceUnknown';
  }
}

export class TemporalUnreachable extends Error {
  constructor(address: string, reason: string, diagnosis?: string) {
    super(diagnosis ? `${diagnosis}${diagnosis.startsWith('cannot reach') ? `: ${CONNECT_HINT}` : ''}` : `cannot reach the Temporal server at ${address} (${reason}): ${CONNECT_HINT}`);
    this.name = 'TemporalUnreachable';
  }
}

function firstLine(message: string): string {
  return message.split('\n')[0].trim();
}

export function uiLink(workflowId: string, namespace = 'default'): string {
  const base = process.env.CONTRAIL_TEMPORAL_UI ?? 'http://127.0.0.1:8233';
  return `${base}/namespaces/${namespace}/workflows/${encodeURIComponent(workflowId)}`;
}
