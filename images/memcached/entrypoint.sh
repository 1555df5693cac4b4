#!/bin/bash
# Renders /etc/memcached.conf (Debian's one-option-per-line format, read by Debian's wrapper) from the environment,
# then runs the command.
#   HOST_IP            address to listen on besides loopback (default: all addresses)
#   MEMCACHED_MEMORY   cache size in MB (default 64)
# The whole file is written on every start, so a restarted container gets exactly the same file.
set -euo pipefail
if [ -n "${HOST_IP:-}" ]; then
  listen=$(printf '%s\n' "$HOST_IP" 127.0.0.1 | awk '!seen[$0]++' | paste -sd,)
else
  listen=0.0.0.0
fi
memory=${MEMCACHED_MEMORY:-64}
case $memory in ''|*[!0-9]*) echo "entrypoint: MEMCACHED_MEMORY must be a number of MB (got '$memory')" >&2; exit 2 ;; esac
cat >/etc/memcached.conf <<CONF
# Written by /entrypoint.sh from the environment; edits here are lost on restart.
-p 11211
-U 0
-u memcache
-l $listen
-m $memory
-c 1024
CONF
exec "$@"
