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
set -eu
fail() { echo "keystone entrypoint: $*" >&2; exit 1; }
[ -n "${ADMIN_TOKEN:-}" ] || fail "ADMIN_TOKEN is not set: the admin token has no default; set it in the environment"
[ -n "${MYSQL_SERVER:-}" ] || fail "MYSQL_SERVER is not set: Keystone keeps its identities in MariaDB"
[ -n "${KEYSTONE_DB_PASSWORD:-}" ] || fail "KEYSTONE_DB_PASSWORD is not set: the database password has no default; set it in the environment"
workers=${KEYSTONE_WORKERS:-2}
case $workers in ''|*[!0-9]*) fail "KEYSTONE_WORKERS must be a number (got '$workers')" ;; esac

# The password goes into a database URL that oslo.config ("$") and Keystone's migrations ("%") both interpolate:
# only URL-safe characters survive all three.
case $KEYSTONE_DB_PASSWORD in *[!A-Za-z0-9._~-]*) fail "KEYSTONE_DB_PASSWORD may only contain letters, digits and . _ ~ -" ;; esac
hosts() { echo "$1" | tr ', ' '\n\n' | awk 'NF && !seen[$0]++'; }

conf=/etc/keystone/keystone.conf
ini-set "$conf" DEFAULT admin_token "${ADMIN_TOKEN//\$/\$\$}"
# Logs go to the container log only (the packaged file under /var/log would also be owned by whoever ran first).
ini-set "$conf" DEFAULT use_stderr true
ini-set "$conf" DEFAULT log_dir ""
ini-set "$conf" DEFAULT log_file ""
db_host=$(hosts "$MYSQL_SERVER" | head -n1)
ini-set "$conf" database connection "mysql+pymysql://keystone:$KEYSTONE_DB_PASSWORD@$db_host/keystone"
if [ -n "${MEMCACHED_SERVER:-}" ]; then
  ini-set "$conf" cache enabled true
  ini-set "$conf" cache backend dogpile.cache.pymemcache
  ini-set "$conf" cache memcache_servers "$(hosts "$MEMCACHED_SERVER" | sed 's/$/:11211/' | paste -sd,)"
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
  [ -n "${HOST_IP:-}" ] || fail "HOST_IP must be set with ADMIN_PASSWORD: the identity endpoints are registered on it"
  as_keystone() { runuser -u keystone -- "$@"; }
  waited=0
  until as_keystone keystone-manage db_sync 2>/tmp/db_sync.err; do
    [ "$waited" -lt "${KEYSTONE_DB_WAIT:-300}" ] || fail "db_sync failed for ${waited}s (is MariaDB on $db_host up, with user keystone?): $(tail -n 3 /tmp/db_sync.err)"
    [ "$waited" -gt 0 ] || echo "keystone entrypoint: waiting for MariaDB on $db_host (db_sync)"
    sleep 5
    waited=$((waited + 5))
  done
  # The password by environment, not on a command line that `ps` shows.
  OS_BOOTSTRAP_PASSWORD=$ADMIN_PASSWORD as_keystone keystone-manage bootstrap \
    --bootstrap-username "${ADMIN_USER:-admin}" --bootstrap-project-name "${ADMIN_TENANT:-admin}" \
    --bootstrap-role-name admin --bootstrap-service-name keystone --bootstrap-region-id "${REGION:-RegionOne}" \
    --bootstrap-admin-url "http://$HOST_IP:35357/v3/" --bootstrap-internal-url "http://$HOST_IP:5000/v3/" \
    --bootstrap-public-url "http://$HOST_IP:5000/v3/"
fi

# The 2015 keystone-all served the public API on 5000 and the admin API on 35357; today one application serves
# both, so one uwsgi listens on both ports. Not INI-edited: uwsgi needs http-socket twice, so the file is written whole.
# uwsgi's http-socket closes each connection after its response; "Connection: close" says so, or the OpenStack
# clients, which keep connections open, get "connection reset" on their next request. (Its keep-alive socket,
# http11-socket, holds a thread per idle client connection: with nova's services connected, requests starved.)
listen=${HOST_IP:-0.0.0.0}
cat >/etc/keystone/contrail-uwsgi.ini <<CONF
# Written by /entrypoint.sh from the environment; edits here are lost on restart.
[uwsgi]
plugins = python3
master = true
http-socket = $listen:5000
http-socket = $listen:35357
add-header = Connection: close
wsgi-file = /usr/bin/keystone-wsgi-public
need-app = true
lazy-apps = true
die-on-term = true
enable-threads = true
processes = $workers
threads = 4
buffer-size = 65535
uid = keystone
gid = keystone
chdir = /var/lib/keystone
CONF
exec "$@"
