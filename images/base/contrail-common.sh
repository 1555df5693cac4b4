# shellcheck shell=bash
# Helpers for the Contrail entrypoints (sourced, never run); the base image carries them for every family. The host
# lists (first, addr_list) come from the helpers every image shares.
# shellcheck source=../base/common.sh
. /usr/local/lib/common.sh

# require VAR...: stop before rendering anything when a variable the process cannot do without is unset.
# Nothing here has a default for a password or an address (the original shipped contrail123 and guest).
require() {
  local var missing=()
  for var in "$@"; do [ -n "${!var:-}" ] || missing+=("$var"); done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "entrypoint ${PROCESS:-}: missing environment: ${missing[*]} (no defaults; set them in the env file)" >&2
    exit 64
  fi
}

# ini FILE SECTION KEY VALUE [KEY VALUE...]: ini-set for several keys of one section (each replaced in place, so a
# restarted container renders the same file instead of adding a duplicate line per start).
ini() {
  local file=$1 section=$2
  shift 2
  while [ $# -ge 2 ]; do ini-set "$file" "$section" "$1" "$2"; shift 2; done
}

# Keystone credentials and the VNC API client settings, for the processes that read them. Skipped without
# KEYSTONE_SERVER, as the original did; with it, the admin credentials are required (entrypoints check that before
# writing anything, so a missing secret leaves no half-rendered configuration).
require_keystone() { [ -z "${KEYSTONE_SERVER:-}" ] || require ADMIN_USER ADMIN_PASSWORD ADMIN_TOKEN ADMIN_TENANT; }
render_keystone() {
  [ -n "${KEYSTONE_SERVER:-}" ] || return 0
  require_keystone
  local auth=/etc/contrail/contrail-keystone-auth.conf
  ini "$auth" KEYSTONE auth_host "$(first KEYSTONE_SERVER)" auth_protocol http auth_port 35357 \
    admin_user "$ADMIN_USER" admin_password "$ADMIN_PASSWORD" admin_token "$ADMIN_TOKEN" \
    admin_tenant_name "$ADMIN_TENANT" insecure false
  if [ -n "${MEMCACHED_SERVER:-}" ]; then
    ini "$auth" KEYSTONE memcache_servers "$(addr_list MEMCACHED_SERVER 11211 ,)"
  fi
  render_vnc_api_lib
}

render_vnc_api_lib() {
  [ -n "${KEYSTONE_SERVER:-}" ] || return 0
  local lib=/etc/contrail/vnc_api_lib.ini
  ini "$lib" global WEB_SERVER 127.0.0.1 WEB_PORT 8082 BASE_URL /
  ini "$lib" auth AUTHN_TYPE keystone AUTHN_SERVER "$(first KEYSTONE_SERVER)" AUTHN_PORT 35357 AUTHN_URL /v2.0/tokens
}
