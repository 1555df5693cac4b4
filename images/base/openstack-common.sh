# Helpers for the OpenStack entrypoints (sourced, never run): set ENTRYPOINT to the image family's name first.
# No password has a default: a block that needs one fails with the variables it would accept.

die() { echo "${ENTRYPOINT:-openstack} entrypoint: $*" >&2; exit 1; }

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

# keystone_authtoken CONF USER PASSWORD_VAR...: the [keystone_authtoken] block of the 2015 images.
keystone_authtoken() {
  local conf=$1 user=$2 pw; shift 2
  pw=$(password "$@")
  ini-set "$conf" keystone_authtoken auth_uri "http://$KEYSTONE_SERVER:5000"
  ini-set "$conf" keystone_authtoken auth_url "http://$KEYSTONE_SERVER:35357"
  ini-set "$conf" keystone_authtoken auth_plugin password
  ini-set "$conf" keystone_authtoken project_domain_id default
  ini-set "$conf" keystone_authtoken user_domain_id default
  ini-set "$conf" keystone_authtoken project_name service
  ini-set "$conf" keystone_authtoken username "$user"
  ini-set "$conf" keystone_authtoken password "$(oslo "$pw")"
}

# rabbit CONF: RPC over RabbitMQ at RABBIT_SERVER with RABBIT_PASSWORD (the original hard-coded guest). The 2015
# keys (rpc_backend, [oslo_messaging_rabbit] rabbit_host/_userid/_password) are gone from today's oslo.messaging,
# which then tries guest@localhost: transport_url is what it reads.
rabbit() {
  local conf=$1 pw
  pw=$(password RABBIT_PASSWORD)
  ini-set "$conf" DEFAULT transport_url "rabbit://$(urlencode "${RABBIT_USER:-guest}"):$(urlencode "$pw")@$RABBIT_SERVER:5672/"
}
