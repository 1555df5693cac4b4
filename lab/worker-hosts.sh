#!/usr/bin/env bash
# Workers on several machines, on the lab (started with the Temporal cluster: `lab up --temporal cluster`):
#   - build2: a second build host, a network namespace on the lab bridge with a Docker engine of its own (its data root
#     in the cache beside the first one's; the base images copied from the lab's build engine, same image ids);
#   - ops: an "operations host" for the deploy worker, a namespace whose only ways out are SSH to the lab's hosts and
#     bastion, and the Temporal frontend (nft rules in its own namespace);
#   - the frontend relay: the cluster's frontend listens on 127.0.0.1, which other namespaces cannot reach; a TCP relay
#     on the bridge address stands in for a frontend on the company network. TLS goes through it end to end (clients
#     keep TEMPORAL_TLS_SERVER_NAME=temporal-frontend; the relay sees only ciphertext).
#   - the build proxy: builds on build2 fetch packages (Debian, PyPI, Maven Central) as builds on the build engine do,
#     but from a namespace with no way out: an HTTP proxy (tinyproxy) on the bridge address lets through requests to
#     those package sources only, as a build host behind a company proxy would have it.
#
#   worker-hosts.sh up | down | status [--json] | env build2|ops
#
# Called by lab/lab.sh. Every address is loopback or on the lab bridge.
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LAB_DIR="${CONTRAIL_LAB_DIR:-$ROOT/.lab}"
CACHE_DIR="${CONTRAIL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/contrail-deploy}"
STATE="$LAB_DIR/worker-hosts"
LOGS="$LAB_DIR/logs"
LAB_RUN=/run/cdlab
BRIDGE=cdlab0
LAB_PREFIX="${CONTRAIL_LAB_PREFIX:-10.213.57}"
BRIDGE_IP="$LAB_PREFIX.1"
BASTION="${CONTRAIL_LAB_BASTION:-$LAB_PREFIX.5:2222}" # passed by lab.sh
FRONTEND_PORT=7333 # the cluster's (lab/temporal-cluster.sh)
RELAY_ADDR="$BRIDGE_IP:$FRONTEND_PORT"
BUILD_SOCK=$LAB_RUN/build/docker.sock
BUILD2_NS=cdlab-build2
BUILD2_IP="$LAB_PREFIX.6"
BUILD2_RUN=$LAB_RUN/build2
BUILD2_SOCK=$BUILD2_RUN/docker.sock
BUILD_PROXY_ADDR="$BRIDGE_IP:3142"
OPS_NS=cdlab-ops
OPS_IP="$LAB_PREFIX.4"
BASE_IMAGES=(busybox:local debian:bookworm-slim) # what lab.sh makes in the build engine
DOCKERD_NETWORK_FLAGS="--bridge=none --iptables=false --ip-masq=false"

log() { printf '[worker-hosts] %s\n' "$*" >&2; }
die() { printf 'worker-hosts: %s\n' "$1" >&2; exit "${2:-1}"; }
pid_alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }
read_pid() { [[ -f "$1" ]] && cat "$1" || true; }

# A daemon in its own session with only stdin/stdout/stderr: an inherited descriptor (a test's
# `flock /tmp/contrail-e2e.lock ...`) would otherwise stay held for the daemon's whole life. Prints its pid.
detach() { # log file, command...
  local out=$1; shift
  (
    for fd in "/proc/$BASHPID/fd/"*; do fd=${fd##*/}; ((fd > 2)) && eval "exec $fd>&-"; done
    exec setsid "$@" >>"$out" 2>&1 </dev/null
  ) &
  echo $!
}

stop_pid() { # pidfile [seconds]
  local pid; pid=$(read_pid "$1")
  if pid_alive "$pid"; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 $((${2:-10} * 4))); do pid_alive "$pid" || break; sleep 0.25; done
    pid_alive "$pid" && kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$1"
}

