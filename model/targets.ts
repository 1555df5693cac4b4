// Which containers an operating command (logs, down) acts on: by service, group (stage) or host name.
import type { Plan, PlannedContainer } from './plan';

/** Containers matching a service, group or host name (all when none given), in stage order; or why none match. */
export function selectContainers(plan: Plan, selector?: string): { containers: PlannedContainer[]; problem?: string } {
  const all = plan.stages.flatMap((s) => s.containers);
  if (!selector) return { containers: all };
  const containers = all.filter((c) => c.service === selector || c.stage === selector || c.host === selector);
  if (containers.length) return { containers };
  const known = (f: (c: PlannedContainer) => string) => [...new Set(all.map(f))].join(', ');
  return { containers, problem: `${plan.topologyFile} has no service, group or host named "${selector}".\n  services: ${known((c) => c.service)}\n  groups: ${known((c) => c.stage)}\n  hosts: ${known((c) => c.host)}` };
}

/** For `down`: groups in reverse stage order, each with its containers. */
export function teardownOrder(plan: Plan, containers: PlannedContainer[]): { stage: string; containers: PlannedContainer[] }[] {
  return [...plan.stages].reverse()
    .map((s) => ({ stage: s.name, containers: containers.filter((c) => c.stage === s.name) }))
    .filter((g) => g.containers.length);
}

/** The persistent directories a container binds from its host: what --purge-data may remove (never system paths). */
export function dataDirectories(plan: Plan, c: PlannedContainer): string[] {
  const declared = plan.hosts.find((h) => h.name === c.host)?.directories.map((d) => d.path) ?? [];
  const sources = c.volumes.map((v) => v.split(':')[0]);
  return declared.filter((d) => sources.some((s) => s === d || s.startsWith(`${d}/`)));
}
