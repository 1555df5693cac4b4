// `compose export`: the plan as the original's layout, <host>/<group>/{docker-compose.yml,common.env}, for people who
// start groups by hand. Pure: the CLI writes the files. Secrets stay names: compose fills ${NAME} from the shell.
import { stringify } from 'yaml';
import type { Plan, PlannedContainer } from './plan';
import type { SecretRef } from './types';
import { engineHealthTest } from './engine-health';

export interface ExportedFile {
  /** Relative to the export directory. */
  path: string;
  text: string;
}

export function composeFiles(plan: Plan): ExportedFile[] {
  const files: ExportedFile[] = [];
  for (const host of plan.hosts) {
    for (const stage of plan.stages) {
      const containers = stage.containers.filter((c) => c.host === host.name);
      if (!containers.length) continue;
      const shared = sharedEnv(containers);
      const dir = `${host.name}/${stage.name}`;
      const header = `# ${plan.topology} release ${plan.release}: group ${stage.name} on ${host.name} (${host.address}), from ${plan.topologyFile}.\n` +
        `# Start the groups in this order, each once the one before answers: ${plan.stages.map((s) => s.name).join(', ')}.\n` +
        `# Secrets are read from your shell: export ${secretNames(containers).join(' ') || '(none)'} first.\n`;
      files.push({ path: `${dir}/common.env`, text: `${header}${Object.entries(shared).map(([k, v]) => `${k}=${v}`).join('\n')}\n` });
      const services = Object.fromEntries(containers.map((c) => [c.name, composeService(plan, c, shared)]));
      files.push({ path: `${dir}/docker-compose.yml`, text: header + stringify({ services }, { lineWidth: 0 }) });
    }
  }
  return files;
}

function composeService(plan: Plan, c: PlannedContainer, shared: Record<string, string>): Record<string, unknown> {
  const environment = Object.fromEntries(
    Object.entries(c.env)
      .filter(([k, v]) => typeof v !== 'string' || shared[k] !== v)
      .map(([k, v]) => [k, typeof v === 'string' ? v.replace(/\$/g, '$$$$') : `\${${v.secret}:?export ${v.secret}}`]),
  );
  const service: Record<string, unknown> = {
    image: `${plan.registry.address}/${c.image}:${plan.release}`,
    container_name: c.name,
    network_mode: 'host',
    restart: 'unless-stopped',
    env_file: ['./common.env'],
  };
  if (Object.keys(environment).length) service.environment = environment;
  if (c.command) service.command = c.command;
  if (c.volumes.length) service.volumes = c.volumes;
  if (c.privileged) service.privileged = true;
  if (c.capAdd.length) service.cap_add = c.capAdd;
  if (Object.keys(c.labels).length) service.labels = c.labels;
  const test = engineHealthTest(c);
  if (test) service.healthcheck = { test, interval: '5s', retries: Math.max(1, Math.ceil((c.health?.timeoutSeconds ?? 60) / 5)) };
  return service;
}

/** Plain values every container of the group has alike (addresses, HOST_IP): the original's common.env. */
function sharedEnv(containers: PlannedContainer[]): Record<string, string> {
  const [first, ...rest] = containers;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(first.env)) {
    if (typeof v === 'string' && !/[\n\r]/.test(v) && rest.every((c) => c.env[k] === v)) out[k] = v;
  }
  return out;
}

function secretNames(containers: PlannedContainer[]): string[] {
  const names = new Set<string>();
  for (const c of containers) for (const v of Object.values(c.env)) if (typeof v !== 'string') names.add((v as SecretRef).secret);
  return [...names].sort();
}
