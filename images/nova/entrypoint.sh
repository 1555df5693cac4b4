#!/bin/bash
# The one entrypoint of every nova image: renders /etc/nova/nova.conf (and, where nova-compute is installed,
# /etc/nova/nova-compute.conf) from the environment with ini-set, then runs the command. The keys are those of the
# 2015 entrypoint; what it got wrong is fixed: every key is set in place (a restart renders the same file, where the
# original appended a line per start), my_ip is set once, the database URL names the PyMySQL driver and its password
# is URL-encoded, and no password has a default (the original shipped rabbit_password = guest).
set -euo pipefail

conf=/etc/nova/nova.conf
compute_conf=/etc/nova/nova-compute.conf

ENTRYPOINT=nova
# shellcheck source=../base/openstack-common.sh
source /usr/local/lib/openstack-common.sh
set_nova() { ini-set "$conf" "$@"; }

if [ -n "${HOST_IP:-}" ]; then
  set_nova DEFAULT my_ip "$HOST_IP"
fi
# The 2015 keys ([DEFAULT] vncserver_*) are gone from today's nova: [vnc] is what it reads.
if [ -n "${VNC_PROXY:-}" ]; then
  set_nova vnc server_listen "$VNC_PROXY"
  set_nova vnc server_proxyclient_address "$VNC_PROXY"
fi
if [ -n "${KEYSTONE_SERVER:-}" ]; then
  set_nova DEFAULT auth_strategy keystone
  keystone_authtoken "$conf" nova NOVA_PASSWORD ADMIN_PASSWORD
fi
if [ -n "${NEUTRON_SERVER:-}" ]; then
  # Contrail's network API (nova_contrail_vif) is not packaged for this nova: the key keeps the intent, nova ignores it.
  set_nova DEFAULT network_api_class nova_contrail_vif.contrailvif.ContrailNetworkAPI
  set_nova neutron endpoint_override "http://$NEUTRON_SERVER:9696"
  # As neutron's own user (today's keys: the 2015 admin_* keys and Keystone v2.0 are gone).
  if [ -n "${KEYSTONE_SERVER:-}" ]; then
    pw=$(password NEUTRON_PASSWORD ADMIN_PASSWORD)
    keystone_auth "$conf" neutron neutron "$pw"
  fi
fi
if [ -n "${RABBIT_SERVER:-}" ]; then
  rabbit "$conf"
fi
if [ -n "${MYSQL_SERVER:-}" ]; then
  database "$conf" nova NOVA_DB_PASSWORD ADMIN_PASSWORD
  # Nova since Newton also keeps an API database (cells v2); the same user owns it (MariaDB's entrypoint makes it).
  nova_db_url() { echo "mysql+pymysql://nova:$(urlencode "$(password NOVA_DB_PASSWORD ADMIN_PASSWORD)")@$MYSQL_SERVER/$1"; }
  set_nova api_database connection "$(nova_db_url nova_api)"
fi
# New compute hosts get their cell's host mapping from nova-scheduler's periodic discovery (seconds; -1 turns it off:
# then run "nova-manage cell_v2 discover_hosts" after adding hosts). Without a mapping a compute host registers its
# service and resources, but the API skips it ("hypervisor list" is empty) and no instance is scheduled onto it.
discover=${DISCOVER_HOSTS_INTERVAL:-30}
[[ $discover =~ ^(-1|[0-9]+)$ ]] || die "DISCOVER_HOSTS_INTERVAL must be a number of seconds, or -1 for off (got '$discover')"
set_nova scheduler discover_hosts_in_cells_interval "$discover"
# Today's nova finds Glance in Keystone's catalog; the 2015 key ([glance] host) is gone, endpoint_override pins it.
if [ -n "${GLANCE_SERVER:-}" ]; then
  set_nova glance endpoint_override "http://$GLANCE_SERVER:9292"
fi
# Placement (split out of nova after 2015): found in Keystone's catalog, reached as Keystone's admin.
if [ -n "${PLACEMENT_SERVER:-}" ] && [ -n "${KEYSTONE_SERVER:-}" ]; then
  set_nova placement auth_type password
  set_nova placement auth_url "http://$KEYSTONE_SERVER:5000/v3"
  set_nova placement username "${ADMIN_USER:-admin}"
  set_nova placement password "$(oslo "$(password ADMIN_PASSWORD)")"
  set_nova placement project_name "${ADMIN_TENANT:-admin}"
  # Debian's file names the domain "default"; Keystone's is "Default" (its id is "default").
  set_nova placement user_domain_name Default
  set_nova placement project_domain_name Default
  set_nova placement region_name "${REGION:-RegionOne}"
  set_nova placement valid_interfaces internal
