#!/bin/bash
# Renders /etc/redis/contrail.conf from the environment, then runs the command.
#   HOST_IP  address to listen on besides loopback (default: all addresses)
# Redis config is not INI: the whole file is written from the environment on every start, so a restarted
# container gets exactly the same file.
set -euo pipefail
conf=/etc/redis/contrail.conf
if [ -n "${HOST_IP:-}" ]; then
  # Loopback too, so the in-container health check (redis-cli -h 127.0.0.1) works on any host address.
  bind=$(printf '%s\n' "$HOST_IP" 127.0.0.1 | awk '!seen[$0]++' | paste -sd' ')
  # Clients (analytics, web UI) come from other hosts without a password; an explicit bind address is what makes
  # turning protected mode off acceptable.
  protected=no
else
  bind=0.0.0.0
  protected=yes
fi
cat >"$conf" <<CONF
# Written by /entrypoint.sh from the environment; edits here are lost on restart.
bind $bind
protected-mode $protected
port 6379
daemonize no
supervised no
logfile ""
dir /var/lib/redis
CONF
chown redis:redis /var/lib/redis
exec "$@"
