#!/bin/bash
# The one entrypoint of every cinder image: renders /etc/cinder/cinder.conf from the environment with ini-set, then
# runs the command. The keys are those of the original cinder image; a restart renders the same file, the database
# URL's password is URL-encoded, and no password has a default (the original shipped rabbit guest/guest).
set -euo pipefail

conf=/etc/cinder/cinder.conf

ENTRYPOINT=cinder
# shellcheck source=../base/openstack-common.sh
source /usr/local/lib/openstack-common.sh

# The original set my_ip even when HOST_IP was empty (an empty my_ip); here only when it is set.
if [ -n "${HOST_IP:-}" ]; then ini-set "$conf" DEFAULT my_ip "$HOST_IP"; fi
ini-set "$conf" oslo_concurrency lock_path /var/lock/cinder
if [ -n "${MYSQL_SERVER:-}" ]; then
  database "$conf" cinder CINDER_DB_PASSWORD ADMIN_PASSWORD
fi
if [ -n "${KEYSTONE_SERVER:-}" ]; then
  ini-set "$conf" DEFAULT auth_strategy keystone
  keystone_authtoken "$conf" cinder CINDER_PASSWORD ADMIN_PASSWORD
fi
if [ -n "${RABBIT_SERVER:-}" ]; then
  rabbit "$conf"
fi

# The API brings the database schema up to date before it serves (idempotent; the scheduler does not race it).
if [ "${1:-}" = cinder-api ] && [ -n "${MYSQL_SERVER:-}" ]; then
  cinder-manage --config-file "$conf" db sync
fi
# The API's own user checks its users' tokens; the clients find the block storage API (v3) in the catalog.
if [ "${1:-}" = cinder-api ] && [ -n "${KEYSTONE_SERVER:-}" ]; then
  register_in_keystone cinder cinderv3 volumev3 "http://$HOST_IP:8776/v3/%(project_id)s"
fi

exec "$@"
