#!/bin/bash
# Renders keystone.conf (with ini-set) and the uwsgi settings from the environment, creates the Fernet key
# repositories once, then runs the command (uwsgi serving Keystone on 5000 and 35357).
#   ADMIN_TOKEN           Keystone's bootstrap admin token (required, no default)
#   MYSQL_SERVER          database host (required); the first of a list is used
#   KEYSTONE_DB_PASSWORD  password of the database user "keystone" (required, no default)
#   MEMCACHED_SERVER      memcached hosts for Keystone's cache, comma or space separated (optional: no cache)
#   HOST_IP               address to listen on (default: all addresses)
#   KEYSTONE_WORKERS      uwsgi processes (default 2)
#   ADMIN_PASSWORD        optional: when set, the database schema is brought up to date and Keystone is bootstrapped
#                         before it serves (admin user ADMIN_USER, default admin, in project ADMIN_TENANT, default admin,
#                         with the identity endpoints on HOST_IP in region REGION, default RegionOne); both steps are
#                         idempotent, and the password is set again on every start
#   KEYSTONE_DB_WAIT      seconds to wait for MariaDB to accept the keystone user (default 300)
set -euo pipefail
ENTRYPOINT=keystone
# shellcheck source=../base/openstack-common.sh
source /usr/local/lib/openstack-common.sh
[ -n "${ADMIN_TOKEN:-}" ] || die "ADMIN_TOKEN is not set: the admin token has no default; set it in the environment"
[ -n "${MYSQL_SERVER:-}" ] || die "MYSQL_SERVER is not set: Keystone keeps its identities in MariaDB"
[ -n "${KEYSTONE_DB_PASSWORD:-}" ] || die "KEYSTONE_DB_PASSWORD is not set: the database password has no default; set it in the environment"
workers=${KEYSTONE_WORKERS:-2}
case $workers in ''|*[!0-9]*) die "KEYSTONE_WORKERS must be a number (got '$workers')" ;; esac

# The password goes into a database URL that oslo.config ("$") and Keystone's migrations ("%") both interpolate:
# only URL-safe characters survive all three.
case $KEYSTONE_DB_PASSWORD in *[!A-Za-z0-9._~-]*) die "KEYSTONE_DB_PASSWORD may only contain letters, digits and . _ ~ -" ;; esac

conf=/etc/keystone/keystone.conf
ini-set "$conf" DEFAULT admin_token "${ADMIN_TOKEN//\$/\$\$}"
# Logs go to the container log only (the packaged file under /var/log would also be owned by whoever ran first).
ini-set "$conf" DEFAULT use_stderr true
ini-set "$conf" DEFAULT log_dir ""
ini-set "$conf" DEFAULT log_file ""
db_host=$(first MYSQL_SERVER)
ini-set "$conf" database connection "mysql+pymysql://keystone:$KEYSTONE_DB_PASSWORD@$db_host/keystone"
if [ -n "${MEMCACHED_SERVER:-}" ]; then
  ini-set "$conf" cache enabled true
  ini-set "$conf" cache backend dogpile.cache.pymemcache
  ini-set "$conf" cache memcache_servers "$(addr_list MEMCACHED_SERVER 11211 ,)"
else
  ini-set "$conf" cache enabled false
fi
ini-set "$conf" token provider fernet
ini-set "$conf" fernet_tokens key_repository /etc/keystone/fernet-keys
ini-set "$conf" credential key_repository /etc/keystone/credential-keys

# Keys are made once per container; a restart keeps them, so tokens issued before it stay valid.
[ -n "$(ls -A /etc/keystone/fernet-keys 2>/dev/null)" ] ||
  keystone-manage fernet_setup --keystone-user keystone --keystone-group keystone
[ -n "$(ls -A /etc/keystone/credential-keys 2>/dev/null)" ] ||
  keystone-manage credential_setup --keystone-user keystone --keystone-group keystone

# The schema and the admin identity: what the 2015 guide did by hand with the admin token, which today's Keystone no
# longer accepts for that. MariaDB may still be starting (same stage): db_sync is retried until it gets through.
if [ -n "${ADMIN_PASSWORD:-}" ]; then
  [ -n "${HOST_IP:-}" ] || die "HOST_IP must be set with ADMIN_PASSWORD: the identity endpoints are registered on it"
  as_keystone() { runuser -u keystone -- "$@"; }
  db_sync() { as_keystone keystone-manage db_sync 2>/tmp/db_sync.err; }
  wait_until "MariaDB on $db_host (db_sync)" "${KEYSTONE_DB_WAIT:-300}" 5 db_sync ||
    die "db_sync failed for ${KEYSTONE_DB_WAIT:-300}s (is MariaDB on $db_host up, with user keystone?): $(tail -n 3 /tmp/db_sync.err)"
  # The password by environment, not on a command line that `ps` shows.
  OS_BOOTSTRAP_PASSWORD=$ADMIN_PASSWORD as_keystone keystone-manage bootstrap \
    --bootstrap-username "${ADMIN_USER:-admin}" --bootstrap-project-name "${ADMIN_TENANT:-admin}" \
    --bootstrap-role-name admin --bootstrap-service-name keystone --bootstrap-region-id "${REGION:-RegionOne}" \
    --bootstrap-admin-url "http://$HOST_IP:35357/v3/" --bootstrap-internal-url "http://$HOST_IP:5000/v3/" \
    --bootstrap-public-url "http://$HOST_IP:5000/v3/"
fi

# The 2015 keystone-all served the public API on 5000 and the admin API on 35357; today one application serves
# both, so one uwsgi listens on both ports (uwsgi_ini: the settings keystone and placement share).
listen=${HOST_IP:-0.0.0.0}
uwsgi_ini /etc/keystone/contrail-uwsgi.ini /usr/bin/keystone-wsgi-public keystone "$workers" 4 "$listen:5000" "$listen:35357"
echo "chdir = /var/lib/keystone" >>/etc/keystone/contrail-uwsgi.ini
exec "$@"
