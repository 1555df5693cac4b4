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

exec "$@"
