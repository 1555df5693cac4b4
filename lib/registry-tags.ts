// The tags of a repository in the registry (Docker Registry HTTP API v2 tags/list), for `rollback`: which releases the
// registry holds. Client side, with the topology's CA and the registry password from the secrets, as `diff` reads it.
import * as fs from 'fs';
import * as https from 'https';
import type { RegistryRef } from '../model/activity-types';
import { maskSecrets, resolveSecret } from './secrets';

/** Every tag of the repository (none when the registry does not know it). */
export async function listTags(registry: RegistryRef, repository: string): Promise<string[]> {
  const name = repository.startsWith(`${registry.address}/`) ? repository.slice(registry.address.length + 1) : repository;
  const authorization = `Basic ${Buffer.from(`${registry.username}:${resolveSecret(registry.password.secret)}`).toString('base64')}`;
  const ca = registry.ca ? fs.readFileSync(registry.ca) : undefined;
  const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = https.get(`https://${registry.address}/v2/${name}/tags/list?n=10000`, { ca, headers: { authorization }, timeout: 20000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 20 s')));
    req.on('error', (e) => reject(new Error(`the registry ${registry.address} is unreachable: ${maskSecrets(e.message)}`)));
  });
  if (status === 404) return [];
  if (status === 401 || status === 403) throw new Error(`the registry ${registry.address} refused the credentials (HTTP ${status}): check the secret ${registry.password.secret}`);
  if (status !== 200) throw new Error(`the registry ${registry.address} answered HTTP ${status} for the tags of ${name}`);
  return (JSON.parse(body) as { tags?: string[] | null }).tags ?? [];
}
