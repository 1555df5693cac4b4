#!/bin/bash
# Renders ZooKeeper's zoo.cfg and myid (zoo-cfg), the Kafka broker's server.properties (kafka-properties) and the
# supervisord programs from the environment, then runs the command (supervisord -n).
#   HOST_IP           address ZooKeeper and Kafka listen on (default: all addresses)
#   ZOOKEEPER_SERVER  the ZooKeeper ensemble, comma or space separated (default: HOST_IP, else 127.0.0.1);
#                     with more than one host HOST_IP must be one of them (it gives this node's myid)
#   ADVERTISED_HOST, ADVERTISED_PORT  what Kafka advertises (default: HOST_IP, 9092)
#   ZOOKEEPER_HEAP_MB, KAFKA_HEAP_MB  Java heaps (default 256 each)
# zoo.cfg and server.properties are not INI: they are written whole on every start; the supervisord file is INI
# and goes through ini-set. Either way a restarted container gets exactly the same files.
set -euo pipefail
fail() { echo "zookeeper entrypoint: $*" >&2; exit 64; }
for heap in ZOOKEEPER_HEAP_MB KAFKA_HEAP_MB; do
  case ${!heap:-256} in ''|*[!0-9]*) fail "$heap must be a number of MB (got '${!heap}')" ;; esac
done

data=/var/lib/zookeeper
# Rendered first, so that a wrong ensemble stops the container before anything is written.
zoo_cfg=$(zoo-cfg) || exit
myid=$(zoo-cfg --myid)
properties=$(kafka-properties) || exit
mkdir -p "$data" /var/lib/kafka /etc/kafka /etc/zookeeper/conf
echo "$zoo_cfg" >/etc/zookeeper/conf/zoo.cfg
echo "$properties" >/etc/kafka/server.properties
# The id belongs with the data (the host volume), and the data to the zookeeper user.
echo "$myid" >"$data/myid"
chown -R zookeeper:zookeeper "$data"

sv=/etc/supervisor/conf.d/contrail.conf
ini-set /etc/supervisor/supervisord.conf supervisord user root
prog() { # prog NAME KEY VALUE...: one supervisord program, its output in the container log
  local name=$1; shift
  while [ $# -gt 1 ]; do ini-set "$sv" "program:$name" "$1" "$2"; shift 2; done
  ini-set "$sv" "program:$name" autorestart true
  ini-set "$sv" "program:$name" stopasgroup true
  ini-set "$sv" "program:$name" killasgroup true
  ini-set "$sv" "program:$name" redirect_stderr true
  ini-set "$sv" "program:$name" stdout_logfile /dev/stdout
  ini-set "$sv" "program:$name" stdout_logfile_maxbytes 0
}
prog zookeeper command zookeeper-server user zookeeper priority 10
# kafka-server waits until this node's ZooKeeper serves (is in a quorum), then starts the broker.
prog kafka command kafka-server user kafka priority 20
exec "$@"