fi
set_nova oslo_concurrency lock_path /var/lib/nova/tmp

# nova-compute only (where its binary is installed): libvirt over TCP to the libvirt container on this host.
if command -v nova-compute >/dev/null; then
  [ -n "${HOST_IP:-}" ] || die "HOST_IP must be set for nova-compute (libvirt is reached on qemu+tcp://HOST_IP/system)"
  ini-set "$compute_conf" DEFAULT compute_driver libvirt.LibvirtDriver
  # Contrail's VIF driver is not packaged here either: kept as the original had it, unused by this nova.
  ini-set "$compute_conf" libvirt vif_driver nova_contrail_vif.contrailvif.VRouterVIFDriver
  # kvm as in the original; VIRT_TYPE=qemu where the host has no /dev/kvm.
  ini-set "$compute_conf" libvirt virt_type "${VIRT_TYPE:-kvm}"
  ini-set "$compute_conf" libvirt connection_uri "qemu+tcp://$HOST_IP/system"
  # %s is the destination host (nova fills it in); the original pointed live migration at this host itself.
  ini-set "$compute_conf" libvirt live_migration_uri "qemu+tcp://%s/system"
fi

# Services that exit when something they need is not there yet wait for it instead of crash-looping: every NOVA_WAIT
# seconds (default 5), for NOVA_BOOTSTRAP_WAIT seconds at most (default 600).
wait_for() { # WHAT CHECK...: the check's own complaints while it waits are not news
  local what=$1
  shift
  wait_until "$what" "${NOVA_BOOTSTRAP_WAIT:-600}" "${NOVA_WAIT:-5}" silently "$@" ||
    die "$what: still not there after ${NOVA_BOOTSTRAP_WAIT:-600}s"
}
silently() { "$@" 2>/dev/null; }
cell1_mapped() { nova-manage cell_v2 list_cells | grep -q ' cell1 '; }
# Waiting is for starting a service, not for asking its binary something (`nova-compute --version`).
serving() { case " $* " in *" --version "* | *" --help "* | *" -h "*) return 1 ;; esac; }

# A question to the binary (--version) needs neither the bootstrap nor the waits below.
serving "$@" || exec "$@"

# Cells v2 bootstrap, which the 2015 nova (Liberty) did not have: nova-api brings the API database, cell0 and the
# main database up to date and maps cell1 before it serves; every step is idempotent, so a restart repeats it safely.
# cell1 is mapped last, so "cell1 is listed" means the whole bootstrap is done.
if [ "${1:-}" = nova-api ] && [ -n "${MYSQL_SERVER:-}" ]; then
  nova-manage api_db sync
  nova-manage cell_v2 map_cell0 --database_connection "$(nova_db_url nova_cell0)"
  nova-manage db sync
  cell1_mapped || nova-manage cell_v2 create_cell --name cell1
fi
# nova-api's own user checks its users' tokens; the clients find the compute API in the catalog.
if [ "${1:-}" = nova-api ] && [ -n "${KEYSTONE_SERVER:-}" ]; then
  register_in_keystone nova nova compute "http://$HOST_IP:8774/v2.1"
fi
# conductor and scheduler read the cells tables at start: nova-api's bootstrap (same stage) must be done.
case "${1:-}" in nova-conductor | nova-scheduler)
  [ -z "${MYSQL_SERVER:-}" ] || wait_for "nova-api to bootstrap the databases on $MYSQL_SERVER (cell1 mapped)" cell1_mapped ;;
esac
# scheduler and compute need Placement (it registers in Keystone's catalog before it listens).
case "${1:-}" in nova-scheduler | nova-compute)
  [ -z "${PLACEMENT_SERVER:-}" ] || wait_for "Placement on ${PLACEMENT_SERVER%%,*}:8778" port_open "${PLACEMENT_SERVER%%,*}" 8778 ;;
esac
# nova-compute needs the libvirt container on its host (same stage).
[ "${1:-}" != nova-compute ] || wait_for "libvirt on $HOST_IP:16509" port_open "$HOST_IP" 16509

exec "$@"
