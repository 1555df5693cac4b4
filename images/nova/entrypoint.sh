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
if [ -n "${VNC_PROXY:-}" ]; then
  set_nova DEFAULT vncserver_listen "$VNC_PROXY"
  set_nova DEFAULT vncserver_proxyclient_address "$VNC_PROXY"
fi
if [ -n "${KEYSTONE_SERVER:-}" ]; then
  set_nova DEFAULT auth_strategy keystone
  keystone_authtoken "$conf" nova NOVA_PASSWORD ADMIN_PASSWORD
fi
if [ -n "${NEUTRON_SERVER:-}" ]; then
  # Contrail's network API (nova_contrail_vif) is not packaged for this nova: the key keeps the intent, nova ignores it.
  set_nova DEFAULT network_api_class nova_contrail_vif.contrailvif.ContrailNetworkAPI
  set_nova neutron url "http://$NEUTRON_SERVER:9696"
  if [ -n "${KEYSTONE_SERVER:-}" ]; then
    pw=$(password NEUTRON_PASSWORD ADMIN_PASSWORD)
    set_nova neutron admin_auth_url "http://$KEYSTONE_SERVER:35357/v2.0"
    set_nova neutron admin_username neutron
    set_nova neutron admin_password "$(oslo "$pw")"
    if [ -n "${ADMIN_TENANT:-}" ]; then set_nova neutron default_tenant_id "$ADMIN_TENANT"; fi
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
if [ -n "${GLANCE_SERVER:-}" ]; then
  set_nova glance host "$GLANCE_SERVER"
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

# Cells v2 bootstrap, which the 2015 nova (Liberty) did not have: nova-api brings the API database, cell0 and the
# main database up to date and maps cell1 before it serves; every step is idempotent, so a restart repeats it safely.
# cell1 is mapped last, so "cell1 is listed" means the whole bootstrap is done.
if [ "${1:-}" = nova-api ] && [ -n "${MYSQL_SERVER:-}" ]; then
  nova-manage api_db sync
  nova-manage cell_v2 map_cell0 --database_connection "$(nova_db_url nova_cell0)"
  nova-manage db sync
  nova-manage cell_v2 list_cells | grep -q ' cell1 ' || nova-manage cell_v2 create_cell --name cell1
fi
# conductor and scheduler read those tables at start and exit without them: they wait for nova-api's bootstrap
# (in the same stage) rather than crash-loop until it is done.
case "${1:-}" in nova-conductor | nova-scheduler)
  if [ -n "${MYSQL_SERVER:-}" ]; then
    waited=0
    until nova-manage cell_v2 list_cells 2>/dev/null | grep -q ' cell1 '; do
      [ "$waited" -lt "${NOVA_BOOTSTRAP_WAIT:-600}" ] || die "cell1 is not mapped after ${waited}s: is nova-api running and can it reach $MYSQL_SERVER?"
      [ "$waited" -gt 0 ] || echo "nova entrypoint: waiting for nova-api to bootstrap the databases (cell1 mapped)"
      sleep 5
      waited=$((waited + 5))
    done
  fi
  ;;
esac

exec "$@"
