#!/bin/bash
# Renders /etc/placement/placement.conf (with ini-set) and the uwsgi settings from the environment, brings the
# placement database up to date, registers Placement in Keystone's catalog, then runs the command (uwsgi on 8778).
#   MYSQL_SERVER            database host (required)
#   PLACEMENT_DB_PASSWORD   password of the database user "placement" (MariaDB's entrypoint makes it)
#   KEYSTONE_SERVER         Keystone (required): tokens are checked there, and the catalog gets Placement's endpoint
#   ADMIN_PASSWORD          Keystone's admin (ADMIN_USER, ADMIN_TENANT; default admin, admin), for the registration
#   PLACEMENT_PASSWORD      password of Keystone user "placement" (default: ADMIN_PASSWORD)
#   HOST_IP                 address to listen on and to register (required)
#   REGION                  Keystone region (default RegionOne)
#   PLACEMENT_WORKERS       uwsgi processes (default 2)
set -euo pipefail
ENTRYPOINT=placement
# shellcheck source=../base/openstack-common.sh
source /usr/local/lib/openstack-common.sh
conf=/etc/placement/placement.conf
# A question to the binary (placement-manage --version) needs no database, Keystone or registration.
case " $* " in *" --version "* | *" --help "* | *" -h "*) exec "$@" ;; esac
[ -n "${HOST_IP:-}" ] || die "HOST_IP must be set: Placement listens on it and registers it in Keystone's catalog"
[ -n "${MYSQL_SERVER:-}" ] || die "MYSQL_SERVER must be set: Placement keeps its inventory in MariaDB"
[ -n "${KEYSTONE_SERVER:-}" ] || die "KEYSTONE_SERVER must be set: Placement checks tokens there and registers in its catalog"
workers=${PLACEMENT_WORKERS:-2}
case $workers in ''|*[!0-9]*) die "PLACEMENT_WORKERS must be a number (got '$workers')" ;; esac

ini-set "$conf" DEFAULT use_stderr true
ini-set "$conf" DEFAULT log_dir ""
ini-set "$conf" DEFAULT log_file ""
ini-set "$conf" placement_database connection "mysql+pymysql://placement:$(urlencode "$(password PLACEMENT_DB_PASSWORD ADMIN_PASSWORD)")@$MYSQL_SERVER/placement"
ini-set "$conf" api auth_strategy keystone
keystone_authtoken "$conf" placement PLACEMENT_PASSWORD ADMIN_PASSWORD
# Debian's file says regionOne; the region Keystone's bootstrap made (and the registration below uses) is REGION.
ini-set "$conf" keystone_authtoken region_name "${REGION:-RegionOne}"

placement-manage db sync

# Keystone's catalog: the service user, the placement service and its endpoints, each made only when missing.
PLACEMENT_URL="http://$HOST_IP:8778" python3 /usr/local/lib/placement-register.py

# One request per connection, said in each response, as the keystone image does (see there).
cat >/etc/placement/contrail-uwsgi.ini <<CONF
# Written by /entrypoint.sh from the environment; edits here are lost on restart.
[uwsgi]
plugins = python3
master = true
http-socket = $HOST_IP:8778
add-header = Connection: close
wsgi-file = /usr/bin/placement-api
need-app = true
lazy-apps = true
die-on-term = true
enable-threads = true
processes = $workers
threads = 2
# nova-compute asks for its traits in one query string of several kB (uwsgi's default buffer is 4 kB).
buffer-size = 65535
uid = placement
gid = placement
CONF
exec "$@"
