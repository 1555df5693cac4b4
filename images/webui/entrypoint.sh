#!/bin/bash
# Entrypoint of the webui-* images (job and server read the same files): points /etc/contrail/config.global.js at the
# services from the environment, editing each setting's line in place so a restart renders the same file; then runs
# the command.
set -euo pipefail
# shellcheck source=../base/contrail-common.sh
. /usr/local/lib/contrail-common.sh
js=/etc/contrail/config.global.js

# js_set KEY VALUE: make the line "KEY = VALUE;" (VALUE is JavaScript), replacing the line that sets KEY, or adding
# one before module.exports. The original replaced every '127.0.0.1' by sed, so a second start found nothing to replace.
js_set() {
  KEY=$1 VALUE=$2 awk '
    { k = $0; sub(/^[ \t]+/, "", k); sub(/[ \t]*=.*$/, "", k) }
    !done && k == ENVIRON["KEY"] && index($0, "=") { print ENVIRON["KEY"] " = " ENVIRON["VALUE"] ";"; done = 1; next }
    !done && /^module\.exports/ { print ENVIRON["KEY"] " = " ENVIRON["VALUE"] ";"; done = 1 }
    { print }
    END { if (!done) print ENVIRON["KEY"] " = " ENVIRON["VALUE"] ";" }
  ' "$js" >"$js.new"
  cat "$js.new" >"$js" && rm -f "$js.new"
}
str() { printf "'%s'" "$(first "$1")"; } # one address (addresses hold no quotes)

case ${PROCESS:-} in
  webui-job | webui-server) ;;
  *) echo "entrypoint: PROCESS must be webui-job or webui-server (got '${PROCESS:-}')" >&2; exit 64 ;;
esac
require CONFIG_API_SERVER ANALYTICS_API_SERVER REDIS_SERVER CASSANDRA_SERVER
render_vnc_api_lib
js_set config.cnfg.server_ip "$(str CONFIG_API_SERVER)"
js_set config.analytics.server_ip "$(str ANALYTICS_API_SERVER)"
js_set config.redis_server_ip "$(str REDIS_SERVER)"
# Cassandra hosts as a JavaScript array (the original wrote several hosts as one string).
js_set config.cassandra.server_ips "['$(addr_list CASSANDRA_SERVER '' "', '")']"
# OpenStack endpoints and the job server: set when given (a Contrail-only web UI runs without them).
for setting in config.networkManager.ip=NEUTRON_SERVER config.imageManager.ip=GLANCE_SERVER \
  config.computeManager.ip=NOVA_SERVER config.identityManager.ip=KEYSTONE_SERVER \
  config.storageManager.ip=CINDER_SERVER config.jobServer.server_ip=WEBUI_JOB_SERVER; do
  var=${setting#*=}
  if [ -n "${!var:-}" ]; then js_set "${setting%%=*}" "$(str "$var")"; fi
done
exec "$@"
