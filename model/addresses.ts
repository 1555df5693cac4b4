// The addresses the 2015 guide wrote by hand into every common.env, derived here from placement: each variable
// names the image whose containers provide it, and its value lists the hosts that run one (topology order).
import type { Topology } from './types';
import { placeService } from './placement';

/** Address variable -> the catalog image whose containers answer for it. */
export const ADDRESS_PROVIDERS: Record<string, string> = {
  ANALYTICS_API_SERVER: 'analytics-api',
  ANALYTICS_SERVER: 'analytics-collector',
  CASSANDRA_SERVER: 'cassandra',
  CINDER_SERVER: 'cinder-api',
  COLLECTOR_SERVER: 'analytics-collector',
  CONFIG_API_SERVER: 'config-api',
  CONTRAIL_DNS_SERVER: 'control-dns',
  CONTROL_SERVER: 'control-control',
  DISCOVERY_SERVER: 'config-discovery',
  GLANCE_SERVER: 'glance-api',
  IFMAP_SERVER: 'ifmap',
  KEYSTONE_SERVER: 'keystone',
  MEMCACHED_SERVER: 'memcached',
  MYSQL_SERVER: 'mariadb',
  NEUTRON_SERVER: 'neutron-server',
  NOVA_SERVER: 'nova-api',
  PLACEMENT_SERVER: 'placement',
  RABBIT_SERVER: 'rabbitmq',
  REDIS_SERVER: 'redis',
  VNC_PROXY: 'nova-novncproxy',
  WEBUI_JOB_SERVER: 'webui-job',
  ZOOKEEPER_SERVER: 'zookeeper',
};

export interface DerivedAddress {
  value: string;
  /** Where the value comes from: the services placed, or the topology's explicit override. */
  source: 'placement' | 'override';
  providers: string[];
}

/** Every address variable the topology can answer: from overrides first, else from where the providers run. */
export function deriveAddresses(t: Pick<Topology, 'hosts' | 'services' | 'addresses'>): Record<string, DerivedAddress> {
  const out: Record<string, DerivedAddress> = {};
  for (const [variable, image] of Object.entries(ADDRESS_PROVIDERS)) {
    const providers = t.services.filter((s) => s.image === image);
    const hosts = [...new Set(providers.flatMap((s) => placeService(t, s).map((h) => h.address)))];
    if (hosts.length) out[variable] = { value: hosts.join(','), source: 'placement', providers: providers.map((s) => s.name) };
  }
  for (const [variable, value] of Object.entries(t.addresses)) out[variable] = { value, source: 'override', providers: [] };
  return out;
}
