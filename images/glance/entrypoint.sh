#!/bin/bash
# The glance family's entrypoint: renders /etc/glance/glance-$GLANCE_SERVICE.conf (api or registry, set by each
# image) from the environment with ini-set, then runs the command. The keys are those of the original glance
# images; a restart renders the same file, the database URL names the PyMySQL driver with its password URL-encoded,
# and no password has a default.
set -euo pipefail

conf=/etc/glance/glance-${GLANCE_SERVICE:?GLANCE_SERVICE (api or registry) is set by the image}.conf

die() { echo "glance entrypoint: $*" >&2; exit 1; }
# A password for a block that is being rendered: the first of the named variables that is set, or a clear failure.
password() {
  local v
  for v in "$@"; do [ -n "${!v:-}" ] && { printf '%s' "${!v}"; return; }; done
  die "$(IFS=/; echo "$*") must be set (no password has a default)"
}
# oslo.config expands $name in values: a literal $ in a password must be doubled.
oslo() { printf '%s' "${1//\$/\$\$}"; }
urlencode() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }

ini-set "$conf" DEFAULT notification_driver noop
if [ -n "${MYSQL_SERVER:-}" ]; then
  pw=$(password GLANCE_DB_PASSWORD ADMIN_PASSWORD)
  ini-set "$conf" database connection "mysql+pymysql://glance:$(urlencode "$pw")@$MYSQL_SERVER/glance"
fi
if [ -n "${KEYSTONE_SERVER:-}" ]; then
  pw=$(password GLANCE_PASSWORD ADMIN_PASSWORD)
  ini-set "$conf" keystone_authtoken auth_uri "http://$KEYSTONE_SERVER:5000"
  ini-set "$conf" keystone_authtoken auth_url "http://$KEYSTONE_SERVER:35357"
  ini-set "$conf" keystone_authtoken auth_plugin password
  ini-set "$conf" keystone_authtoken project_domain_id default
  ini-set "$conf" keystone_authtoken user_domain_id default
  ini-set "$conf" keystone_authtoken project_name service
  ini-set "$conf" keystone_authtoken username glance
  ini-set "$conf" keystone_authtoken password "$(oslo "$pw")"
  ini-set "$conf" paste_deploy flavor keystone
fi

exec "$@"
