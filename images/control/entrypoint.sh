#!/bin/bash
# Entrypoint of the control-* images: renders the configuration of the one process named by PROCESS (set in each
# sub's Dockerfile) from the environment with ini-set, so a restart renders the same files; then runs the command.
set -euo pipefail
# shellcheck source=../base/contrail-common.sh
. /usr/local/lib/contrail-common.sh
require_keystone

case ${PROCESS:-} in
  control-control | control-dns)
    require HOST_IP DISCOVERY_SERVER IFMAP_PASSWORD
    # IF-MAP login: the control node is IFMAP_USER (default HOST_IP, as the ifmap image registers control nodes) and
    # its DNS "<user>.dns", both with IFMAP_PASSWORD (the original used the user name as the password).
    user=${IFMAP_USER:-$HOST_IP}
    f=/etc/contrail/contrail-control.conf
    # contrail-dns.conf is edited in place like the others (the original recreated it on every start, under
    # [DEFAULTS], a section contrail-dns does not read).
    if [ "$PROCESS" = control-dns ]; then f=/etc/contrail/dns/contrail-dns.conf user=$user.dns; fi
    ini "$f" DEFAULT hostip "$HOST_IP"
    ini "$f" DISCOVERY server "$(first DISCOVERY_SERVER)"
    ini "$f" IFMAP user "$user" password "$IFMAP_PASSWORD"
    ;;
  control-named) ;; # contrail-named.conf is static: contrail-dns drives named over rndc
  *)
    echo "entrypoint: PROCESS must name a control process (got '${PROCESS:-}')" >&2
    exit 64
    ;;
esac
render_keystone
exec "$@"
