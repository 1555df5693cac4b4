#!/bin/bash
# Renders MariaDB's server settings from the environment, initialises an empty data directory once (root password
# from the environment), makes sure each OpenStack service has its database and user, then runs the command.
#   MYSQL_ROOT_PASSWORD  password of root, locally and from other hosts (required, no default)
#   <NAME>_DB_PASSWORD   for each one set (KEYSTONE_DB_PASSWORD, NOVA_DB_PASSWORD, ...): database <name>, user <name>
#                        with that password, from any host; created if missing, password set at every start
#   <NAME>_EXTRA_DATABASES more databases of that user (nova: nova_api nova_cell0, set in the image)
#   HOST_IP              address to listen on (default: all addresses)
set -euo pipefail
ENTRYPOINT=mariadb
# shellcheck source=../base/common.sh
. /usr/local/lib/common.sh
[ -n "${MYSQL_ROOT_PASSWORD:-}" ] || die "MYSQL_ROOT_PASSWORD is not set: the root password has no default; set it in the environment"

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
# SQL string literal: escape backslashes, then single quotes.
sql_string() { local s=${1//\\/\\\\}; printf '%s' "${s//\'/\\\'}"; }

first=""
if [ ! -d "$datadir/mysql" ]; then
  echo "mariadb entrypoint: initialising an empty $datadir"
  mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db >/dev/null
  first=1
fi
# Accounts are set through a server that listens on the socket only, so nothing can connect before they are right.
mariadbd --user=mysql --skip-networking --socket=/run/mysqld/init.sock &
pid=$!
init_server_answers() { mariadb-admin --socket=/run/mysqld/init.sock ping >/dev/null 2>&1; }
wait_until "the set-up server on its socket" 60 1 init_server_answers || die "the set-up server did not start within 60s"
{
  if [ -n "$first" ]; then
    pw=$(sql_string "$MYSQL_ROOT_PASSWORD")
    # root from other hosts too, for operators and bootstrap jobs.
    echo "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('$pw');"
    echo "CREATE USER 'root'@'%' IDENTIFIED BY '$pw';"
    echo "GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;"
  fi
  for var in $(compgen -e | grep -E '^[A-Z][A-Z0-9]*_DB_PASSWORD$' || true); do
    db=${var%_DB_PASSWORD}
    db=${db,,}
    pw=$(sql_string "${!var}")
    echo "CREATE USER IF NOT EXISTS '$db'@'%' IDENTIFIED BY '$pw';"
    echo "ALTER USER '$db'@'%' IDENTIFIED BY '$pw';"
    extra=${var%_DB_PASSWORD}_EXTRA_DATABASES
    for name in "$db" ${!extra:-}; do
      echo "CREATE DATABASE IF NOT EXISTS \`$name\`;"
      echo "GRANT ALL PRIVILEGES ON \`$name\`.* TO '$db'@'%';"
    done
  done
  echo "FLUSH PRIVILEGES;"
} | mariadb --socket=/run/mysqld/init.sock
mariadb-admin --socket=/run/mysqld/init.sock shutdown
wait "$pid" || true
[ -z "$first" ] || echo "mariadb entrypoint: $datadir initialised"
exec "$@"
