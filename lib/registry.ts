// A small Docker Registry HTTP API v2 client (worker side): find a tag's digest, point a tag at a digest.
// Used for registry-aware skipping (is input-<hash> already there?) and for moving a release tag atomically at the end.
import * as fs from 'fs';
import * as https from 'https';
import * as http from 'http';
import { ApplicationFailure } from '@temporalio/common';
import type { RegistryRef } from '../model/activity-types';
import { maskSecrets, resolveSecret } from './secrets';

// Everything `docker push` may have stored: single-platform manifests and indexes, Docker and OCI.
const MANIFEST_TYPES = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
].join(', ');

// Lookups come in bursts (a whole image tree at once): connections are kept and reused rather than a TLS handshake
// per request.
// Node's codes for a certificate chain it cannot verify (self-signed, unknown issuer, expired, wrong name).
const UNTRUSTED_CERTIFICATE = /^(DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|ERR_TLS_CERT_ALTNAME_INVALID|CERT_UNTRUSTED)$/;

const agent = new https.Agent({ keepAlive: true, maxSockets: 8 });

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export class RegistryClient {
  private readonly ca: Buffer | undefined;
  private readonly authorization: string;

  constructor(private readonly registry: RegistryRef) {
    this.ca = registry.ca ? fs.readFileSync(registry.ca) : undefined;
    this.authorization = `Basic ${Buffer.from(`${registry.username}:${resolveSecret(registry.password.secret)}`).toString('base64')}`;
  }

  /** The digest a tag points at, or null when the repository or the tag does not exist. */
  async digestOf(repository: string, tag: string, what: string): Promise<string | null> {
    const r = await this.request('HEAD', repository, `manifests/${tag}`, what);
    if (r.status === 404) return null;
    this.check(r, what);
    const digest = r.headers['docker-content-digest'];
    if (typeof digest !== 'string') throw ApplicationFailure.retryable(`${what}: the registry ${this.registry.address} sent no Docker-Content-Digest`, 'RegistryUnavailable');
    return digest;
  }

  /** Every tag of the repository (none when the registry does not know it): which releases it holds. */
  async tags(repository: string, what: string): Promise<string[]> {
    const r = await this.request('GET', repository, 'tags/list?n=10000', what);
    if (r.status === 404) return [];
    this.check(r, what);
    return (JSON.parse(r.body.toString('utf8')) as { tags?: string[] | null }).tags ?? [];
  }

  /** Points tag at the manifest with this digest (a PUT of the same manifest: no layer moves). */
  async tag(repository: string, digest: string, tag: string, what: string): Promise<void> {
    const manifest = await this.request('GET', repository, `manifests/${digest}`, what);
    this.check(manifest, what);
    const put = await this.request('PUT', repository, `manifests/${tag}`, what, manifest.body, String(manifest.headers['content-type']));
    this.check(put, what);
  }

  private check(r: Reply, what: string): void {
    if (r.status === 401 || r.status === 403) {
      throw ApplicationFailure.nonRetryable(
        `${what}: the registry ${this.registry.address} refused the credentials (HTTP ${r.status}). Check the secret ${this.registry.password.secret}.`,
        'RegistryAuthFailed',
      );
    }
    if (r.status >= 300) {
      const body = maskSecrets(r.body.toString('utf8').slice(0, 300)).trim();
      throw ApplicationFailure.retryable(`${what}: the registry ${this.registry.address} answered HTTP ${r.status}${body ? `: ${body}` : ''}`, 'RegistryUnavailable');
    }
  }

  /** An untrusted certificate will not fix itself (not retried); anything else on the way may (retried). */
  private connectionFailure(e: NodeJS.ErrnoException, what: string): ApplicationFailure {
    if (UNTRUSTED_CERTIFICATE.test(e.code ?? '')) {
      const ca = this.registry.ca ? `the CA file ${this.registry.ca} did not sign it` : 'no registry.ca is set in the topology';
      return ApplicationFailure.nonRetryable(`${what}: the registry ${this.registry.address} presented a certificate this worker does not trust (${e.code}; ${ca}). Set registry.ca to the CA that signed the registry's certificate.`, 'RegistryCertificateUntrusted');
    }
    return ApplicationFailure.retryable(`${what}: the registry ${this.registry.address} is unreachable (${maskSecrets(e.message)}); retrying`, 'RegistryUnavailable');
  }

  /** resource: `manifests/<tag or digest>` or `tags/list...`, under the repository. */
  private request(method: string, repository: string, resource: string, what: string, body?: Buffer, contentType?: string): Promise<Reply> {
    const name = repository.startsWith(`${this.registry.address}/`) ? repository.slice(this.registry.address.length + 1) : repository;
    const headers: http.OutgoingHttpHeaders = { authorization: this.authorization, accept: MANIFEST_TYPES };
    if (body) Object.assign(headers, { 'content-type': contentType, 'content-length': body.length });
    return new Promise((resolve, reject) => {
      const req = https.request(`https://${this.registry.address}/v2/${name}/${resource}`, { method, ca: this.ca, headers, timeout: 20000, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('no answer within 20 s')));
      req.on('error', (e) => reject(this.connectionFailure(e as NodeJS.ErrnoException, what)));
      req.end(body);
    });
  }
}
