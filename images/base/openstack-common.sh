# shellcheck shell=bash
# Helpers for the OpenStack entrypoints (sourced, never run): set ENTRYPOINT to the image family's name first.
# No password has a default: a block that needs one fails with the variables it would accept. die, the host lists
# and the wait loop come from the helpers every image shares.
# shellcheck source=../base/common.sh
. /usr/local/lib/common.sh

# password VAR...: the first of the named variables that is set, or a clear failure.
password() {
  local v
  for v in "$@"; do [ -n "${!v:-}" ] && { printf '%s' "${!v}"; return; }; done
  die "$(IFS=/; echo "$*") must be set (no password has a default)"
}

# oslo.config expands $name in values: a literal $ in a password must be doubled.
oslo() { printf '%s' "${1//\$/\$\$}"; }
urlencode() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }

# database CONF DBNAME PASSWORD_VAR...: [database] connection, the PyMySQL driver, the password URL-encoded.
database() {
  local conf=$1 db=$2 pw; shift 2
  pw=$(password "$@")
  ini-set "$conf" database connection "mysql+pymysql://$db:$(urlencode "$pw")@$MYSQL_SERVER/$db"
}

# keystone_auth CONF SECTION USER PASSWORD: keystoneauth's password plugin in [SECTION], signing in as USER of project
# "service" with the key names Zed reads (auth_type and domain names; auth_plugin and auth_uri are 2015 names). The
# region is Keystone's (REGION, default RegionOne): Debian's files say regionOne, where keystonemiddleware then finds
# no identity endpoint and answers every request with 503.
keystone_auth() {
  local conf=$1 section=$2 user=$3 pw=$4
  ini-set "$conf" "$section" auth_type password
  ini-set "$conf" "$section" auth_url "http://$KEYSTONE_SERVER:5000"
  ini-set "$conf" "$section" project_domain_name Default
  ini-set "$conf" "$section" user_domain_name Default
  ini-set "$conf" "$section" project_name service
  ini-set "$conf" "$section" username "$user"
  ini-set "$conf" "$section" password "$(oslo "$pw")"
  ini-set "$conf" "$section" region_name "${REGION:-RegionOne}"
}

# keystone_authtoken CONF USER PASSWORD_VAR...: keystonemiddleware's [keystone_authtoken]: the service's own user
# (keystone-register makes it) checks its users' tokens.
keystone_authtoken() {
  local conf=$1 user=$2 pw; shift 2
  pw=$(password "$@")
  # Where a client without a token is sent (Debian's files say localhost).
  ini-set "$conf" keystone_authtoken www_authenticate_uri "http://$KEYSTONE_SERVER:5000"
  keystone_auth "$conf" keystone_authtoken "$user" "$pw"
}

# register_in_keystone USER SERVICE TYPE URL: before an API serves, its user, service and endpoints in Keystone's
# catalog, each made only when missing (keystone-register); the clients find the API there. Needs Keystone's admin.
register_in_keystone() {
  [ -n "${KEYSTONE_SERVER:-}" ] || die "KEYSTONE_SERVER must be set: $2 registers in Keystone's catalog before it serves"
  [ -n "${HOST_IP:-}" ] || die "HOST_IP must be set: $2 registers its endpoints on it in Keystone's catalog"
  password ADMIN_PASSWORD >/dev/null
  keystone-register "$@"
}

# rabbit CONF: RPC over RabbitMQ at RABBIT_SERVER with RABBIT_PASSWORD (the original hard-coded guest). The 2015
# keys (rpc_backend, [oslo_messaging_rabbit] rabbit_host/_userid/_password) are gone from today's oslo.messaging,
# which then tries guest@localhost: transport_url is what it reads.
rabbit() {
  local conf=$1 pw
  pw=$(password RABBIT_PASSWORD)
  ini-set "$conf" DEFAULT transport_url "rabbit://$(urlencode "${RABBIT_USER:-guest}"):$(urlencode "$pw")@$RABBIT_SERVER:5672/"
}

# uwsgi_ini FILE APP USER PROCESSES THREADS ADDRESS...: uwsgi's settings for an OpenStack WSGI application (keystone,
# placement), written whole at every start (uwsgi needs http-socket once per address, which INI editing cannot say).
# uwsgi's http-socket closes each connection after its response; "Connection: close" says so, or the OpenStack
# clients, which keep connections open, get "connection reset" on their next request. (Its keep-alive socket,
# http11-socket, holds a thread per idle client connection: with nova's services connected, requests starved.)
# buffer-size: nova-compute asks Placement for its traits in one query string of several kB (uwsgi's default is 4 kB).
uwsgi_ini() {
  local file=$1 app=$2 user=$3 processes=$4 threads=$5 address
  shift 5
  {
    printf '%s\n' "# Written by /entrypoint.sh from the environment; edits here are lost on restart." "[uwsgi]" \
      "plugins = python3" "master = true"
    for address; do printf 'http-socket = %s\n' "$address"; done
    printf '%s\n' "add-header = Connection: close" "wsgi-file = $app" "need-app = true" "lazy-apps = true" \
      "die-on-term = true" "enable-threads = true" "processes = $processes" "threads = $threads" \
      "buffer-size = 65535" "uid = $user" "gid = $user"
  } >"$file"
}
