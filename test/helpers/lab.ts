import { spawn, spawnSync, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as https from 'https';
import * as path from 'path';
import { PROJECT_ROOT } from '../../lib/paths';

export const CLI = path.join(PROJECT_ROOT, 'bin', 'contrail-deploy.js');

export interface LabStatus {
  labDir: string;
  temporal: { address: string; ui: string; cli: string };
  docker: { host: string };
  registry: { address: string; ca: string; username: string; passwordSecret: string };
  hosts: { name: string; address: string; roles: string[] }[];
  ssh: { user: string; keyFile: string; knownHosts: string };
  secrets: string;
  /** The production-shaped part: a bastion, hosts only it reaches (CA-certified host keys), the lab users. */
  production?: {
    bastion: { address: string; port: number; user: string; namespace: string; up: boolean };
    hosts: { name: string; address: string; roles: string[]; namespace: string; up: boolean }[];
    users: { sudo: string; noSudo: string };
    knownHosts: string;
    sshCa: string;
  };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI as a user would, to the end. */
export function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, cwd: PROJECT_ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** The CLI in the background, so the test can act while it runs: its result, and the run id as soon as it prints it. */
export function cliInBackground(args: string[], env: NodeJS.ProcessEnv): { result: Promise<CliResult>; runId: Promise<string> } {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, cwd: PROJECT_ROOT });
  let stdout = '';
  let stderr = '';
  let gotId: (id: string) => void = () => undefined;
  let noId: (e: Error) => void = () => undefined;
  const runId = new Promise<string>((resolve, reject) => {
    gotId = resolve;
    noId = reject;
  });
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    const m = /^run (\S+) started/m.exec(stdout);
    if (m) gotId(m[1]);
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const result = new Promise<CliResult>((resolve) => child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr })));
  // A CLI that ends before it starts a run (a topology error, say) fails the test at once instead of hanging it.
  void result.then((r) => noId(new Error(`${args.join(' ')} ended (exit ${r.code}) before starting a run:\n${r.stdout}${r.stderr}`)));
  return { result, runId };
}

/** Stops a child process: SIGTERM, then SIGKILL if it is still there after 15 s; resolves when it has exited. */
export function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 15000).unref();
  });
}

export function lastJsonLine<T>(stdout: string): T {
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as T;
}

export function labStatus(): LabStatus {
  const r = spawnSync('bash', [path.join(PROJECT_ROOT, 'lab', 'lab.sh'), 'status', '--json'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`lab status failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as LabStatus;
}

/** A command on a lab host over SSH with the lab key, checking the host key strictly (as a user would). */
export function sshRun(lab: LabStatus, host: string, command: string, input?: string): { code: number; stdout: string; stderr: string } {
  const address = lab.hosts.find((h) => h.name === host)!.address;
  const r = spawnSync('ssh', ['-i', lab.ssh.keyFile, '-o', `UserKnownHostsFile=${lab.ssh.knownHosts}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', `${lab.ssh.user}@${address}`, command], { encoding: 'utf8', input });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function secret(lab: LabStatus, name: string): string {
  const line = fs.readFileSync(lab.secrets, 'utf8').split('\n').find((l) => l.startsWith(`${name}=`));
  if (!line) throw new Error(`no ${name} in ${lab.secrets}`);
  return line.slice(name.length + 1);
}

/** GET on the lab registry's HTTP API, over TLS checked against the lab CA. */
export function registryGet(lab: LabStatus, urlPath: string, auth?: { user: string; password: string }, accept?: string): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (auth) headers.authorization = `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}`;
    if (accept) headers.accept = accept;
    const req = https.get(`https://${lab.registry.address}${urlPath}`, { ca: fs.readFileSync(lab.registry.ca), headers }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
  });
}

export interface WorkerProcess {
  child: ChildProcess;
  output: () => string;
  stop: () => Promise<void>;
}

/** Starts `contrail-deploy worker` as its own process and waits until it polls (stop it with the returned function). */
export async function startWorker(env: NodeJS.ProcessEnv): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [CLI, 'worker'], { env: { ...process.env, ...env }, cwd: PROJECT_ROOT });
  let output = '';
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      output += d.toString();
      if (output.includes('worker: polling')) resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`worker exited (${code}) before polling:\n${output}`)));
  });
  await ready;
  return {
    child,
    output: () => output,
    stop: () => stopChild(child),
  };
}

export function uniqueSuffix(): string {
  return `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`;
}

/** A topology on the lab's registry and SSH settings: the header every e2e test shares, then its own hosts, roles and services. */
export function labTopology(lab: LabStatus, t: { name: string; release: string; catalog: string; hosts?: string; roles?: string; services: string; passwordSecret?: string }): string {
  return `name: ${t.name}
release: "${t.release}"
catalog: ${t.catalog}
registry: { address: "${lab.registry.address}", ca: "@lab/tls/ca.crt", username: ${lab.registry.username}, password: { secret: ${t.passwordSecret ?? lab.registry.passwordSecret} } }
ssh: { user: root, keyFile: "@lab/ssh/id_ed25519", knownHosts: "@lab/ssh/known_hosts" }
hosts:
${t.hosts ?? `  - { name: controller1, address: ${lab.hosts[0].address}, roles: [controller] }`}
roles:
${t.roles ?? '  controller: {}'}
services:
${t.services}
`;
}
