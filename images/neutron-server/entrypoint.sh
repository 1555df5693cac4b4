#!/bin/bash
# neutron-server's entrypoint: renders /etc/neutron/neutron.conf and the OpenContrail plugin's ContrailPlugin.ini
# from the environment with ini-set, then runs the command. The keys are those of the 2015 entrypoint, with its bugs
# fixed: the "is CONFIG_API_SERVER set" test is quoted (unquoted it was always true), analytics answers on 8081 (not
# 9081), admin_tenant_name is ADMIN_TENANT (not the admin password), nova_url points at NOVA_SERVER (not Keystone),
# and no password has a default (the original shipped rabbit_password = guest). [keystone_authtoken] gets the password
# plugin's keys only: the original also set the older admin_*/auth_host keys beside them, which said the same twice.
set -euo pipefail

conf=/etc/neutron/neutron.conf
plugin=/etc/neutron/plugins/opencontrail/ContrailPlugin.ini
# Where neutron-plugin-contrail would install itself under Debian's python3 (the plugin is not packaged here).
contrail=neutron_plugin_contrail.plugins.opencontrail
extensions=/usr/lib/python3/dist-packages/neutron_plugin_contrail/extensions

ENTRYPOINT=neutron-server
# shellcheck source=../base/openstack-common.sh
source /usr/local/lib/openstack-common.sh

if [ -n "${CONFIG_API_SERVER:-}" ]; then
  ini-set "$conf" DEFAULT core_plugin "$contrail.contrail_plugin.NeutronPluginContrailCoreV2"
  ini-set "$conf" DEFAULT api_extensions_path "$extensions"
  ini-set "$conf" quotas quota_driver "$contrail.quota.driver.QuotaDriver"
  ini-set "$conf" quotas quota_network -1
  ini-set "$conf" quotas quota_subnet -1
  ini-set "$conf" quotas quota_port -1
  ini-set "$plugin" APISERVER api_server_ip "$CONFIG_API_SERVER"
  ini-set "$plugin" APISERVER api_server_port 8082
  ini-set "$plugin" APISERVER multi_tenancy True
  ini-set "$plugin" APISERVER contrail_extensions "ipam:$contrail.contrail_plugin_ipam.NeutronPluginContrailIpam,policy:$contrail.contrail_plugin_policy.NeutronPluginContrailPolicy,route-table:$contrail.contrail_plugin_vpc.NeutronPluginContrailVpc,contrail:None"
  analytics=${ANALYTICS_API_SERVER:-${ANALYTICS_SERVER:-}}
  if [ -n "$analytics" ]; then
    ini-set "$plugin" COLLECTOR analytics_api_ip "$analytics"
    ini-set "$plugin" COLLECTOR analytics_api_port 8081
  fi
  if [ -n "${KEYSTONE_SERVER:-}" ]; then
    token=$(password ADMIN_TOKEN)
    pw=$(password ADMIN_PASSWORD)
    ini-set "$plugin" KEYSTONE auth_url "http://$KEYSTONE_SERVER:35357/v2.0"
    ini-set "$plugin" KEYSTONE admin_token "$(oslo "$token")"
    ini-set "$plugin" KEYSTONE admin_user "${ADMIN_USER:?ADMIN_USER must be set with KEYSTONE_SERVER}"
    ini-set "$plugin" KEYSTONE admin_password "$(oslo "$pw")"
    ini-set "$plugin" KEYSTONE admin_tenant_name "${ADMIN_TENANT:?ADMIN_TENANT must be set with KEYSTONE_SERVER}"
  fi
fi
if [ -n "${KEYSTONE_SERVER:-}" ]; then
  ini-set "$conf" DEFAULT auth_strategy keystone
  ini-set "$conf" DEFAULT notify_nova_on_port_status_changes True
  ini-set "$conf" DEFAULT notify_nova_on_port_data_changes True
  if [ -n "${NOVA_SERVER:-}" ]; then ini-set "$conf" DEFAULT nova_url "http://$NOVA_SERVER:8774/v2"; fi
  keystone_authtoken "$conf" neutron NEUTRON_PASSWORD ADMIN_PASSWORD
  # Port events go to nova as nova's own user (keystone-register makes it when nova-api starts).
  pw=$(password NOVA_PASSWORD ADMIN_PASSWORD)
  keystone_auth "$conf" nova nova "$pw"
fi
if [ -n "${RABBIT_SERVER:-}" ]; then
  rabbit "$conf"
fi
if [ -n "${HOST_IP:-}" ]; then
  ini-set "$conf" DEFAULT my_ip "$HOST_IP"
fi
# neutron-server's own user checks its users' tokens (nova signs in as it too); the clients find the network API in
# the catalog.
if [ "${1:-}" = neutron-server ] && [ -n "${KEYSTONE_SERVER:-}" ]; then
  register_in_keystone neutron neutron network "http://$HOST_IP:9696"
fi

exec "$@"
