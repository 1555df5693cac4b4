// known_hosts entries of each kind and host certificates, with keys and certificates made by the real ssh-keygen.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { checkCertificate, entryMatches, keysForHost, parseCertificate, parseKnownHosts, verifyHostKey } from '../../lib/known-hosts';

let dir: string;
const keygen = (...args: string[]) => {
  const r = spawnSync('ssh-keygen', args, { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ssh-keygen ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};
/** "type base64" of a public key file. */
const pub = (file: string) => fs.readFileSync(path.join(dir, file), 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
const blob = (file: string) => Buffer.from(pub(file).split(' ')[1], 'base64');

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'known-hosts-'));
  for (const [name, type] of [['host', 'ed25519'], ['other', 'ed25519'], ['ca', 'ed25519'], ['rogue-ca', 'ed25519'], ['rsa-ca', 'rsa'], ['ec-ca', 'ecdsa'], ['rsa-host', 'rsa']]) {
    keygen('-q', '-t', type, '-N', '', '-C', name, '-f', name);
  }
  const sign = (ca: string, key: string, out: string, ...opts: string[]) => {
    fs.copyFileSync(path.join(dir, `${key}.pub`), path.join(dir, `${out}.pub`));
    keygen('-q', '-s', ca, '-I', out, ...opts, `${out}.pub`);
    return Buffer.from(fs.readFileSync(path.join(dir, `${out}-cert.pub`), 'utf8').split(/\s+/)[1], 'base64');
  };
  certs = {
    good: sign('ca', 'host', 'good', '-h', '-n', 'edge1,10.0.58.11', '-V', '-5m:+1d'),
    rogue: sign('rogue-ca', 'host', 'rogue', '-h', '-n', '10.0.58.11'),
    user: sign('ca', 'host', 'user', '-n', '10.0.58.11'),
    elsewhere: sign('ca', 'host', 'elsewhere', '-h', '-n', '10.0.58.99'),
    expired: sign('ca', 'host', 'expired', '-h', '-n', '10.0.58.11', '-V', '20200101:20200102'),
    byRsa: sign('rsa-ca', 'rsa-host', 'by-rsa', '-h', '-n', '10.0.58.11'),
    byEc: sign('ec-ca', 'host', 'by-ec', '-h', '-n', '10.0.58.11'),
  };
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
let certs: Record<string, Buffer>;

describe('parsing and matching', () => {
  test('each entry kind is read, comments and blank lines are skipped, bad lines are reported with their number', () => {
    const text = [
      '# the fleet',
      '',
      `10.0.0.11,ctl1 ${pub('host.pub')}`,
      `[10.0.0.12]:2222 ${pub('other.pub')}`,
      `@cert-authority *.dc1,10.0.58.* ${pub('ca.pub')}`,
      `@revoked * ${pub('other.pub')}`,
      `@bogus x ${pub('other.pub')}`,
      '10.0.0.13 ssh-ed25519',
      `10.0.0.14 ssh-rsa ${pub('host.pub').split(' ')[1]}`,
    ].join('\n');
    const { entries, problems } = parseKnownHosts(text);
    expect(entries.map((e) => [e.line, e.marker, e.hosts])).toEqual([
      [3, null, '10.0.0.11,ctl1'],
      [4, null, '[10.0.0.12]:2222'],
      [5, 'cert-authority', '*.dc1,10.0.58.*'],
      [6, 'revoked', '*'],
    ]);
    expect(problems).toEqual([
      'line 7: unknown marker @bogus',
      'line 8: expected "hosts key-type base64-key"',
      'line 9: the key is not a ssh-rsa key',
    ]);
  });

  test('comma-separated names, [host]:port and wildcards match as OpenSSH does; negation rules a line out', () => {
    expect(entryMatches({ hosts: '10.0.0.11,ctl1' }, 'ctl1', 22)).toBe(true);
    expect(entryMatches({ hosts: '10.0.0.11,ctl1' }, '10.0.0.11', 22)).toBe(true);
    expect(entryMatches({ hosts: '10.0.0.11,ctl1' }, '10.0.0.11', 2222)).toBe(false);
    expect(entryMatches({ hosts: '[10.0.0.12]:2222' }, '10.0.0.12', 2222)).toBe(true);
    expect(entryMatches({ hosts: '[10.0.0.12]:2222' }, '10.0.0.12', 22)).toBe(false);
    expect(entryMatches({ hosts: '*.dc1.example.com' }, 'Node7.DC1.example.com', 22)).toBe(true);
    expect(entryMatches({ hosts: '10.0.58.?' }, '10.0.58.1', 22)).toBe(true);
    expect(entryMatches({ hosts: '10.0.58.?' }, '10.0.58.11', 22)).toBe(false);
    expect(entryMatches({ hosts: '10.0.58.*,!10.0.58.13' }, '10.0.58.13', 22)).toBe(false);
    expect(entryMatches({ hosts: '10.0.58.*,!10.0.58.13' }, '10.0.58.12', 22)).toBe(true);
  });

  test('hashed entries written by ssh-keygen -H match their host (and port) only', () => {
    const file = path.join(dir, 'hashed');
    fs.writeFileSync(file, `10.0.0.11 ${pub('host.pub')}\n[10.0.0.12]:2222 ${pub('other.pub')}\n`);
    keygen('-q', '-H', '-f', file);
    const { entries } = parseKnownHosts(fs.readFileSync(file, 'utf8'));
    expect(entries).toHaveLength(2);
    expect(entries.every((e) => e.hosts.startsWith('|1|'))).toBe(true);
    expect(keysForHost(entries, '10.0.0.11', 22).pinned.map((e) => e.key)).toEqual([blob('host.pub')]);
    expect(keysForHost(entries, '10.0.0.12', 2222).pinned.map((e) => e.key)).toEqual([blob('other.pub')]);
    expect(keysForHost(entries, '10.0.0.12', 22).pinned).toEqual([]);
    expect(keysForHost(entries, '10.0.0.111', 22).pinned).toEqual([]);
  });
});

describe('host keys', () => {
  const keysOf = (text: string, address = '10.0.58.11') => keysForHost(parseKnownHosts(text).entries, address, 22);

  test('a pinned key is accepted; another key is a changed key; a host the file does not name is unknown', () => {
    const keys = keysOf(`10.0.58.11 ${pub('host.pub')}`);
    expect(verifyHostKey(keys, blob('host.pub'), '10.0.58.11', null)).toEqual({ ok: true, how: 'pinned (line 1)' });
    expect(verifyHostKey(keys, blob('other.pub'), '10.0.58.11', null)).toEqual({ ok: false, reason: expect.stringContaining('a changed host key') });
    expect(verifyHostKey(keysOf(`10.0.0.1 ${pub('host.pub')}`), blob('host.pub'), '10.0.58.11', null)).toEqual({ ok: false, reason: expect.stringContaining('an unknown host') });
  });

  test('a revoked key is refused even where it is also pinned', () => {
    const keys = keysOf(`10.0.58.11 ${pub('host.pub')}\n@revoked * ${pub('host.pub')}`);
    expect(verifyHostKey(keys, blob('host.pub'), '10.0.58.11', null)).toEqual({ ok: false, reason: 'its key is marked @revoked (line 2)' });
  });

  test('a host certificate signed by a trusted CA certifies the key the host uses', () => {
    const keys = keysOf(`@cert-authority 10.0.58.* ${pub('ca.pub')}`);
    const verdict = verifyHostKey(keys, blob('host.pub'), '10.0.58.11', certs.good);
    expect(verdict).toEqual({ ok: true, how: 'certificate "good" signed by the CA of line 1' });
    // The certificate is public: a host that shows it but keys the session with another key is refused.
    expect(verifyHostKey(keys, blob('other.pub'), '10.0.58.11', certs.good)).toEqual({ ok: false, reason: 'the key it used is not the key its certificate certifies' });
    const cert = parseCertificate(certs.good);
    expect([cert.type, cert.principals, cert.keyId, cert.key.equals(blob('host.pub'))]).toEqual([2, ['edge1', '10.0.58.11'], 'good', true]);
  });

  test('RSA (rsa-sha2-512) and ECDSA CA signatures verify too', () => {
    expect(checkCertificate(keysOf(`@cert-authority * ${pub('rsa-ca.pub')}`), certs.byRsa, '10.0.58.11')).toMatchObject({ ok: true, key: blob('rsa-host.pub') });
    expect(checkCertificate(keysOf(`@cert-authority * ${pub('ec-ca.pub')}`), certs.byEc, '10.0.58.11')).toMatchObject({ ok: true, key: blob('host.pub') });
  });

  test.each([
    ['another CA', () => certs.rogue, `@cert-authority * CA`, 'is signed by a CA that no @cert-authority line trusts for this host'],
    ['a CA trusted only for other hosts', () => certs.good, `@cert-authority 10.0.0.* CA`, 'an unknown host'],
    ['a user certificate', () => certs.user, `@cert-authority * CA`, 'is a user certificate, not a host certificate'],
    ['a certificate for another host', () => certs.elsewhere, `@cert-authority * CA`, 'is not for 10.0.58.11 (principals: 10.0.58.99)'],
    ['an expired certificate', () => certs.expired, `@cert-authority * CA`, 'expired at 2020-01-02'],
    ['a revoked CA', () => certs.good, `@cert-authority * CA\n@revoked * CA`, 'is signed by a CA marked @revoked (line 2)'],
    ['a revoked certified key', () => certs.good, `@cert-authority * CA\n@revoked 10.0.58.11 HOST`, 'its key is marked @revoked (line 2)'],
  ])('refused: %s', (_what, cert, lines, reason) => {
    const keys = keysOf(lines.replace(/CA/g, pub('ca.pub')).replace('HOST', pub('host.pub')));
    const verdict = verifyHostKey(keys, blob('host.pub'), '10.0.58.11', cert());
    expect(verdict.ok).toBe(false);
    expect(verdict.ok === false && verdict.reason).toContain(reason);
  });

  test('a certificate whose signature was tampered with is refused', () => {
    const tampered = Buffer.from(certs.good);
    tampered[tampered.length - 5] ^= 0xff;
    expect(checkCertificate(keysOf(`@cert-authority * ${pub('ca.pub')}`), tampered, '10.0.58.11')).toEqual({ ok: false, reason: expect.stringContaining('the CA signature does not verify') });
  });
});
