// Why a connection to Temporal failed, in one line a user can act on. The gRPC client only says "Failed to connect
// before the deadline" whether the port is closed, the server's certificate is not trusted, or the server refused the
// client's certificate: after a failure, one plain TCP + TLS handshake to the same address with the same settings
// tells these apart.
import { X509Certificate } from 'crypto';
import * as net from 'net';
import * as tls from 'tls';
import type { TLSConfig } from '@temporalio/client';

export type TlsSetting = TLSConfig | boolean | null | undefined;

interface ProbeResult {
  /** The TCP connection failed (refused, unreachable, unknown host). */
  tcpError?: string;
  /** The TLS handshake completed (this side accepted the server's certificate). */
  handshake: boolean;
  /** What failed during or right after the handshake: the server's alert, or this side's verification. */
  tlsError?: { message: string; code?: string };
  /** The server hung up right after the handshake without a word: a gRPC server waits for the client's first frame,
   *  so this is a refusal of the client (some TLS stacks send no alert). */
  closedAfterHandshake?: boolean;
}

const PROBE_TIMEOUT_MS = 3000;
// With TLS 1.3 the server judges the client's certificate after the client's handshake is done: its refusal arrives
// as an alert shortly after.
const ALERT_WAIT_MS = 1000;

const SERVER_CERT_UNTRUSTED = /SELF_SIGNED|UNABLE_TO_(VERIFY|GET_ISSUER)|CERT_(HAS_EXPIRED|NOT_YET_VALID|UNTRUSTED|REJECTED)|ALTNAME|HOSTNAME/;
const CLIENT_CERT_REQUIRED = /CERTIFICATE_REQUIRED|HANDSHAKE_FAILURE/;
const CLIENT_CERT_REFUSED = /BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN|UNSUPPORTED_CERTIFICATE|ACCESS_DENIED|CLOSED_AFTER_HANDSHAKE/;

/** A one-line explanation of the failure, or undefined when the probe finds nothing wrong at the TCP/TLS level. */
export async function diagnoseConnectFailure(address: string, setting: TlsSetting): Promise<string | undefined> {
  const target = splitAddress(address);
  if (!target) return undefined;
  const config = typeof setting === 'object' && setting ? setting : {};
  const usesTls = Boolean(setting);
  const probe = await tlsProbe(target.host, target.port, config, usesTls);
  if (probe.tcpError) return `cannot reach the Temporal server at ${address} (${probe.tcpError})`;
  const code = probe.tlsError?.code ?? (probe.closedAfterHandshake ? 'CLOSED_AFTER_HANDSHAKE' : '');
  const reason = probe.tlsError ? shortTlsReason(probe.tlsError) : 'the server closed the connection after the handshake';
  if (!usesTls) {
    // This client speaks plain gRPC; a server that completes a TLS handshake, or asks for a certificate, speaks TLS.
    if (probe.handshake || CLIENT_CERT_REQUIRED.test(code) || CLIENT_CERT_REFUSED.test(code)) {
      return `the Temporal server at ${address} requires TLS and this client is not configured for it: set TEMPORAL_TLS_SERVER_CA_CERT_PATH, and for mutual TLS TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH`;
    }
    return undefined;
  }
  if (SERVER_CERT_UNTRUSTED.test(code)) {
    return `cannot verify the TLS certificate of the Temporal server at ${address} (${reason}): set TEMPORAL_TLS_SERVER_CA_CERT_PATH to the CA that signed it and TEMPORAL_TLS_SERVER_NAME to a name in it`;
  }
  if ((CLIENT_CERT_REQUIRED.test(code) || probe.closedAfterHandshake) && !config.clientCertPair) {
    return `the Temporal server at ${address} refused this client: it requires a client certificate (mutual TLS) and none is set; set TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH`;
  }
  if (CLIENT_CERT_REQUIRED.test(code) || CLIENT_CERT_REFUSED.test(code)) {
    return `the Temporal server at ${address} refused this client's TLS certificate (${reason}${certificateNaming(config)}): use one signed by the CA the server trusts for clients`;
  }
  if (probe.tlsError && !probe.handshake) {
    return `no TLS handshake with the Temporal server at ${address} (${reason}): if it does not use TLS, unset the TEMPORAL_TLS_* settings`;
  }
  return undefined;
}

function tlsProbe(host: string, port: number, config: TLSConfig, verify: boolean): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let handshake = false;
    let tcpUp = false;
    const raw = net.connect({ host, port });
    const finish = (result: Partial<ProbeResult>) => {
      clearTimeout(timer);
      raw.destroy();
      resolve({ handshake, ...result });
    };
    const timer = setTimeout(() => finish({}), PROBE_TIMEOUT_MS);
    raw.once('error', (e: NodeJS.ErrnoException) => { if (!tcpUp) finish({ tcpError: tcpReason(e) }); });
    raw.once('connect', () => {
      tcpUp = true;
      const socket = tls.connect({
        socket: raw,
        // No SNI for an IP address (TLS forbids it); the name to check is the override or the host.
        servername: config.serverNameOverride ?? (net.isIP(host) ? undefined : host),
        checkServerIdentity: (_h, cert) => tls.checkServerIdentity(config.serverNameOverride ?? host, cert),
        ca: config.serverRootCACertificate ? Buffer.from(config.serverRootCACertificate) : undefined,
        cert: config.clientCertPair ? Buffer.from(config.clientCertPair.crt) : undefined,
        key: config.clientCertPair ? Buffer.from(config.clientCertPair.key) : undefined,
        ALPNProtocols: ['h2'],
        rejectUnauthorized: verify,
      });
      socket.on('data', () => undefined);
      socket.once('secureConnect', () => {
        handshake = true;
        timer.refresh();
        setTimeout(() => finish({}), ALERT_WAIT_MS).unref();
      });
      socket.once('close', () => { if (handshake) finish({ closedAfterHandshake: true }); });
      socket.once('error', (e: NodeJS.ErrnoException) => finish({ tlsError: { message: e.message, code: e.code } }));
    });
  });
}

function splitAddress(address: string): { host: string; port: number } | undefined {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(address.trim());
  return m ? { host: m[1], port: Number(m[2]) } : undefined;
}

function tcpReason(e: NodeJS.ErrnoException): string {
  if (e.code === 'ECONNREFUSED') return 'connection refused: nothing listens there';
  if (e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN') return 'unknown host';
  if (e.code === 'EHOSTUNREACH' || e.code === 'ENETUNREACH') return 'host unreachable';
  return e.message;
}

/** "tlsv13 alert certificate required" from OpenSSL's "error:0A00045C:SSL routines::tlsv13 alert certificate required". */
function shortTlsReason(e: { message: string; code?: string }): string {
  const ssl = /SSL routines:[^:]*:(.+?)(:|$)/.exec(e.message);
  return (ssl ? ssl[1] : e.message).split('\n')[0].trim();
}

function certificateNaming(config: TLSConfig): string {
  if (!config.clientCertPair) return '';
  try {
    const cert = new X509Certificate(Buffer.from(config.clientCertPair.crt));
    return `; the certificate is ${oneLineName(cert.subject)}, issued by ${oneLineName(cert.issuer)}`;
  } catch {
    return '';
  }
}

function oneLineName(dn: string): string {
  return dn.split('\n').join(', ');
}
