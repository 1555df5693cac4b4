// The `openstack` command (Debian's python3-openstackclient, with osc-placement) as an operator runs it against the
// deployed lab cloud: from this machine, to the controller's Keystone, signed in as the admin. The password goes
// through the environment (OS_PASSWORD), never on a command line.
import { spawnSync } from 'child_process';
import { secret, type LabStatus } from './lab';

export interface OpenStackClient {
  /** `openstack ARGS -f json`, parsed; fails with the command and what it said when it exits non-zero. */
  json<T>(args: string[]): T;
  /** `openstack ARGS` for a command that prints nothing (a delete); fails as json() does. */
  run(args: string[]): void;
}

export function openStackClient(lab: LabStatus, controller: string): OpenStackClient {
  // Only the admin's settings: an OS_* variable of the machine's own shell must not change what is asked.
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OS_')));
  Object.assign(env, {
    OS_AUTH_URL: `http://${controller}:5000/v3`, OS_IDENTITY_API_VERSION: '3', OS_REGION_NAME: 'RegionOne',
    OS_USERNAME: 'admin', OS_PASSWORD: secret(lab, 'LAB_ADMIN_PASSWORD'), OS_PROJECT_NAME: 'admin',
    OS_USER_DOMAIN_NAME: 'Default', OS_PROJECT_DOMAIN_NAME: 'Default',
  });
  const openstack = (args: string[]): string => {
    const r = spawnSync('openstack', args, { encoding: 'utf8', env, timeout: 120_000 });
    if (r.status !== 0) throw new Error(`openstack ${args.join(' ')} exited ${r.status ?? r.signal}: ${(r.stderr || r.error?.message || '').trim().slice(-1500)}`);
    return r.stdout;
  };
  return {
    json: <T>(args: string[]): T => JSON.parse(openstack([...args, '-f', 'json'])) as T,
    run: (args: string[]): void => void openstack(args),
  };
}
