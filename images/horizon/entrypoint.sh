#!/bin/bash
# horizon's entrypoint: points the dashboard at Keystone and at the names it is reached by, in
# /etc/openstack-dashboard/local_settings.py (Python, so each setting's line is replaced whole: a restart renders
# the same file), then runs the command.
set -euo pipefail

settings=/etc/openstack-dashboard/local_settings.py

# set_py NAME VALUE: the line "NAME = VALUE" replaces the line that assigns NAME.
set_py() {
  grep -q "^$1 = " "$settings" || { echo "horizon entrypoint: no '$1 = ' line in $settings" >&2; exit 1; }
  NAME=$1 VALUE=$2 awk 'index($0, ENVIRON["NAME"] " = ") == 1 { print ENVIRON["NAME"] " = " ENVIRON["VALUE"]; next } { print }' \
    "$settings" >"$settings.new"
  cat "$settings.new" >"$settings" && rm -f "$settings.new"
}

if [ -n "${KEYSTONE_SERVER:-}" ]; then
  set_py OPENSTACK_HOST "\"$KEYSTONE_SERVER\""
  # Keystone's own port (the lab's Keystone is not behind Apache's /identity, which Debian's default assumes).
  set_py OPENSTACK_KEYSTONE_URL '"http://%s:5000/v3" % OPENSTACK_HOST'
fi
# The package wrote the build machine's host name here: a container answers to this host's address instead.
# shellcheck disable=SC2016 # the single quotes are Python's, inside a double-quoted shell string that does expand
set_py ALLOWED_HOSTS "[ 'localhost', '127.0.0.1'${HOST_IP:+, '$HOST_IP'} ]"

exec "$@"
