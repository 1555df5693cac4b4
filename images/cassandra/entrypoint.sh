#!/bin/bash
# Renders /etc/cassandra/cassandra.yaml from the environment (cassandra-yaml says which variables), gives the data
# directory (the host volume) to the cassandra user, then runs the command (cassandra-server).
# YAML is not INI: the whole file is written on every start, so a restarted container gets exactly the same file.
set -euo pipefail
cassandra-yaml >/etc/cassandra/cassandra.yaml.new
mv /etc/cassandra/cassandra.yaml.new /etc/cassandra/cassandra.yaml
# The host directory comes from preparation (root, 0750): Cassandra keeps everything under it, as its own user.
chown cassandra:cassandra /var/lib/cassandra/data
exec "$@"
