// Fetches the OpenSSH host certificate a host presents, by the first steps of an SSH key exchange.
//
// Why this exists: ssh2 (1.17) cannot negotiate the `*-cert-v01@openssh.com` host key algorithms (they are not in
// its supported list, and its key exchange would reject the certificate's signature type), so it only ever sees the
// host's plain key. A host certificate is public, though: this probe opens its own transport to the host (directly,
// or through the bastion like the real connection), offers only certificate algorithms, and reads the certificate
// from the server's key exchange reply (K_S), then closes without finishing the exchange. lib/known-hosts.ts checks the
// certificate (CA signature over the signed part, type, principals, validity, revocation), and lib/ssh.ts then
// accepts the ssh2 connection only if the key the host proves it holds there (ssh2 verifies the exchange signature) is
// the very key the certificate certifies. A party that replays someone's certificate cannot pass that second step.
import { generateKeyPairSync, randomBytes } from 'crypto';
import type { Duplex } from 'stream';
import { CERT_ALGORITHMS, WireReader, wire } from './known-hosts';

const MSG_DISCONNECT = 1;
const MSG_IGNORE = 2;
const MSG_DEBUG = 4;
const MSG_KEXINIT = 20;
const MSG_KEX_ECDH_INIT = 30;
const MSG_KEX_ECDH_REPLY = 31;

const KEX = ['curve25519-sha256', 'curve25519-sha256@libssh.org'];
const CIPHERS = ['aes128-ctr', 'aes256-ctr', 'aes128-gcm@openssh.com', 'aes256-gcm@openssh.com', 'chacha20-poly1305@openssh.com'];
const MACS = ['hmac-sha2-256', 'hmac-sha2-512', 'hmac-sha2-256-etm@openssh.com', 'hmac-sha2-512-etm@openssh.com'];

/** An unencrypted SSH binary packet (before the first NEWKEYS): length, padding length, payload, padding. */
function packet(payload: Buffer): Buffer {
  let padding = 8 - ((5 + payload.length) % 8);
  if (padding < 4) padding += 8;
  const head = Buffer.alloc(5);
  head.writeUInt32BE(1 + payload.length + padding);
  head[4] = padding;
  return Buffer.concat([head, payload, randomBytes(padding)]);
}

function nameList(names: string[]): Buffer {
  return wire(names.join(','));
}

function kexinit(): Buffer {
  return Buffer.concat([
    Buffer.from([MSG_KEXINIT]), randomBytes(16),
    nameList(KEX), nameList(CERT_ALGORITHMS), nameList(CIPHERS), nameList(CIPHERS), nameList(MACS), nameList(MACS),
    nameList(['none']), nameList(['none']), nameList([]), nameList([]),
    Buffer.from([0, 0, 0, 0, 0]), // first_kex_packet_follows, reserved
  ]);
}

function ecdhInit(): Buffer {
  const { publicKey } = generateKeyPairSync('x25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
  return Buffer.concat([Buffer.from([MSG_KEX_ECDH_INIT]), wire(raw)]);
}

/** The host key algorithms the server offers, from its KEXINIT payload. */
function serverHostKeyAlgorithms(payload: Buffer): string[] {
  const r = new WireReader(payload.subarray(17)); // message byte and cookie
  r.string(); // kex algorithms
  return r.string().toString().split(',');
}

/**
 * The certificate blob the host presents (its K_S under a certificate algorithm), or null when it offers no
 * certificate. Rejects on a transport that closes or stalls before answering.
 */
export function fetchHostCertificate(sock: Duplex, timeoutMs: number): Promise<Buffer | null> {
  return new Promise<Buffer | null>((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    let identified = false;
    let settled = false;
    const finish = (err: Error | null, cert?: Buffer | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.removeAllListeners('data');
      sock.on('error', () => undefined);
      sock.destroy();
      if (err) reject(err);
      else resolve(cert ?? null);
    };
    const timer = setTimeout(() => finish(new Error(`no key exchange reply within ${timeoutMs / 1000}s`)), timeoutMs);

    const onPayload = (payload: Buffer) => {
      switch (payload[0]) {
        case MSG_KEXINIT: {
          const offered = serverHostKeyAlgorithms(payload);
          if (!CERT_ALGORITHMS.some((a) => offered.includes(a))) return finish(null, null);
          return void sock.write(packet(ecdhInit()));
        }
        case MSG_KEX_ECDH_REPLY:
          return finish(null, new WireReader(payload.subarray(1)).string());
        case MSG_DISCONNECT: {
          const r = new WireReader(payload.subarray(5));
          return finish(new Error(`the host ended the exchange: ${r.string().toString()}`));
        }
        case MSG_IGNORE:
        case MSG_DEBUG:
          return;
        default:
          return finish(new Error(`unexpected SSH message ${payload[0]} during the key exchange`));
      }
    };

    const onData = (d: Buffer) => {
      buffered = Buffer.concat([buffered, d]);
      try {
        // The server may send lines before its identification string; only "SSH-" starts it.
        while (!identified) {
          const nl = buffered.indexOf('\n');
          if (nl < 0) return;
          const line = buffered.subarray(0, nl).toString();
          buffered = buffered.subarray(nl + 1);
          if (line.startsWith('SSH-')) {
            if (!line.startsWith('SSH-2.0-') && !line.startsWith('SSH-1.99-')) return finish(new Error(`not an SSH-2 server (${line.trim()})`));
            identified = true;
          }
        }
        while (!settled && buffered.length >= 5) {
          const length = buffered.readUInt32BE(0);
          if (length > 256 * 1024) return finish(new Error('malformed packet from the host'));
          if (buffered.length < 4 + length) return;
          const padding = buffered[4];
          const payload = buffered.subarray(5, 4 + length - padding);
          buffered = buffered.subarray(4 + length);
          onPayload(payload);
        }
      } catch (e) {
        finish(new Error(`malformed key exchange from the host (${(e as Error).message})`));
      }
    };

    sock.on('data', onData);
    sock.once('error', (e: Error) => finish(e));
    sock.once('close', () => finish(new Error('the connection closed during the key exchange')));
    sock.write(Buffer.from('SSH-2.0-contrail_deploy_certprobe\r\n'));
    sock.write(packet(kexinit()));
  });
}