ensure_netns() { # namespace veth address
  [[ -e /var/run/netns/$1 ]] || ip netns add "$1"
  ip link show "$2" >/dev/null 2>&1 || ip link add "$2" type veth peer name eth0 netns "$1"
  ip link set "$2" master "$BRIDGE" up
  ip -n "$1" link set lo up
  ip -n "$1" link set eth0 up
  [[ $(ip -n "$1" addr show dev eth0) == *"inet $3/"* ]] || ip -n "$1" addr add "$3/24" dev eth0
}

# ---------------------------------------------------------------- the frontend relay
# A tool these parts need and `lab up` does not: installed from Debian on first use.
ensure_command() { # command package what-for
  command -v "$1" >/dev/null 2>&1 && return
  log "installing $2 ($3)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >>"$LOGS/apt.log" 2>&1 \
    || die "could not install $2 (see $LOGS/apt.log): install the Debian package $2" 3
}

start_relay() {
  ensure_command socat socat "the frontend relay"
  pid_alive "$(read_pid "$STATE/relay.pid")" && return
  # Only the lab's subnet may connect: that is where the other "machines" are.
  detach "$LOGS/worker-hosts-relay.log" socat "TCP-LISTEN:$FRONTEND_PORT,bind=$BRIDGE_IP,fork,reuseaddr,range=$LAB_PREFIX.0/24" \
    "TCP:127.0.0.1:$FRONTEND_PORT" >"$STATE/relay.pid"
  log "frontend relay on $RELAY_ADDR (pid $(cat "$STATE/relay.pid"))"
  for _ in $(seq 1 40); do (exec 3<>"/dev/tcp/$BRIDGE_IP/$FRONTEND_PORT") 2>/dev/null && return; sleep 0.25; done
  die "the frontend relay does not listen on $RELAY_ADDR: see $LOGS/worker-hosts-relay.log"
}

# ---------------------------------------------------------------- the build proxy
# The package sources image builds use: this machine's Debian mirrors (as the base image was made from them), PyPI and
# Maven Central. Any other name is refused by the proxy before it connects anywhere.
proxy_allowed_hosts() {
  { awk '/^URIs:/ {for (i = 2; i <= NF; i++) print $i}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true
    awk '/^deb / {print $2}' /etc/apt/sources.list 2>/dev/null || true
    printf '%s\n' http://deb.debian.org http://security.debian.org https://pypi.org https://files.pythonhosted.org \
      https://repo.maven.apache.org https://repo1.maven.org
  } | sed -E 's#^[a-z]+://([^/:]+).*#\1#' | sort -u
}

