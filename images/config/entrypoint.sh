#!/bin/bash
# Entrypoint of the config-* images: renders the configuration of the one process named by PROCESS (set in each
# sub's Dockerfile) from the environment with ini-set, so a restart renders the same files; then runs the command.
# The IF-MAP clients log in with their usual user names and IFMAP_PASSWORD, which the ifmap image also renders
# (the original used each user name as its password).
set -euo pipefail
# shellcheck source=../base/contrail-common.sh
. /usr/local/lib/contrail-common.sh
etc=/etc/contrail
cassandra() { addr_list CASSANDRA_SERVER 9160 ,; }
# The original gave ZooKeeper as host:2181 to api and svc-monitor, and as bare hosts (port from zk_server_port) to
# device-manager, schema and discovery; both forms stay, as space-separated lists.
zookeeper() { addr_list ZOOKEEPER_SERVER "${1-2181}" ' '; }
ifmap_client() { # FILE USER: the IF-MAP login of a config process
  ini "$1" DEFAULTS ifmap_server_ip "$(first IFMAP_SERVER)" ifmap_username "$2" ifmap_password "$IFMAP_PASSWORD"
}
# The discovery server reads no Keystone settings (the original skipped them too); every other process does.
[ "${PROCESS:-}" = config-discovery ] || require_keystone

case ${PROCESS:-} in
  config-api)
    require CASSANDRA_SERVER ZOOKEEPER_SERVER RABBIT_SERVER DISCOVERY_SERVER IFMAP_SERVER IFMAP_PASSWORD
    f=$etc/contrail-api.conf
    if [ -n "${KEYSTONE_SERVER:-}" ]; then ini "$f" DEFAULTS multi_tenancy true auth keystone; fi
    ini "$f" DEFAULTS listen_ip_addr 0.0.0.0 listen_port 8082 cassandra_server_list "$(cassandra)" \
      disc_server_ip "$(first DISCOVERY_SERVER)" rabbit_server "$(addr_list RABBIT_SERVER "" ,)" \
      zk_server_ip "$(zookeeper)"
    ifmap_client "$f" api-server
    ;;
  config-device-manager)
    require CASSANDRA_SERVER ZOOKEEPER_SERVER RABBIT_SERVER DISCOVERY_SERVER CONFIG_API_SERVER
    ini "$etc/contrail-device-manager.conf" DEFAULTS cassandra_server_list "$(cassandra)" \
      disc_server_ip "$(first DISCOVERY_SERVER)" rabbit_server "$(addr_list RABBIT_SERVER "" ,)" \
      api_server_ip "$(first CONFIG_API_SERVER)" zk_server_ip "$(zookeeper '')"
    ;;
  config-schema)
    require CASSANDRA_SERVER ZOOKEEPER_SERVER DISCOVERY_SERVER CONFIG_API_SERVER IFMAP_SERVER IFMAP_PASSWORD
    f=$etc/contrail-schema.conf
    ini "$f" DEFAULTS cassandra_server_list "$(cassandra)" disc_server_ip "$(first DISCOVERY_SERVER)" \
      api_server_ip "$(first CONFIG_API_SERVER)" zk_server_ip "$(zookeeper '')"
    ifmap_client "$f" schema-transformer
    ;;
  config-svc-monitor)
    require CASSANDRA_SERVER ZOOKEEPER_SERVER RABBIT_SERVER DISCOVERY_SERVER CONFIG_API_SERVER ANALYTICS_SERVER \
      IFMAP_SERVER IFMAP_PASSWORD
    f=$etc/contrail-svc-monitor.conf
    ini "$f" DEFAULTS cassandra_server_list "$(cassandra)" rabbit_server "$(addr_list RABBIT_SERVER "" ,)" \
      disc_server_ip "$(first DISCOVERY_SERVER)" api_server_ip "$(first CONFIG_API_SERVER)" zk_server_ip "$(zookeeper)"
    ifmap_client "$f" svc-monitor
    ini "$f" SCHEDULER analytics_server_ip "$(first ANALYTICS_SERVER)"
    ;;
  config-discovery)
    require CASSANDRA_SERVER ZOOKEEPER_SERVER
    ini "$etc/contrail-discovery.conf" DEFAULTS cassandra_server_list "$(cassandra)" zk_server_ip "$(zookeeper '')"
    exec "$@"
    ;;
  *)
    echo "entrypoint: PROCESS must name a config process (got '${PROCESS:-}')" >&2
    exit 64
    ;;
esac
render_keystone
exec "$@"
