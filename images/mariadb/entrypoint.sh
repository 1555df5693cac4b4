#!/bin/bash
# Renders MariaDB's server settings from the environment, initialises an empty data directory once (root password
# from the environment), then runs the command.
#   MYSQL_ROOT_PASSWORD  password of root, locally and from other hosts (required, no default)
#   HOST_IP              address to listen on (default: all addresses)
set -eu
fail() { echo "mariadb entrypoint: $*" >&2; exit 1; }
[ -n "${MYSQL_ROOT_PASSWORD:-}" ] || fail "MYSQL_ROOT_PASSWORD is not set: the root password has no default; set it in the environment"

cnf=/etc/mysql/mariadb.conf.d/60-contrail.cnf
ini-set "$cnf" mysqld bind-address "${HOST_IP:-0.0.0.0}"
ini-set "$cnf" mysqld port 3306
ini-set "$cnf" mysqld datadir /var/lib/mysql
# OpenStack services connect by address; reverse lookups of lab addresses would only slow each connection down.
ini-set "$cnf" mysqld skip-name-resolve 1
ini-set "$cnf" mysqld max_connections 1000

datadir=/var/lib/mysql
mkdir -p "$datadir" /run/mysqld
chown mysql:mysql "$datadir" /run/mysqld
if [ ! -d "$datadir/mysql" ]; then
  # First start on this volume: create the system tables, then set root's password through a server that listens
  # on the socket only, so nothing can connect before root has a password.
  echo "mariadb entrypoint: initialising an empty $datadir"
  mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db >/dev/null
  mariadbd --user=mysql --skip-networking --socket=/run/mysqld/init.sock &
  pid=$!
  for _ in $(seq 1 60); do mariadb-admin --socket=/run/mysqld/init.sock ping >/dev/null 2>&1 && break; sleep 1; done
  # SQL string literal: escape backslashes, then single quotes.
  pw=${MYSQL_ROOT_PASSWORD//\\/\\\\}
  pw=${pw//\'/\\\'}
  # root from other hosts too: the bootstrap step creates each OpenStack service's database over the network.
  mariadb --socket=/run/mysqld/init.sock <<SQL
ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('$pw');
CREATE USER 'root'@'%' IDENTIFIED BY '$pw';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
  mariadb-admin --socket=/run/mysqld/init.sock shutdown
  wait "$pid" || true
  echo "mariadb entrypoint: $datadir initialised"
fi
exec "$@"
