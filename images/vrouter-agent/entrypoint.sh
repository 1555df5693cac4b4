#!/bin/bash
# Entrypoint of the vrouter-agent image: renders contrail-vrouter-agent.conf from the environment with ini-set, so a
# restart renders the same file; then runs the command.
# Stand-in only: it does NOT load the vrouter kernel module nor create vhost0 or move HOST_IP onto it. The original
# did both unguarded (failing on every restart); on these machines there is no vrouter.ko, and a stand-in must not
# take the host's address away.
set -euo pipefail
# shellcheck source=../base/contrail-common.sh
. /usr/local/lib/contrail-common.sh
require HOST_IP CIDR GATEWAY_IP PHYSICAL_INTERFACE CONTROL_SERVER DISCOVERY_SERVER ANALYTICS_SERVER
f=/etc/contrail/contrail-vrouter-agent.conf
ini "$f" CONTROL-NODE server "$(addr_list CONTROL_SERVER '' ' ')"
ini "$f" DEFAULT collectors "$(addr_list ANALYTICS_SERVER 8086 ' ')"
ini "$f" DISCOVERY server "$(first DISCOVERY_SERVER)"
# Without CONTRAIL_DNS_SERVER the agent takes its DNS servers from discovery.
if [ -n "${CONTRAIL_DNS_SERVER:-}" ]; then ini "$f" DNS server "$(addr_list CONTRAIL_DNS_SERVER '' ' ')"; fi
ini "$f" NETWORKS control_network_ip "$HOST_IP"
ini "$f" VIRTUAL-HOST-INTERFACE name vhost0 ip "$HOST_IP/$CIDR" gateway "$GATEWAY_IP" \
  physical_interface "$PHYSICAL_INTERFACE" compute_node_address "$HOST_IP"
exec "$@"
