// Secrets are resolved here, on the worker, from the environment or a KEY=VALUE secrets file (mode 0600).
// Workflows and topology files only ever carry the NAME.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { labDir } from './paths';

export function secretsFile(): string {
  return process.env.CONTRAIL_SECRETS_FILE ?? path.join(labDir(), 'secrets.env');
}

export class SecretNotFound extends Error {
  constructor(name: string) {
    super(`secret ${name} is not set: export ${name}=... in the worker's environment or add a line ${name}=... to ${secretsFile()}`);
    this.name = 'SecretNotFound';
  }
}

const known = new Set<string>();

export function resolveSecret(name: string): string {
  const fromEnv = process.env[name];
  const value = fromEnv !== undefined && fromEnv !== '' ? fromEnv : readSecretsFile()[name];
  if (value === undefined || value === '') throw new SecretNotFound(name);
  known.add(value);
  return value;
}

/**
 * The key of the secret digests: one per installation, kept on the worker next to the secrets file (made once, mode
 * 0600, when absent). Every worker of an installation needs the same key (copy it with the secrets file): a worker with
 * another key sees every container that receives a secret as changed.
 */
export function digestKeyFile(): string {
  return process.env.CONTRAIL_DIGEST_KEY_FILE ?? path.join(path.dirname(secretsFile()), 'secret-digest.key');
}

/** The key file cannot be read or made on this worker: the same on every attempt, until someone fixes it. */
export class DigestKeyUnusable extends Error {
  constructor(file: string, why: string) {
    super(`the secret digest key ${file} ${why}`);
    this.name = 'DigestKeyUnusable';
  }
}

export function digestKey(): Buffer {
  try {
    return readOrMakeKey(digestKeyFile());
  } catch (e) {
    if (e instanceof DigestKeyUnusable) throw e;
    throw new DigestKeyUnusable(digestKeyFile(), `cannot be read or made: ${(e as Error).message}. Make its directory writable for the worker, or set CONTRAIL_DIGEST_KEY_FILE`);
  }
}

function readOrMakeKey(file: string): Buffer {
  const existing = readKey(file);
  if (existing) return existing;
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  // Written aside, then linked into place: a worker starting at the same time sees no key or a whole one, never half
  // of one, and the first link wins.
  const aside = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}`;
  fs.writeFileSync(aside, `${crypto.randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  try {
    fs.linkSync(aside, file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  } finally {
    fs.unlinkSync(aside);
  }
  const made = readKey(file);
  if (!made) throw new DigestKeyUnusable(file, 'is not 64 hex digits: copy the key of the other workers there, or remove it (a new one is made; the containers that receive secrets are then recreated once)');
  return made;
}

function readKey(file: string): Buffer | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8').trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  return /^[0-9a-f]{64}$/.test(text) ? Buffer.from(text, 'hex') : undefined;
}

/**
 * A keyed digest (HMAC-SHA256) of a value: it changes when the value does, and without the key it cannot be checked
 * against guesses, as a plain hash of a short password could.
 */
export function keyedDigest(value: string, key: Buffer): string {
  return crypto.createHmac('sha256', key).update(value, 'utf8').digest('hex');
}

/** The keyed digest of a secret's current value, with this installation's key; throws SecretNotFound when unset. */
export function secretDigest(name: string): string {
  return keyedDigest(resolveSecret(name), digestKey());
}

function readSecretsFile(): Record<string, string> {
  let text: string;
  try {
    text = fs.readFileSync(secretsFile(), 'utf8');
  } catch {
    return {};
  }
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

/** Replaces every secret value this worker has resolved (and any given) with ***, before text leaves the worker. */
export function maskSecrets(text: string, extra: string[] = []): string {
  let out = text;
  for (const value of [...known, ...extra]) {
    if (value.length >= 4) out = out.split(value).join('***');
  }
  return out;
}
