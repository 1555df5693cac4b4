// The one-line explanations of a failed Temporal connection, against local TLS servers made here (no lab): what the
// probe tells apart that the gRPC client reports only as "Failed to connect before the deadline".
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import * as tls from 'tls';
import { diagnoseConnectFailure } from '../../lib/temporal-connect-diagnosis';

let dir: string;
const servers: net.Server[] = [];

function openssl(args: string): void {
  const r = spawnSync('bash', ['-c', `openssl ${args}`], { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args}: ${r.stderr}`);
}

/** A CA, and a certificate from it (server or client) in NAME.crt / NAME.key. */
function makeCa(name: string): void {
  openssl(`req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=${name}" -keyout ${name}.key -out ${name}.crt 2>/dev/null`);
}
function issue(name: string, ca: string, ext: string): void {
  fs.writeFileSync(path.join(dir, `${name}.ext`), `${ext}\n`);
  openssl(`req -newkey rsa:2048 -nodes -subj "/CN=${name}" -keyout ${name}.key -out ${name}.csr 2>/dev/null`);
  openssl(`x509 -req -in ${name}.csr -CA ${ca}.crt -CAkey ${ca}.key -CAcreateserial -days 2 -extfile ${name}.ext -out ${name}.crt 2>/dev/null`);
}
const read = (f: string) => fs.readFileSync(path.join(dir, f));

async function listen(server: net.Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

/** Like the cluster's frontend: TLS with a server certificate for "temporal-frontend", client certificates required. */
function mutualTlsServer(): Promise<string> {
  const server = tls.createServer({ cert: read('server.crt'), key: read('server.key'), ca: read('ca.crt'), requestCert: true, rejectUnauthorized: true, ALPNProtocols: ['h2'] }, (s) => setTimeout(() => s.destroy(), 3000).unref());
  server.on('tlsClientError', () => undefined);
  return listen(server);
}

const trusted = () => ({ serverNameOverride: 'temporal-frontend', serverRootCACertificate: read('ca.crt') });

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'contrail-tls-'));
  makeCa('ca');
  makeCa('otherca');
  issue('server', 'ca', 'subjectAltName=DNS:temporal-frontend,IP:127.0.0.1\nextendedKeyUsage=serverAuth');
  issue('client', 'ca', 'extendedKeyUsage=clientAuth');
  issue('intruder', 'otherca', 'extendedKeyUsage=clientAuth');
});

afterAll(() => {
  for (const s of servers) s.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('nothing listening: connection refused', async () => {
  const address = await listen(net.createServer());
  servers.pop()!.close();
  await new Promise((r) => setTimeout(r, 50));
  expect(await diagnoseConnectFailure(address, false)).toBe(`cannot reach the Temporal server at ${address} (connection refused: nothing listens there)`);
});

test('a mutual-TLS server and a client without a certificate: refused, told to set the client certificate', async () => {
  const address = await mutualTlsServer();
  expect(await diagnoseConnectFailure(address, trusted())).toMatch(/refused this client: it requires a client certificate \(mutual TLS\) and none is set; set TEMPORAL_TLS_CLIENT_CERT_PATH/);
});

test('a client certificate from another CA: refused, naming the certificate and its issuer', async () => {
  const address = await mutualTlsServer();
  const message = await diagnoseConnectFailure(address, { ...trusted(), clientCertPair: { crt: read('intruder.crt'), key: read('intruder.key') } });
  expect(message).toMatch(/refused this client's TLS certificate \(.*the certificate is CN=intruder, issued by CN=otherca\)/);
});

test('the right client certificate: nothing wrong at the TLS level', async () => {
  const address = await mutualTlsServer();
  expect(await diagnoseConnectFailure(address, { ...trusted(), clientCertPair: { crt: read('client.crt'), key: read('client.key') } })).toBeUndefined();
});

test("a server whose CA this client does not trust, or a name not in its certificate: told which setting to fix", async () => {
  const address = await mutualTlsServer();
  expect(await diagnoseConnectFailure(address, { serverNameOverride: 'temporal-frontend' })).toMatch(/cannot verify the TLS certificate .*TEMPORAL_TLS_SERVER_CA_CERT_PATH/);
  expect(await diagnoseConnectFailure(address, { serverNameOverride: 'elsewhere', serverRootCACertificate: read('ca.crt') })).toMatch(/cannot verify the TLS certificate .*TEMPORAL_TLS_SERVER_NAME/);
});

test('a plain client to a TLS server, and a TLS client to a plain server', async () => {
  const tlsAddress = await mutualTlsServer();
  expect(await diagnoseConnectFailure(tlsAddress, undefined)).toMatch(/requires TLS and this client is not configured for it/);
  const plain = await listen(net.createServer((s) => s.on('data', () => s.end('HTTP/1.1 400 Bad Request\r\n\r\n'))));
  expect(await diagnoseConnectFailure(plain, trusted())).toMatch(/no TLS handshake with the Temporal server .*unset the TEMPORAL_TLS_\* settings/);
});
