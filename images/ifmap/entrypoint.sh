#!/bin/bash
# Entrypoint of the ifmap image: writes the IF-MAP server's users from the environment, then runs the command.
# The whole file is written at every start, so a restart gives the same file (the original appended the control
# nodes again on each start) and none of the package's demo users with well-known passwords survives.
# Users: the config processes (api-server, schema-transformer, svc-monitor) and, for each CONTROL_SERVER host, the
# control node (<ip>) and its DNS (<ip>.dns), all with IFMAP_PASSWORD (the original used each user name as password).
set -euo pipefail
# shellcheck source=../base/contrail-common.sh
. /usr/local/lib/contrail-common.sh
require CONTROL_SERVER IFMAP_PASSWORD
case $IFMAP_PASSWORD in
  *[[:space:]:=\\]*)
    echo "entrypoint ifmap: IFMAP_PASSWORD may not hold spaces, ':', '=' or backslashes (properties file syntax)" >&2
    exit 64
    ;;
esac
users=/etc/ifmap-server/basicauthusers.properties
IFS=', ' read -ra controls <<<"$CONTROL_SERVER"
{
  echo "# Written by /entrypoint.sh at every start; edits here are lost."
  for user in api-server schema-transformer svc-monitor; do echo "$user:$IFMAP_PASSWORD"; done
  for h in "${controls[@]}"; do
    if [ -n "$h" ]; then printf '%s:%s\n%s.dns:%s\n' "$h" "$IFMAP_PASSWORD" "$h" "$IFMAP_PASSWORD"; fi
  done
} | awk '!seen[$0]++' >"$users.new"
chmod 0600 "$users.new"
mv "$users.new" "$users"
exec "$@"
