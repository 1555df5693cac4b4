// Placement: which hosts run a service. Pure (no yaml), so the plan, the address derivation and workflow code share it.
import type { HostSpec, ServiceSpec, Topology } from './types';

/** The hosts a service runs on: its explicit hosts plus every host with one of its roles, in topology order. */
export function placeService(t: Pick<Topology, 'hosts'>, s: Pick<ServiceSpec, 'roles' | 'hosts'>): HostSpec[] {
  return t.hosts.filter((h) => s.hosts.includes(h.name) || h.roles.some((role) => s.roles.includes(role)));
}
