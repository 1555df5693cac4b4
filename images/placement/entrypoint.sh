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

placement-manage db sync

# Keystone's catalog: the service user, the placement service and its endpoints, each made only when missing.
register_in_keystone placement placement placement "http://$HOST_IP:8778"

# uwsgi's settings (uwsgi_ini: one request per connection, said in each response, as for keystone).
uwsgi_ini /etc/placement/contrail-uwsgi.ini /usr/bin/placement-api placement "$workers" 2 "$HOST_IP:8778"
exec "$@"
