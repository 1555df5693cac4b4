#!/bin/bash
# The glance family's entrypoint: renders /etc/glance/glance-$GLANCE_SERVICE.conf (api or registry, set by each
# image) from the environment with ini-set, then runs the command. The keys are those of the original glance
# images; a restart renders the same file, the database URL names the PyMySQL driver with its password URL-encoded,
# and no password has a default.
set -euo pipefail

conf=/etc/glance/glance-${GLANCE_SERVICE:?GLANCE_SERVICE (api or registry) is set by the image}.conf

ENTRYPOINT=glance
# shellcheck source=../base/openstack-common.sh
source /usr/local/lib/openstack-common.sh

ini-set "$conf" DEFAULT notification_driver noop
if [ -n "${MYSQL_SERVER:-}" ]; then
  database "$conf" glance GLANCE_DB_PASSWORD ADMIN_PASSWORD
fi
if [ -n "${KEYSTONE_SERVER:-}" ]; then
  keystone_authtoken "$conf" glance GLANCE_PASSWORD ADMIN_PASSWORD
  ini-set "$conf" paste_deploy flavor keystone
fi

# glance-api brings its database schema up to date (idempotent) and registers in Keystone's catalog before it serves:
# without the schema every image request fails, without the catalog entry no client finds the image API.
if [ "${1:-}" = glance-api ]; then
  if [ -n "${MYSQL_SERVER:-}" ]; then glance-manage --config-file "$conf" db_sync; fi
  if [ -n "${KEYSTONE_SERVER:-}" ]; then register_in_keystone glance glance image "http://$HOST_IP:9292"; fi
fi

exec "$@"
