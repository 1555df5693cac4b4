#!/bin/bash
# Renders RabbitMQ's configuration and Erlang cookie from the environment, then runs the command.
#   RABBIT_PASSWORD         password of the default user (required, no default; the name the OpenStack images read)
#   RABBITMQ_ERLANG_COOKIE  Erlang distribution cookie (required, no default; the CLI tools need it too)
#   RABBIT_USER             name of the default user (default guest, the name OpenStack and Contrail expect)
#   HOST_IP                 address for the AMQP listener (default: all addresses)
# rabbitmq.conf is not INI: the whole file is written on every start, so a restarted container gets the same file.
set -euo pipefail
ENTRYPOINT=rabbitmq
# shellcheck source=../base/common.sh
. /usr/local/lib/common.sh
[ -n "${RABBIT_PASSWORD:-}" ] || die "RABBIT_PASSWORD is not set: the default user's password has no default; set it in the environment"
[ -n "${RABBITMQ_ERLANG_COOKIE:-}" ] || die "RABBITMQ_ERLANG_COOKIE is not set: the Erlang cookie has no default; set it in the environment"
# rabbitmq.conf would cut a value at "#" (a comment), expand "$" and trim white space: refuse rather than mangle.
case $RABBIT_PASSWORD in *[[:space:]\#\$]*) die "RABBIT_PASSWORD must not contain white space, '#' or '\$'" ;; esac
user=${RABBIT_USER:-guest}

conf=/etc/rabbitmq/rabbitmq.conf
umask 027
cat >"$conf" <<CONF
# Written by /entrypoint.sh from the environment; edits here are lost on restart.
listeners.tcp.default = ${HOST_IP:-0.0.0.0}:5672
# Clients come from other hosts (host networking), so the default user is not limited to loopback.
loopback_users = none
default_user = $user
default_pass = $RABBIT_PASSWORD
# The container log is where the pipeline looks when a health gate fails.
log.console = true
log.file = false
CONF
chown root:rabbitmq "$conf"

# A fixed node name: with host networking the host name may not resolve inside the container. Erlang distribution
# (epmd and the node's port, used by the CLI tools of this single node) stays on loopback: only AMQP faces the network.
cat >/etc/rabbitmq/rabbitmq-env.conf <<'CONF'
NODENAME=rabbit@localhost
export ERL_EPMD_ADDRESS=127.0.0.1
SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
CONF
chmod 0644 /etc/rabbitmq/rabbitmq-env.conf

cookie=/var/lib/rabbitmq/.erlang.cookie
printf '%s' "$RABBITMQ_ERLANG_COOKIE" >"$cookie"
chown rabbitmq:rabbitmq "$cookie"
chmod 0400 "$cookie"
exec "$@"