start_build_proxy() {
  ensure_command tinyproxy tinyproxy-bin "the build proxy"
  pid_alive "$(read_pid "$STATE/build-proxy.pid")" && return
  proxy_allowed_hosts | sed -E 's/\./\\./g; s/.*/^&$/' >"$STATE/build-proxy.allow"
  cat >"$STATE/build-proxy.conf" <<CONF
User nobody
Group nogroup
Listen ${BUILD_PROXY_ADDR%:*}
Port ${BUILD_PROXY_ADDR##*:}
Timeout 300
MaxClients 64
Allow $LAB_PREFIX.0/24
ConnectPort 443
Filter "$STATE/build-proxy.allow"
FilterType ere
FilterDefaultDeny Yes
LogLevel Notice
CONF
  local pid; pid=$(detach "$LOGS/worker-hosts-build-proxy.log" tinyproxy -d -c "$STATE/build-proxy.conf")
  echo "$pid" >"$STATE/build-proxy.pid"
  for _ in $(seq 1 40); do (exec 3<>"/dev/tcp/${BUILD_PROXY_ADDR%:*}/${BUILD_PROXY_ADDR##*:}") 2>/dev/null && { log "build proxy on $BUILD_PROXY_ADDR (pid $pid): $(proxy_allowed_hosts | paste -sd' ') only"; return; }; sleep 0.25; done
  die "the build proxy does not listen on $BUILD_PROXY_ADDR: see $LOGS/worker-hosts-build-proxy.log"
}

# ---------------------------------------------------------------- build2: a second build host
start_build2() {
  ensure_netns "$BUILD2_NS" cdlab-vw2 "$BUILD2_IP"
  local data="$CACHE_DIR/build-engine-2" pid
  mkdir -p "$data" "$BUILD2_RUN"
  echo '{}' >"$STATE/build2-daemon.json"
  pid=$(read_pid "$STATE/build2-dockerd.pid")
  if ! pid_alive "$pid"; then
    # Its own mount namespace (ip netns exec would hide the cgroup mounts dockerd needs); the socket is on /run, which
    # this machine's namespace sees too (the worker beside it is started in the network namespace only).
    # shellcheck disable=SC2086
    pid=$(detach "$LOGS/worker-hosts-build2-docker.log" nsenter --net="/var/run/netns/$BUILD2_NS" unshare -m --propagation private -- \
      dockerd --config-file "$STATE/build2-daemon.json" -H "unix://$BUILD2_SOCK" --data-root "$data" \
      --exec-root "$BUILD2_RUN/exec" --pidfile "$BUILD2_RUN/docker.pid" $DOCKERD_NETWORK_FLAGS)
    echo "$pid" >"$STATE/build2-dockerd.pid"
    log "build2: Docker engine starting in $BUILD2_NS (pid $pid)"
  fi
  for _ in $(seq 1 120); do
    docker -H "unix://$BUILD2_SOCK" version >/dev/null 2>&1 && break
    pid_alive "$(read_pid "$STATE/build2-dockerd.pid")" || die "build2: the Docker engine exited: see $LOGS/worker-hosts-build2-docker.log"
    sleep 0.5
  done
  docker -H "unix://$BUILD2_SOCK" version >/dev/null 2>&1 || die "build2: the Docker engine does not answer on $BUILD2_SOCK"
  copy_base_images
}

# The base images as the lab made them in the build engine, copied over (same image ids on both engines).
copy_base_images() {
  local missing=() image
  for image in "${BASE_IMAGES[@]}"; do
    local want; want=$(docker -H "unix://$BUILD_SOCK" image inspect -f '{{.Id}}' "$image" 2>/dev/null) \
      || die "the lab's build engine has no $image: run 'contrail-deploy lab up' first"
    [[ $(docker -H "unix://$BUILD2_SOCK" image inspect -f '{{.Id}}' "$image" 2>/dev/null) == "$want" ]] || missing+=("$image")
  done
  ((${#missing[@]})) || return 0
  docker -H "unix://$BUILD_SOCK" save "${missing[@]}" | docker -H "unix://$BUILD2_SOCK" load >/dev/null \
    || die "build2: could not copy the base images ${missing[*]} from the build engine"
  log "build2: base images ${missing[*]} copied from the build engine"
}

# ---------------------------------------------------------------- ops: the operations host
ops_rules() {
  local bastion_ip=${BASTION%:*} bastion_port=${BASTION##*:}
  printf '%s\n' 'table inet cdlab-ops {' '  chain output {' '    type filter hook output priority filter; policy drop;' \
    '    oifname "lo" accept' '    ct state established,related accept' \
    "    ip daddr $LAB_PREFIX.0/24 tcp dport 22 accept comment \"SSH to the hosts\"" \
    "    ip daddr $bastion_ip tcp dport $bastion_port accept comment \"SSH to the bastion\"" \
    "    ip daddr $BRIDGE_IP tcp dport $FRONTEND_PORT accept comment \"the Temporal frontend (mutual TLS)\"" \
    '  }' '}'
}

start_ops() {
  ensure_netns "$OPS_NS" cdlab-vo "$OPS_IP"
  ip netns exec "$OPS_NS" nft list table inet cdlab-ops >/dev/null 2>&1 && ip netns exec "$OPS_NS" nft delete table inet cdlab-ops
  ops_rules | ip netns exec "$OPS_NS" nft -f - || die "ops: could not set up its filter (nft)"
}

# ---------------------------------------------------------------- commands
cmd_up() {
  [[ $(id -u) -eq 0 ]] || die "needs root (network namespaces, a Docker engine)" 3
  ip link show "$BRIDGE" >/dev/null 2>&1 || die "no lab bridge $BRIDGE: run 'contrail-deploy lab up' first" 3
  mkdir -p "$STATE" "$LOGS"
  start_relay
  start_build_proxy
  start_build2
  start_ops
}

cmd_down() {
  stop_pid "$STATE/relay.pid" 5
  stop_pid "$STATE/build-proxy.pid" 5
  stop_pid "$STATE/build2-dockerd.pid" 30
  ip netns del "$BUILD2_NS" 2>/dev/null || true
  ip netns del "$OPS_NS" 2>/dev/null || true
  ip link del cdlab-vw2 2>/dev/null || true
  ip link del cdlab-vo 2>/dev/null || true
  rm -rf "$BUILD2_RUN" "$STATE"
}

json_str() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }

cmd_status_json() {
  [[ -d $STATE ]] || { echo null; return; }
  local relay_up build2_up ops_up
  relay_up=$(pid_alive "$(read_pid "$STATE/relay.pid")" && echo true || echo false)
  build2_up=$(docker -H "unix://$BUILD2_SOCK" version >/dev/null 2>&1 && echo true || echo false)
  ops_up=$(ip netns exec "$OPS_NS" nft list table inet cdlab-ops >/dev/null 2>&1 && echo true || echo false)
  printf '{"frontendRelay":{"address":"%s","to":"127.0.0.1:%s","up":%s},' "$RELAY_ADDR" "$FRONTEND_PORT" "$relay_up"
  printf '"build2":{"namespace":"%s","address":"%s","dockerHost":"unix://%s","buildProxy":"http://%s","up":%s},' "$BUILD2_NS" "$BUILD2_IP" "$BUILD2_SOCK" "$BUILD_PROXY_ADDR" "$build2_up"
  printf '"ops":{"namespace":"%s","address":"%s","reaches":["%s.0/24:22","%s","%s"],"up":%s}}\n' "$OPS_NS" "$OPS_IP" "$LAB_PREFIX" "$BASTION" "$RELAY_ADDR" "$ops_up"
}

cmd_status() {
  [[ ${1:-} == --json ]] && { cmd_status_json; return; }
  [[ -d $STATE ]] || { echo "Workers   not set up (contrail-deploy lab up --temporal cluster)"; return; }
  printf 'Build2     %s %s  engine unix://%s, package sources through the build proxy http://%s  (%s)\n' "$BUILD2_NS" "$BUILD2_IP" "$BUILD2_SOCK" "$BUILD_PROXY_ADDR" "$(docker -H "unix://$BUILD2_SOCK" version >/dev/null 2>&1 && pid_alive "$(read_pid "$STATE/build-proxy.pid")" && echo up || echo DOWN)"
  printf 'Ops host   %s %s  reaches only SSH and the frontend relay %s  (%s)\n' "$OPS_NS" "$OPS_IP" "$RELAY_ADDR" "$(pid_alive "$(read_pid "$STATE/relay.pid")" && echo up || echo DOWN)"
}

# What a worker on that machine needs besides the cluster's client settings: the frontend's address as seen from
# there and, on build2, its engine.
cmd_env() {
  case "${1:-}" in
    build2) echo "export TEMPORAL_ADDRESS=$RELAY_ADDR"; echo "export CONTRAIL_DOCKER_HOST=unix://$BUILD2_SOCK"; echo "export CONTRAIL_BUILD_PROXY=http://$BUILD_PROXY_ADDR" ;;
    ops) echo "export TEMPORAL_ADDRESS=$RELAY_ADDR" ;;
    *) die "usage: worker-hosts.sh env build2|ops" 2 ;;
  esac
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) shift; cmd_status "$@" ;;
  env) shift; cmd_env "$@" ;;
  *) echo "usage: worker-hosts.sh up | down | status [--json] | env build2|ops" >&2; exit 2 ;;
esac
