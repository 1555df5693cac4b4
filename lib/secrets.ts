// Secrets are resolved here, on the worker, from the environment or a KEY=VALUE secrets file (mode 0600).
// Workflows and topology files only ever carry the NAME.
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
