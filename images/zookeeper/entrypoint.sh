#!/bin/bash
# Renders ZooKeeper's zoo.cfg and myid, the (stand-in) Kafka broker's server.properties and the supervisord
# programs from the environment, then runs the command (supervisord -n).
#   HOST_IP           address ZooKeeper and Kafka listen on (default: all addresses)
#   ZOOKEEPER_SERVER  the ZooKeeper ensemble, comma or space separated (default: HOST_IP, else 127.0.0.1);
#                     with more than one host HOST_IP must be one of them (it gives this node's myid)
#   ADVERTISED_HOST, ADVERTISED_PORT  what Kafka advertises (default: HOST_IP, 9092)
#   ZOOKEEPER_HEAP_MB Java heap of ZooKeeper (default 256)
# zoo.cfg and server.properties are not INI: they are written whole on every start; the supervisord file is INI
# and goes through ini-set. Either way a restarted container gets exactly the same files.
set -eu
fail() { echo "zookeeper entrypoint: $*" >&2; exit 1; }
host=${HOST_IP:-}
export ZOOKEEPER_SERVER=${ZOOKEEPER_SERVER:-${host:-127.0.0.1}}
mapfile -t ensemble < <(echo "$ZOOKEEPER_SERVER" | tr ', ' '\n\n' | awk 'NF && !seen[$0]++')
heap=${ZOOKEEPER_HEAP_MB:-256}
case $heap in ''|*[!0-9]*) fail "ZOOKEEPER_HEAP_MB must be a number of MB (got '$heap')" ;; esac

myid=1
if [ ${#ensemble[@]} -gt 1 ]; then
  [ -n "$host" ] || fail "ZOOKEEPER_SERVER lists ${#ensemble[@]} hosts: set HOST_IP to this node's address among them"
  myid=0
  for i in "${!ensemble[@]}"; do [ "${ensemble[$i]}" = "$host" ] && myid=$((i + 1)); done
  [ $myid -gt 0 ] || fail "HOST_IP $host is not among ZOOKEEPER_SERVER ($ZOOKEEPER_SERVER)"
fi

data=/var/lib/zookeeper
mkdir -p "$data" /var/lib/kafka /etc/kafka
# The package links myid to /etc; on a host volume the link is absent, and the id belongs with the data anyway.
rm -f "$data/myid"
echo "$myid" >"$data/myid"
chown -R zookeeper:zookeeper "$data"

{
  echo "# Written by /entrypoint.sh from the environment; edits here are lost on restart."
  echo "tickTime=2000"
  echo "initLimit=10"
  echo "syncLimit=5"
  echo "dataDir=$data"
  echo "clientPort=2181"
  [ -z "$host" ] || echo "clientPortAddress=$host"
  # Read-only diagnostics, for health checks and operators.
  echo "4lw.commands.whitelist=ruok,srvr,stat,mntr"
  # The embedded admin web server would take port 8080, the Contrail web UI's port, on a host-network node.
  echo "admin.enableServer=false"
  echo "autopurge.snapRetainCount=3"
  echo "autopurge.purgeInterval=24"
  if [ ${#ensemble[@]} -gt 1 ]; then
    for i in "${!ensemble[@]}"; do echo "server.$((i + 1))=${ensemble[$i]}:2888:3888"; done
  fi
} >/etc/zookeeper/conf/zoo.cfg

zk_connect=$(printf '%s:2181\n' "${ensemble[@]}" | paste -sd,)
cat >/etc/kafka/server.properties <<CONF
# Written by /entrypoint.sh from the environment; edits here are lost on restart.
# The Kafka here is a stand-in (Kafka is not in Debian); this is the file a real broker would read.
broker.id=$myid
listeners=PLAINTEXT://${host:-0.0.0.0}:9092
advertised.listeners=PLAINTEXT://${ADVERTISED_HOST:-${host:-127.0.0.1}}:${ADVERTISED_PORT:-9092}
zookeeper.connect=$zk_connect
log.dirs=/var/lib/kafka
CONF

sv=/etc/supervisor/conf.d/contrail.conf
ini-set /etc/supervisor/supervisord.conf supervisord user root
prog() { # prog NAME KEY VALUE...: one supervisord program, its output in the container log
  local name=$1; shift
  while [ $# -gt 1 ]; do ini-set "$sv" "program:$name" "$1" "$2"; shift 2; done
  ini-set "$sv" "program:$name" autorestart true
  # The stand-in's listeners are its children: stopping a program must stop them too, or the port stays open.
  ini-set "$sv" "program:$name" stopasgroup true
  ini-set "$sv" "program:$name" killasgroup true
  ini-set "$sv" "program:$name" redirect_stderr true
  ini-set "$sv" "program:$name" stdout_logfile /dev/stdout
  ini-set "$sv" "program:$name" stdout_logfile_maxbytes 0
}
prog zookeeper command "/usr/share/zookeeper/bin/zkServer.sh start-foreground" user zookeeper priority 10 \
  environment "SERVER_JVMFLAGS=\"-Xmx${heap}m -Dzookeeper.root.logger=INFO,CONSOLE\",JMXDISABLE=\"true\""
# Kafka is a STAND-IN: it answers on 9092 only once ZooKeeper answers, as a real broker would need it to.
prog kafka command "standin kafka" priority 20 \
  environment "STANDIN_PORTS=\"9092\",STANDIN_NEEDS=\"ZOOKEEPER_SERVER:2181\""
exec "$@"
