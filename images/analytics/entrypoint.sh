#!/bin/bash
# Entrypoint of the analytics-* images: renders the configuration of the one process named by PROCESS (set in each
# sub's Dockerfile) from the environment with ini-set, so a restart renders the same files; then runs the command.
set -euo pipefail
# shellcheck source=../base/contrail-common.sh
. /usr/local/lib/contrail-common.sh
etc=/etc/contrail
cassandra() { addr_list CASSANDRA_SERVER 9160 ,; }
require_keystone

case ${PROCESS:-} in
  analytics-alarm)
    require HOST_IP COLLECTOR_SERVER ZOOKEEPER_SERVER REDIS_SERVER DISCOVERY_SERVER
    f=$etc/contrail-alarm-gen.conf
    ini "$f" DEFAULTS host_ip "$HOST_IP" collectors "$(addr_list COLLECTOR_SERVER 8086 ' ')" \
      zk_list "$(addr_list ZOOKEEPER_SERVER 2181 ' ')"
    ini "$f" REDIS redis_server "$(first REDIS_SERVER)"
    ini "$f" DISCOVERY disc_server_ip "$(first DISCOVERY_SERVER)"
    ;;
  analytics-api)
    require HOST_IP COLLECTOR_SERVER CASSANDRA_SERVER REDIS_SERVER DISCOVERY_SERVER
    f=$etc/contrail-analytics-api.conf
    ini "$f" DEFAULTS hostip "$HOST_IP" collectors "$(addr_list COLLECTOR_SERVER 8086 ' ')" \
      cassandra_server_list "$(cassandra)"
    ini "$f" DISCOVERY disc_server_ip "$(first DISCOVERY_SERVER)"
    ini "$f" REDIS server "$(first REDIS_SERVER)"
    ;;
  analytics-collector | analytics-query)
    require HOST_IP CASSANDRA_SERVER REDIS_SERVER DISCOVERY_SERVER
    f=$etc/contrail-collector.conf
    if [ "$PROCESS" = analytics-query ]; then require COLLECTOR_SERVER; f=$etc/contrail-query-engine.conf; fi
    ini "$f" DEFAULT hostip "$HOST_IP" cassandra_server_list "$(cassandra)"
    if [ "$PROCESS" = analytics-query ]; then ini "$f" DEFAULT collectors "$(addr_list COLLECTOR_SERVER 8086 ' ')"; fi
    ini "$f" DISCOVERY server "$(first DISCOVERY_SERVER)"
    ini "$f" REDIS server "$(first REDIS_SERVER)"
    ;;
  analytics-snmp)
    require ZOOKEEPER_SERVER DISCOVERY_SERVER
    f=$etc/contrail-snmp-collector.conf
    ini "$f" DEFAULTS zookeeper "$(addr_list ZOOKEEPER_SERVER 2181 ' ')"
    ini "$f" DISCOVERY disc_server_ip "$(first DISCOVERY_SERVER)"
    ;;
  analytics-topology)
    require COLLECTOR_SERVER ANALYTICS_API_SERVER ZOOKEEPER_SERVER
    ini "$etc/contrail-topology.conf" DEFAULTS collectors "$(addr_list COLLECTOR_SERVER 8086 ' ')" \
      analytics_api "$(addr_list ANALYTICS_API_SERVER 8081 ' ')" zookeeper "$(addr_list ZOOKEEPER_SERVER 2181 ' ')"
    ;;
  *)
    echo "entrypoint: PROCESS must name an analytics process (got '${PROCESS:-}')" >&2
    exit 64
    ;;
esac
render_keystone
exec "$@"
