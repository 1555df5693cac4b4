#!/bin/bash
# Renders /etc/cassandra/cassandra.yaml from the environment, then runs the command (the stand-in here).
#   HOST_IP           listen and RPC address (default: the first address of this host name, else 127.0.0.1)
#   CASSANDRA_SERVER  seed nodes, comma or space separated (default: HOST_IP)
#   CASSANDRA_CLUSTER cluster name (default "Contrail")
# YAML is not INI: the whole file is written on every start, so a restarted container gets exactly the same file.
set -eu
host=${HOST_IP:-$(hostname -i 2>/dev/null | awk '{print $1}')}
host=${host:-127.0.0.1}
seeds=$(echo "${CASSANDRA_SERVER:-$host}" | tr ', ' '\n\n' | awk 'NF && !seen[$0]++' | paste -sd,)
cat >/etc/cassandra/cassandra.yaml <<CONF
# Written by /entrypoint.sh from the environment; edits here are lost on restart.
cluster_name: '${CASSANDRA_CLUSTER:-Contrail}'
num_tokens: 256
data_file_directories:
  - /var/lib/cassandra/data
commitlog_directory: /var/lib/cassandra/commitlog
saved_caches_directory: /var/lib/cassandra/saved_caches
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "$seeds"
listen_address: $host
rpc_address: $host
# Contrail 3.0 talks Thrift (9160): the RPC server must run.
start_rpc: true
rpc_port: 9160
start_native_transport: true
native_transport_port: 9042
endpoint_snitch: SimpleSnitch
CONF
exec "$@"
