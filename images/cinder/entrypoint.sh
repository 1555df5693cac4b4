#!/bin/bash
# The one entrypoint of every cinder image: renders /etc/cinder/cinder.conf from the environment with ini-set, then
# runs the command. The keys are those of the original cinder image; a restart renders the same file, the database
# URL's password is URL-encoded, and no password has a default (the original shipped rabbit guest/guest).
set -euo pipefail

conf=/etc/cinder/cinder.conf

die() { echo "cinder entrypoint: $*" >&2; exit 1; }
# A password for a block that is being rendered: the first of the named variables that is set, or a clear failure.
password() {
  local v
  for v in "$@"; do [ -n "${!v:-}" ] && { printf '%s' "${!v}"; return; }; done
  die "$(IFS=/; echo "$*") must be set (no password has a default)"
}
# oslo.config expands $name in values: a literal $ in a password must be doubled.
oslo() { printf '%s' "${1//\$/\$\$}"; }
urlencode() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }

# The original set my_ip even when HOST_IP was empty (an empty my_ip); here only when it is set.
if [ -n "${HOST_IP:-}" ]; then ini-set "$conf" DEFAULT my_ip "$HOST_IP"; fi
ini-set "$conf" oslo_concurrency lock_path /var/lock/cinder
if [ -n "${MYSQL_SERVER:-}" ]; then
  pw=$(password CINDER_DB_PASSWORD ADMIN_PASSWORD)
  ini-set "$conf" database connection "mysql+pymysql://cinder:$(urlencode "$pw")@$MYSQL_SERVER/cinder"
fi
if [ -n "${KEYSTONE_SERVER:-}" ]; then
  pw=$(password CINDER_PASSWORD ADMIN_PASSWORD)
  ini-set "$conf" DEFAULT auth_strategy keystone
  ini-set "$conf" keystone_authtoken auth_uri "http://$KEYSTONE_SERVER:5000"
  ini-set "$conf" keystone_authtoken auth_url "http://$KEYSTONE_SERVER:35357"
  ini-set "$conf" keystone_authtoken auth_plugin password
  ini-set "$conf" keystone_authtoken project_domain_id default
  ini-set "$conf" keystone_authtoken user_domain_id default
  ini-set "$conf" keystone_authtoken project_name service
  ini-set "$conf" keystone_authtoken username cinder
  ini-set "$conf" keystone_authtoken password "$(oslo "$pw")"
fi
if [ -n "${RABBIT_SERVER:-}" ]; then
  pw=$(password RABBIT_PASSWORD)
  ini-set "$conf" DEFAULT rpc_backend rabbit
  ini-set "$conf" oslo_messaging_rabbit rabbit_host "$RABBIT_SERVER"
  if [ -n "${RABBIT_USER:-}" ]; then ini-set "$conf" oslo_messaging_rabbit rabbit_userid "$RABBIT_USER"; fi
  ini-set "$conf" oslo_messaging_rabbit rabbit_password "$(oslo "$pw")"
fi

exec "$@"
