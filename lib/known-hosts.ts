// known_hosts as operators keep it (OpenSSH's sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"), and OpenSSH host certificates
// (PROTOCOL.certkeys). Pure: text and key blobs in, verdicts out; lib/ssh.ts reads the file and asks the host.
//
//   10.0.0.11,ctl1 ssh-ed25519 AAAA...                 plain names, comma-separated, `*`/`?` wildcards, `!` negation
//   [10.0.0.12]:2222 ssh-ed25519 AAAA...               a host on a port other than 22
//   |1|<base64 salt>|<base64 HMAC-SHA1> ssh-ed25519 ... hashed (`ssh-keygen -H`, HashKnownHosts yes)
//   @cert-authority *.dc1.example.com ssh-ed25519 ...  hosts presenting a certificate signed by this CA
//   @revoked * ssh-ed25519 AAAA...                     never accepted, neither as a host key nor as a CA
import { createHmac, createPublicKey, verify, type KeyObject } from 'crypto';

export type Marker = 'cert-authority' | 'revoked' | null;

export interface KnownHostsEntry {
  /** 1-based line in the file, for messages. */
  line: number;
  marker: Marker;
  /** The host field as written (comma-separated patterns, or one hashed name). */
  hosts: string;
  keyType: string;
  /** The key in SSH wire format (what the host presents during key exchange). */
  key: Buffer;
}

export interface ParsedKnownHosts {
  entries: KnownHostsEntry[];
  /** Lines that could not be read, e.g. "line 4: no key"; the rest of the file still counts. */
  problems: string[];
}

export function parseKnownHosts(text: string): ParsedKnownHosts {
  const entries: KnownHostsEntry[] = [];
  const problems: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const trimmed = raw.trim();
    if (!trimmed || trimmed.startsWith('#')) return;
    const fields = trimmed.split(/\s+/);
    let marker: Marker = null;
    if (fields[0].startsWith('@')) {
      const m = fields.shift()!.slice(1);
      if (m !== 'cert-authority' && m !== 'revoked') return problems.push(`line ${i + 1}: unknown marker @${m}`);
      marker = m;
    }
    const [hosts, keyType, base64] = fields;
    if (!hosts || !keyType || !base64) return problems.push(`line ${i + 1}: expected "${marker ? `@${marker} ` : ''}hosts key-type base64-key"`);
    const key = Buffer.from(base64, 'base64');
    if (key.length < 8 || readString(key, 0)?.value.toString() !== keyType) return problems.push(`line ${i + 1}: the key is not a ${keyType} key`);
    entries.push({ line: i + 1, marker, hosts, keyType, key });
  });
  return { entries, problems };
}

/** The name OpenSSH looks a host up by: the address alone on port 22, else "[address]:port". */
export function lookupName(address: string, port: number): string {
  return port === 22 ? address.toLowerCase() : `[${address.toLowerCase()}]:${port}`;
}

