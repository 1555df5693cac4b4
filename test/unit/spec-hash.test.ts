// What recreates a container: the spec hash covers a keyed digest of each secret it receives (never the value, never a
// plain hash), and does not depend on the worker's locale.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { containerSpecHash } from '../../activities/containers';
import { digestKey, keyedDigest, secretDigest } from '../../lib/secrets';
import type { PlannedContainer } from '../../model/plan';
import { compareKeys, stableJson } from '../../model/stable-json';
import { scratchDir } from '../helpers/files';

const IMAGE = `10.0.0.1:5000/web@sha256:${'ab'.repeat(32)}`;
const KEY = Buffer.alloc(32, 7);
const OTHER_KEY = Buffer.alloc(32, 8);

function container(name: string, env: PlannedContainer['env']): PlannedContainer {
  return {
    name, service: name, host: 'c1', hostAddress: '10.0.0.11', image: 'web', stage: 'common', env, volumes: ['/a:/b'], privileged: false, capAdd: ['NET_ADMIN'],
    labels: { 'net.juniper.contrail': 'config', 'net.juniper.node': 'controller', 'net.contrail-deploy.standin': 'true' }, health: null, standin: null, command: null,
  };
}

describe('the keyed digest of a secret value', () => {
  test('same value and key: same digest; another key: another digest', () => {
    expect(keyedDigest('s3cret-value', KEY)).toBe(keyedDigest('s3cret-value', KEY));
    expect(keyedDigest('s3cret-value', OTHER_KEY)).not.toBe(keyedDigest('s3cret-value', KEY));
    expect(keyedDigest('s3cret-valuf', KEY)).not.toBe(keyedDigest('s3cret-value', KEY));
  });

  test('it is not a plain hash of the value, and does not contain it', () => {
    const digest = keyedDigest('s3cret-value', KEY);
    expect(digest).toMatch(/^[0-9a-f]{64}$/);
    expect(digest).not.toBe(crypto.createHash('sha256').update('s3cret-value').digest('hex'));
    expect(digest).not.toContain('s3cret');
    expect(digest).toBe(crypto.createHmac('sha256', KEY).update('s3cret-value').digest('hex'));
  });

  test("the installation's key is made once next to the secrets file, mode 0600, and kept", () => {
    const dir = scratchDir({ 'secrets.env': 'H2_ROTATE_A=one\n' });
    const saved = { file: process.env.CONTRAIL_SECRETS_FILE, key: process.env.CONTRAIL_DIGEST_KEY_FILE };
    process.env.CONTRAIL_SECRETS_FILE = path.join(dir, 'secrets.env');
    delete process.env.CONTRAIL_DIGEST_KEY_FILE;
    try {
      const first = secretDigest('H2_ROTATE_A');
      const keyFile = path.join(dir, 'secret-digest.key');
      expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
      expect(fs.readFileSync(keyFile, 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
      expect(secretDigest('H2_ROTATE_A')).toBe(first);
      expect(digestKey().equals(Buffer.from(fs.readFileSync(keyFile, 'utf8').trim(), 'hex'))).toBe(true);
      // A missing secret names itself, never a value.
      expect(() => secretDigest('H2_ROTATE_MISSING')).toThrow(/secret H2_ROTATE_MISSING is not set: export H2_ROTATE_MISSING=\.\.\./);
    } finally {
      if (saved.file === undefined) delete process.env.CONTRAIL_SECRETS_FILE;
      else process.env.CONTRAIL_SECRETS_FILE = saved.file;
      if (saved.key !== undefined) process.env.CONTRAIL_DIGEST_KEY_FILE = saved.key;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the container spec hash', () => {
  const values: Record<string, string> = { ADMIN_PW: 'first-value', RABBIT_PW: 'rabbit-value' };
  const digest = (name: string) => keyedDigest(values[name], KEY);
  const plain = container('plain', { HOST_IP: '10.0.0.11', HOSTNAME: 'ctl1', RABBIT_SERVER: '10.0.0.11', RABBITMQ_NODE: 'rabbit', admin_user: 'admin', Admin_Tenant: 'admin' });
  const withAdmin = container('api', { HOST_IP: '10.0.0.11', ADMIN_PASSWORD: { secret: 'ADMIN_PW' } });
  const withRabbit = container('mq', { HOST_IP: '10.0.0.11', RABBIT_PASSWORD: { secret: 'RABBIT_PW' } });

  test('a container without secrets keeps the hash it had before secrets counted (and before the fixed key order)', () => {
    // Recorded with the earlier code (keys ordered by localeCompare on an en-US worker, no secret digests).
    expect(containerSpecHash(plain, IMAGE, digest)).toBe('d22c75f3bdb60c29d5ae4917');
  });

  test('a rotated secret changes the hash of exactly the containers that receive it', () => {
    const before = [plain, withAdmin, withRabbit].map((c) => containerSpecHash(c, IMAGE, digest));
    expect([plain, withAdmin, withRabbit].map((c) => containerSpecHash(c, IMAGE, digest))).toEqual(before);
    values.ADMIN_PW = 'rotated-value';
    const after = [plain, withAdmin, withRabbit].map((c) => containerSpecHash(c, IMAGE, digest));
    expect(after.map((h, i) => h !== before[i])).toEqual([false, true, false]);
  });
});

describe('key order (stable JSON, build context files) does not depend on the locale', () => {
  test('printable ASCII: the order en-US collation gave, so earlier hashes stay; everything else after it, by code units', () => {
    const keys = ['HOSTNAME', 'HOST_IP', 'admin_user', 'Admin_Tenant', 'b', 'B', 'a-b', 'a_b', 'a.b', 'A1', 'a10', 'a9', 'Dockerfile', 'entrypoint.sh', 'étoile', 'Zeta', 'zeta'];
    const collator = new Intl.Collator('en-US');
    const ascii = keys.filter((k) => /^[\x20-\x7e]*$/.test(k));
    expect([...ascii].sort(compareKeys)).toEqual([...ascii].sort((a, b) => collator.compare(a, b)));
    expect([...keys].sort(compareKeys).slice(-1)).toEqual(['étoile']);
    // Random printable ASCII strings agree with the en-US collation too.
    const random = () => Array.from({ length: 1 + Math.floor(Math.random() * 6) }, () => String.fromCharCode(0x20 + Math.floor(Math.random() * 95))).join('');
    const disagree: string[][] = [];
    for (let i = 0; i < 20000; i++) {
      const [a, b] = [random(), random()];
      if (Math.sign(compareKeys(a, b)) !== Math.sign(collator.compare(a, b))) disagree.push([a, b]);
    }
    expect(disagree).toEqual([]);
  });

  test('stableJson orders keys the same whatever the default locale says', () => {
    const original = String.prototype.localeCompare;
    // A worker whose locale sorts the other way round must not change a hash.
    String.prototype.localeCompare = function (this: string, that: string) {
      return -original.call(this, that);
    } as typeof original;
    try {
      expect(stableJson({ b: 1, a: { HOST_IP: 1, HOSTNAME: 2 } })).toBe('{"a":{"HOST_IP":1,"HOSTNAME":2},"b":1}');
    } finally {
      String.prototype.localeCompare = original;
    }
  });
});