/** Whether an entry's host field names the host (hashed names by HMAC-SHA1 of the lookup name with their salt). */
export function entryMatches(entry: Pick<KnownHostsEntry, 'hosts'>, address: string, port: number): boolean {
  const name = lookupName(address, port);
  if (entry.hosts.startsWith('|1|')) {
    const [, , salt, hash] = entry.hosts.split('|');
    if (!salt || !hash) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  let matched = false;
  for (const pattern of entry.hosts.toLowerCase().split(',')) {
    const negated = pattern.startsWith('!');
    if (!wildcardMatch(negated ? pattern.slice(1) : pattern, name)) continue;
    if (negated) return false; // a negated pattern that matches rules the line out, whatever else matches
    matched = true;
  }
  return matched;
}

function wildcardMatch(pattern: string, name: string): boolean {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${re}$`).test(name);
}

/** What the file says about one host: keys pinned for it, CAs trusted for it, keys revoked for it. */
export interface HostKeys {
  pinned: KnownHostsEntry[];
  authorities: KnownHostsEntry[];
  revoked: KnownHostsEntry[];
}

export function keysForHost(entries: KnownHostsEntry[], address: string, port: number): HostKeys {
  const mine = entries.filter((e) => entryMatches(e, address, port));
  return {
    pinned: mine.filter((e) => e.marker === null),
    authorities: mine.filter((e) => e.marker === 'cert-authority'),
    revoked: mine.filter((e) => e.marker === 'revoked'),
  };
}

// ---------------------------------------------------------------- OpenSSH certificates

export interface HostCertificate {
  certType: string;
  /** The certified key in SSH wire format, as a plain key (the blob the host presents when it does not send the
   *  certificate): the session must be keyed with exactly this. */
  key: Buffer;
  serial: bigint;
  /** 1 user, 2 host. */
  type: number;
  keyId: string;
  principals: string[];
  validAfter: bigint;
  validBefore: bigint;
  criticalOptions: string[];
  /** The signing CA's key in SSH wire format. */
  caKey: Buffer;
  signature: Buffer;
  /** Everything the CA signed: the certificate up to and including the CA key. */
  signed: Buffer;
}

const CERT_SUFFIX = '-cert-v01@openssh.com';

/** The certificate key algorithms OpenSSH hosts may present, best first; each certifies a key of its plain type. */
export const CERT_ALGORITHMS = [
  'ssh-ed25519-cert-v01@openssh.com',
  'ecdsa-sha2-nistp256-cert-v01@openssh.com',
  'ecdsa-sha2-nistp384-cert-v01@openssh.com',
  'ecdsa-sha2-nistp521-cert-v01@openssh.com',
  'rsa-sha2-512-cert-v01@openssh.com',
  'rsa-sha2-256-cert-v01@openssh.com',
];

/** The host key algorithms under which a host proves it holds a key of this type (for ssh2's serverHostKey). */
export function signatureAlgorithmsFor(keyType: string): string[] {
  return keyType === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256'] : [keyType];
}

export function parseCertificate(blob: Buffer): HostCertificate {
  const r = new WireReader(blob);
  const certType = r.string().toString();
  if (!certType.endsWith(CERT_SUFFIX)) throw new Error(`not an OpenSSH certificate (${certType})`);
  const keyType = certType.slice(0, -CERT_SUFFIX.length);
  r.string(); // nonce
  let key: Buffer;
  if (keyType === 'ssh-ed25519') key = wire(keyType, r.string());
  else if (keyType === 'ssh-rsa') {
    const e = r.string();
    key = wire(keyType, e, r.string());
  } else if (keyType.startsWith('ecdsa-sha2-')) {
    const curve = r.string();
    key = wire(keyType, curve, r.string());
  } else throw new Error(`unsupported certificate key type ${keyType}`);
  const serial = r.u64();
  const type = r.u32();
  const keyId = r.string().toString();
  const principals = new WireReader(r.string()).strings();
  const validAfter = r.u64();
  const validBefore = r.u64();
  const criticalOptions = new WireReader(r.string()).pairs();
  r.string(); // extensions (none are defined for host certificates; ignored, as OpenSSH does)
  r.string(); // reserved
  const caKey = r.string();
  const signed = blob.subarray(0, r.pos);
  const signature = r.string();
  return { certType, key, serial, type, keyId, principals, validAfter, validBefore, criticalOptions, caKey, signature, signed };
}

export type HostKeyVerdict = { ok: true; how: string } | { ok: false; reason: string };

/**
 * Whether the key a host presented may be trusted, as OpenSSH decides it: not revoked, and either pinned for the
 * host, or the key a valid host certificate certifies for it (`certificate`, obtained from the same host; see
 * lib/ssh.ts for how), signed by a CA the file trusts for that host and not revoked. `name` is what the certificate
 * must list among its principals (the address dialled).
 */
export function verifyHostKey(keys: HostKeys, presented: Buffer, name: string, certificate: Buffer | null, now = new Date()): HostKeyVerdict {
  const revokedEntry = keys.revoked.find((e) => e.key.equals(presented));
  if (revokedEntry) return { ok: false, reason: `its key is marked @revoked (line ${revokedEntry.line})` };
  const pinned = keys.pinned.find((e) => e.key.equals(presented));
  if (pinned) return { ok: true, how: `pinned (line ${pinned.line})` };
  if (certificate && keys.authorities.length) {
    const cert = checkCertificate(keys, certificate, name, now);
    if (!cert.ok) return cert;
    if (!cert.key.equals(presented)) return { ok: false, reason: 'the key it used is not the key its certificate certifies' };
    return { ok: true, how: cert.how };
  }
  if (keys.pinned.length) return { ok: false, reason: `its key does not match the key pinned for it (line ${keys.pinned.map((e) => e.line).join(', ')}): a changed host key` };
  if (keys.authorities.length) return { ok: false, reason: 'it presented no certificate, and no key is pinned for it' };
  return { ok: false, reason: 'no key and no @cert-authority line for it: an unknown host' };
}

/** A host certificate's own checks: a host certificate, for `name`, valid now, signed by a trusted CA that is not revoked. */
export function checkCertificate(keys: HostKeys, certificate: Buffer, name: string, now = new Date()): ({ ok: true; key: Buffer; how: string }) | { ok: false; reason: string } {
  let cert: HostCertificate;
  try {
    cert = parseCertificate(certificate);
  } catch (e) {
    return { ok: false, reason: `its certificate cannot be read (${(e as Error).message})` };
  }
  const what = `its certificate "${cert.keyId}" (serial ${cert.serial})`;
  if (cert.type !== 2) return { ok: false, reason: `${what} is a user certificate, not a host certificate` };
  const ca = keys.authorities.find((e) => e.key.equals(cert.caKey));
  if (!ca) return { ok: false, reason: `${what} is signed by a CA that no @cert-authority line trusts for this host` };
  const revokedCa = keys.revoked.find((e) => e.key.equals(cert.caKey));
  if (revokedCa) return { ok: false, reason: `${what} is signed by a CA marked @revoked (line ${revokedCa.line})` };
  const revokedKey = keys.revoked.find((e) => e.key.equals(cert.key));
  if (revokedKey) return { ok: false, reason: `the key ${what} certifies is marked @revoked (line ${revokedKey.line})` };
  if (!cert.principals.map((p) => p.toLowerCase()).includes(name.toLowerCase())) return { ok: false, reason: `${what} is not for ${name} (principals: ${cert.principals.join(', ') || 'none'})` };
  const seconds = BigInt(Math.floor(now.getTime() / 1000));
  if (seconds < cert.validAfter) return { ok: false, reason: `${what} is not valid before ${isoSeconds(cert.validAfter)}` };
  if (seconds >= cert.validBefore) return { ok: false, reason: `${what} expired at ${isoSeconds(cert.validBefore)}` };
  // No critical options are defined for host certificates: one we do not understand must not be ignored.
  if (cert.criticalOptions.length) return { ok: false, reason: `${what} carries critical options (${cert.criticalOptions.join(', ')}) that host certificates do not have` };
  const signed = verifySignature(cert.caKey, cert.signed, cert.signature);
  if (signed !== true) return { ok: false, reason: `${what}: the CA signature does not verify (${signed})` };
  return { ok: true, key: cert.key, how: `certificate "${cert.keyId}" signed by the CA of line ${ca.line}` };
}

function isoSeconds(s: bigint): string {
  return s > 253402300799n ? 'forever' : new Date(Number(s) * 1000).toISOString();
}

const CURVES: Record<string, { jwk: string; size: number; hash: string }> = {
  nistp256: { jwk: 'P-256', size: 32, hash: 'sha256' },
  nistp384: { jwk: 'P-384', size: 48, hash: 'sha384' },
  nistp521: { jwk: 'P-521', size: 66, hash: 'sha512' },
};

/** A CA's SSH signature over data, checked with node's crypto: true, or why not. */
export function verifySignature(keyBlob: Buffer, data: Buffer, signatureBlob: Buffer): true | string {
  try {
    const k = new WireReader(keyBlob);
    const keyType = k.string().toString();
    const s = new WireReader(signatureBlob);
    const sigType = s.string().toString();
    const sig = s.string();
    if (keyType === 'ssh-ed25519') {
      if (sigType !== keyType) return `signature type ${sigType} for an ${keyType} key`;
      return verify(null, data, jwkKey({ kty: 'OKP', crv: 'Ed25519', x: b64url(k.string()) }), sig) || 'bad signature';
    }
    if (keyType === 'ssh-rsa') {
      // SHA-1 signatures are refused, as OpenSSH does by default since 8.2 (CASignatureAlgorithms).
      const hash = { 'rsa-sha2-256': 'sha256', 'rsa-sha2-512': 'sha512' }[sigType];
      if (!hash) return `signature type ${sigType} is not accepted (re-sign with rsa-sha2-512: ssh-keygen -s ... -t rsa-sha2-512)`;
      const e = unsigned(k.string());
      const n = unsigned(k.string());
      return verify(hash, data, jwkKey({ kty: 'RSA', n: b64url(n), e: b64url(e) }), sig) || 'bad signature';
    }
    if (keyType.startsWith('ecdsa-sha2-')) {
      const curve = CURVES[k.string().toString()];
      if (!curve || sigType !== keyType) return `signature type ${sigType} for an ${keyType} key`;
      const q = k.string();
      if (q[0] !== 4 || q.length !== 1 + 2 * curve.size) return 'the CA key is not an uncompressed EC point';
      const key = jwkKey({ kty: 'EC', crv: curve.jwk, x: b64url(q.subarray(1, 1 + curve.size)), y: b64url(q.subarray(1 + curve.size)) });
      const rs = new WireReader(sig);
      const p1363 = Buffer.concat([fixed(unsigned(rs.string()), curve.size), fixed(unsigned(rs.string()), curve.size)]);
      return verify(curve.hash, data, { key, dsaEncoding: 'ieee-p1363' }, p1363) || 'bad signature';
    }
    return `CA key type ${keyType} is not supported`;
  } catch (e) {
    return (e as Error).message;
  }
}

function jwkKey(jwk: Record<string, string>): KeyObject {
  return createPublicKey({ key: jwk, format: 'jwk' });
}

function b64url(b: Buffer): string {
  return b.toString('base64url');
}

/** An mpint without its sign byte / leading zeros. */
function unsigned(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
}

function fixed(b: Buffer, size: number): Buffer {
  if (b.length > size) throw new Error('signature value too long');
  return Buffer.concat([Buffer.alloc(size - b.length), b]);
}

/** SSH wire format: each field as a uint32 length and its bytes. */
export function wire(...fields: (string | Buffer)[]): Buffer {
  return Buffer.concat(fields.flatMap((f) => {
    const b = typeof f === 'string' ? Buffer.from(f) : f;
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    return [len, b];
  }));
}

function readString(buf: Buffer, pos: number): { value: Buffer; next: number } | undefined {
  if (pos + 4 > buf.length) return undefined;
  const len = buf.readUInt32BE(pos);
  if (pos + 4 + len > buf.length) return undefined;
  return { value: buf.subarray(pos + 4, pos + 4 + len), next: pos + 4 + len };
}

/** Reads SSH wire-format fields in order; a field that runs past the end is an error. */
export class WireReader {
  pos = 0;
  constructor(private readonly buf: Buffer) {}

  string(): Buffer {
    const r = readString(this.buf, this.pos);
    if (!r) throw new Error('truncated');
    this.pos = r.next;
    return r.value;
  }

  u32(): number {
    if (this.pos + 4 > this.buf.length) throw new Error('truncated');
    this.pos += 4;
    return this.buf.readUInt32BE(this.pos - 4);
  }

  u64(): bigint {
    if (this.pos + 8 > this.buf.length) throw new Error('truncated');
    this.pos += 8;
    return this.buf.readBigUInt64BE(this.pos - 8);
  }

  byte(): number {
    if (this.pos >= this.buf.length) throw new Error('truncated');
    return this.buf[this.pos++];
  }

  /** The rest: a list of strings (a certificate's principals). */
  strings(): string[] {
    const out: string[] = [];
    while (this.pos < this.buf.length) out.push(this.string().toString());
    return out;
  }

  /** The rest: name/data pairs (critical options, extensions); the names. */
  pairs(): string[] {
    const names: string[] = [];
    while (this.pos < this.buf.length) {
      names.push(this.string().toString());
      this.string();
    }
    return names;
  }
}
