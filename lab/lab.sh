#!/usr/bin/env bash
# The local lab: a Temporal dev server, the build host's Docker engine, a TLS registry with htpasswd auth, and N test
# hosts (network namespaces with their own sshd, Docker engine and private host paths) on one bridge.
#
#   lab.sh up [--hosts N] | down | status [--json] | env
#
# Every address used here is loopback or on the lab bridge (LAB_PREFIX.0/24): the lab never talks to anything else.
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LAB_DIR="${CONTRAIL_LAB_DIR:-$ROOT/.lab}"
CACHE_DIR="${CONTRAIL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/contrail-deploy}"
# Kernel-wide names (bridge, namespaces, /run paths) are fixed: one lab per machine.
LAB_RUN=/run/cdlab
BRIDGE=cdlab0
LAB_PREFIX="${CONTRAIL_LAB_PREFIX:-10.213.57}"
BRIDGE_IP="$LAB_PREFIX.1"
REGISTRY_PORT=5000
REGISTRY_ADDR="$BRIDGE_IP:$REGISTRY_PORT"
REGISTRY_USER=contrail
TEMPORAL_PORT=7233
TEMPORAL_UI_PORT=8233
TEMPORAL_CLI_VERSION=v1.5.1
SEARCH_ATTRIBUTES=(ReleaseTag Topology Initiator RunStatus ResumedFrom)
NAMESPACE_RETENTION=2160h # 90 days of run history for audit
# Host paths that host preparation may create; each test host gets its own copy (bind mounts in its mount namespace).
PRIVATE_HOST_PATHS=(/dockervolumes /var/lib/nova /var/lib/libvirt /var/lib/contrail /etc/contrail /var/log/contrail /etc/modules-load.d)
# Every lab engine: no docker0 bridge (172.17/16 is off-limits) and no iptables changes; containers use host networking.
DOCKERD_NETWORK_FLAGS="--bridge=none --iptables=false --ip-masq=false"
HOST_RUN=$LAB_RUN/host # same path on every host; a tmpfs private to each host's mount namespace
BUILD_SOCK=$LAB_RUN/build/docker.sock

log() { printf '[lab] %s\n' "$*" >&2; }
die() { printf 'lab: %s\n' "$1" >&2; exit "${2:-1}"; }

pid_alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }
read_pid() { [[ -f "$1" ]] && cat "$1" || true; }

# ---------------------------------------------------------------- prerequisites
# command -> Debian package
declare -A PREREQS=(
  [dockerd]=docker.io [docker-registry]=docker-registry [htpasswd]=apache2-utils [openssl]=openssl
  [ip]=iproute2 [nsenter]=util-linux [unshare]=util-linux [sshd]=openssh-server [ssh-keygen]=openssh-client
  [ssh]=openssh-client [debootstrap]=debootstrap [modprobe]=kmod [curl]=curl [sudo]=sudo [nft]=nftables
  [chromium]=chromium [docker-compose]=docker-compose
)

check_prereqs() {
  local missing=() pkgs=()
  for cmd in "${!PREREQS[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || [[ -x /usr/sbin/$cmd ]] || { missing+=("$cmd"); pkgs+=("${PREREQS[$cmd]}"); }
  done
  [[ -x /bin/busybox ]] && file_is_static /bin/busybox || { missing+=(busybox-static); pkgs+=(busybox-static); }
  if ((${#missing[@]})); then
    local unique; unique=$(printf '%s\n' "${pkgs[@]}" | sort -u | tr '\n' ' ')
    if command -v apt-get >/dev/null 2>&1; then
      log "installing missing prerequisites: $unique"
      # shellcheck disable=SC2086
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $unique >"$LAB_DIR/logs/apt.log" 2>&1 || {
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >>"$LAB_DIR/logs/apt.log" 2>&1
        # shellcheck disable=SC2086
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $unique >>"$LAB_DIR/logs/apt.log" 2>&1
      } || die "could not install: $unique (see $LAB_DIR/logs/apt.log). Install these Debian packages by hand." 3
    else
      die "missing: ${missing[*]}. This is not a Debian system: install the equivalents of: $unique" 3
    fi
  fi
}

file_is_static() { ! ldd "$1" >/dev/null 2>&1; }

# ---------------------------------------------------------------- Temporal
temporal_cli() {
  if [[ -n "${TEMPORAL_CLI:-}" ]]; then [[ -x "$TEMPORAL_CLI" ]] || die "TEMPORAL_CLI=$TEMPORAL_CLI is not an executable"; echo "$TEMPORAL_CLI"; return; fi
  if [[ -x "$CACHE_DIR/bin/temporal" ]]; then echo "$CACHE_DIR/bin/temporal"; return; fi
  if command -v temporal >/dev/null 2>&1; then command -v temporal; return; fi
  command -v go >/dev/null 2>&1 || die "no Temporal CLI found (TEMPORAL_CLI, PATH, $CACHE_DIR/bin) and no Go toolchain to build it. Install Go, or set TEMPORAL_CLI to a temporal binary ($TEMPORAL_CLI_VERSION)." 3
  log "building the official Temporal CLI $TEMPORAL_CLI_VERSION into $CACHE_DIR/bin (once; takes a few minutes)"
  mkdir -p "$CACHE_DIR/bin"
  (cd /tmp && GOBIN="$CACHE_DIR/bin" GOFLAGS=-mod=mod go install "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_CLI_VERSION") \
    >"$LAB_DIR/logs/temporal-build.log" 2>&1 || die "building the Temporal CLI failed: see $LAB_DIR/logs/temporal-build.log"
  echo "$CACHE_DIR/bin/temporal"
}

start_temporal() {
  if [[ -n "${TEMPORAL_ADDRESS:-}" ]]; then log "TEMPORAL_ADDRESS=$TEMPORAL_ADDRESS is set: using that server, starting none"; return; fi
  local cli; cli=$(temporal_cli)
  echo "$cli" >"$LAB_DIR/temporal/cli"
  local pid; pid=$(read_pid "$LAB_DIR/temporal/pid")
  if ! pid_alive "$pid"; then
    local sa_args=()
    for sa in "${SEARCH_ATTRIBUTES[@]}"; do sa_args+=(--search-attribute "$sa=Keyword"); done
    setsid "$cli" server start-dev --ip 127.0.0.1 --port "$TEMPORAL_PORT" --ui-port "$TEMPORAL_UI_PORT" \
      --db-filename "$LAB_DIR/temporal/temporal.db" --namespace default "${sa_args[@]}" --log-level warn \
      --sqlite-pragma journal_mode=WAL --sqlite-pragma synchronous=NORMAL \
      >>"$LAB_DIR/logs/temporal.log" 2>&1 </dev/null &
    echo $! >"$LAB_DIR/temporal/pid"
    log "Temporal dev server starting (pid $!)"
  fi
  local addr="127.0.0.1:$TEMPORAL_PORT"
  for _ in $(seq 1 120); do
    "$cli" operator cluster health --address "$addr" >/dev/null 2>&1 && break
    pid_alive "$(read_pid "$LAB_DIR/temporal/pid")" || die "the Temporal dev server exited: see $LAB_DIR/logs/temporal.log"
    sleep 0.5
  done
  "$cli" operator cluster health --address "$addr" >/dev/null 2>&1 || die "Temporal did not answer on $addr within 60 s: see $LAB_DIR/logs/temporal.log"
  # Search attributes given at start are only registered when the SQLite file is new: create any that are missing.
  local existing; existing=$("$cli" operator search-attribute list --address "$addr" --namespace default 2>/dev/null || true)
  for sa in "${SEARCH_ATTRIBUTES[@]}"; do
    grep -qw "$sa" <<<"$existing" || "$cli" operator search-attribute create --address "$addr" --namespace default \
      --name "$sa" --type Keyword --yes >/dev/null 2>&1 || die "could not register search attribute $sa"
  done
  "$cli" operator namespace update --address "$addr" --namespace default --retention "$NAMESPACE_RETENTION" >/dev/null 2>&1 \
    || log "warning: could not raise the retention of namespace default"
}

# ---------------------------------------------------------------- TLS, secrets, SSH keys
make_tls() {
  local d="$LAB_DIR/tls"
  if [[ ! -f $d/ca.crt ]]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=contrail-deploy lab CA" \
      -keyout "$d/ca.key" -out "$d/ca.crt" >/dev/null 2>&1
  fi
  if [[ ! -f $d/registry.crt ]]; then
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$BRIDGE_IP" -keyout "$d/registry.key" -out "$d/registry.csr" >/dev/null 2>&1
    printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n' "$BRIDGE_IP" >"$d/registry.ext"
    openssl x509 -req -in "$d/registry.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 3650 \
      -extfile "$d/registry.ext" -out "$d/registry.crt" >/dev/null 2>&1
  fi
  chmod 600 "$d"/*.key
  # Every lab engine (build host and test hosts share this file system) trusts the lab CA for the registry.
  mkdir -p "/etc/docker/certs.d/$REGISTRY_ADDR"
  cp "$d/ca.crt" "/etc/docker/certs.d/$REGISTRY_ADDR/ca.crt"
}

secret_value() { grep -E "^$1=" "$LAB_DIR/secrets.env" 2>/dev/null | head -1 | cut -d= -f2- || true; }

# Every secret the lab's topologies name, generated once (hex: safe for every config format that holds them).
LAB_SECRETS=(LAB_REGISTRY_PASSWORD LAB_ADMIN_PASSWORD LAB_ADMIN_TOKEN LAB_IFMAP_PASSWORD LAB_RABBIT_PASSWORD
  LAB_RABBITMQ_ERLANG_COOKIE LAB_MYSQL_ROOT_PASSWORD LAB_DB_PASSWORD
  LAB_NOVA_PASSWORD LAB_GLANCE_PASSWORD LAB_CINDER_PASSWORD LAB_PLACEMENT_PASSWORD)

make_secrets() {
  touch "$LAB_DIR/secrets.env"; chmod 600 "$LAB_DIR/secrets.env"
  for name in "${LAB_SECRETS[@]}"; do
    [[ -n $(secret_value "$name") ]] || echo "$name=$(openssl rand -hex 18)" >>"$LAB_DIR/secrets.env"
  done
}

make_ssh_keys() {
  local d="$LAB_DIR/ssh"
  [[ -f $d/id_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -C contrail-deploy-lab -f "$d/id_ed25519"
  cp "$d/id_ed25519.pub" "$d/authorized_keys"
  # sshd reads a user's authorized keys as that user: the lab's non-root users (deploy, nosudo) must be able to.
  chmod 600 "$d/id_ed25519"
  chmod 644 "$d/authorized_keys"
}

# ---------------------------------------------------------------- registry
start_registry() {
  local d="$LAB_DIR/registry"
  htpasswd -Bbc "$d/htpasswd" "$REGISTRY_USER" "$(secret_value LAB_REGISTRY_PASSWORD)" >/dev/null 2>&1
  cat >"$d/config.yml" <<EOF
version: 0.1
log: { level: warn }
storage:
  filesystem: { rootdirectory: $d/data }
  delete: { enabled: true }
http:
  addr: $REGISTRY_ADDR
  tls: { certificate: $LAB_DIR/tls/registry.crt, key: $LAB_DIR/tls/registry.key }
auth:
  htpasswd: { realm: contrail-deploy-lab, path: $d/htpasswd }
EOF
  local pid; pid=$(read_pid "$d/pid")
  if ! pid_alive "$pid"; then
    setsid docker-registry serve "$d/config.yml" >>"$LAB_DIR/logs/registry.log" 2>&1 </dev/null &
    echo $! >"$d/pid"
    log "registry starting on https://$REGISTRY_ADDR (pid $!)"
  fi
  for _ in $(seq 1 60); do
    curl -s -o /dev/null --cacert "$LAB_DIR/tls/ca.crt" "https://$REGISTRY_ADDR/v2/" && return
    sleep 0.5
  done
  die "the registry did not answer on https://$REGISTRY_ADDR: see $LAB_DIR/logs/registry.log"
}

# ---------------------------------------------------------------- Docker engines
wait_docker() { # socket, what, log
  for _ in $(seq 1 120); do
    docker -H "unix://$1" version >/dev/null 2>&1 && return
    sleep 0.5
  done
  die "the Docker engine of $2 did not answer on $1: see $3"
}

start_build_engine() {
  if [[ -n "${CONTRAIL_DOCKER_HOST:-}" ]]; then log "CONTRAIL_DOCKER_HOST is set: building on that engine, starting none"; return; fi
  local d="$LAB_DIR/build-engine"
  # The data root is in the cache: base images and the layer cache survive `lab down` and fresh checkouts (CI).
  local data="$CACHE_DIR/build-engine"
  mkdir -p "$d" "$data" "$LAB_RUN/build"
  echo '{}' >"$d/daemon.json"
  local pid; pid=$(read_pid "$LAB_RUN/build/docker.pid")
  if ! pid_alive "$pid"; then
    # shellcheck disable=SC2086
    setsid dockerd --config-file "$d/daemon.json" -H "unix://$BUILD_SOCK" --data-root "$data" --exec-root "$LAB_RUN/build/exec" \
      --pidfile "$LAB_RUN/build/docker.pid" $DOCKERD_NETWORK_FLAGS \
      >>"$LAB_DIR/logs/build-engine.log" 2>&1 </dev/null &
    log "build engine starting (unix://$BUILD_SOCK)"
  fi
  wait_docker "$BUILD_SOCK" "the build host" "$LAB_DIR/logs/build-engine.log"
}

build_docker() { docker -H "${CONTRAIL_DOCKER_HOST:-unix://$BUILD_SOCK}" "$@"; }

# ---------------------------------------------------------------- base images (no pulls: made locally)
BUSYBOX_TAG=busybox:local
DEBIAN_TAG=debian:bookworm-slim

debian_mirror() {
  # The mirror this machine's apt already uses (no host name is hard-coded in the project).
  local uri
  uri=$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -1 || true)
  [[ -n $uri ]] || uri=$(grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | grep -v security | head -1 || true)
  [[ -n $uri ]] || die "cannot find a Debian mirror in /etc/apt/sources.list*: set CONTRAIL_DEBIAN_MIRROR"
  echo "$uri"
}

# This machine's local trust anchors (update-ca-certificates' directory), and a short hash of them naming the base.
trust_anchors() { find /usr/local/share/ca-certificates -name '*.crt' -type f 2>/dev/null | sort; }
trust_anchors_hash() {
  local files; files=$(trust_anchors)
  if [[ -z $files ]]; then echo none; else xargs cat <<<"$files" | sha256sum | cut -c1-12; fi
}

make_base_images() {
  mkdir -p "$CACHE_DIR/images"
  if ! build_docker image inspect "$BUSYBOX_TAG" >/dev/null 2>&1; then
    local tar="$CACHE_DIR/images/busybox-rootfs.tar"
    if [[ ! -f $tar ]]; then
      local fs; fs=$(mktemp -d)
      mkdir -p "$fs/bin" "$fs/etc" "$fs/tmp" "$fs/proc" "$fs/sys" "$fs/dev" "$fs/usr/bin" "$fs/sbin" "$fs/usr/sbin"
      cp /bin/busybox "$fs/bin/busybox"
      # Applet links, so that RUN and ENTRYPOINT scripts find sh, sed, nc, httpd, ...
      for applet in $(/bin/busybox --list-full | grep -vx bin/busybox); do ln -sf /bin/busybox "$fs/$applet" 2>/dev/null || true; done
      printf 'root:x:0:0:root:/root:/bin/sh\n' >"$fs/etc/passwd"; printf 'root:x:0:\n' >"$fs/etc/group"
      chmod 1777 "$fs/tmp"
      tar -C "$fs" -cf "$tar.tmp" . && mv "$tar.tmp" "$tar"; rm -rf "$fs"
    fi
    build_docker import --change 'CMD ["/bin/sh"]' --change 'LABEL org.opencontainers.image.source=busybox-static' \
      "$tar" "$BUSYBOX_TAG" >/dev/null
    log "base image $BUSYBOX_TAG imported"
  fi
  local trust; trust=$(trust_anchors_hash)
  if [[ $(build_docker image inspect -f '{{index .Config.Labels "net.contrail-deploy.trust-anchors"}}' "$DEBIAN_TAG" 2>/dev/null) != "$trust" ]]; then
    local tar="$CACHE_DIR/images/debian-bookworm-minbase-$trust.tar"
    if [[ ! -f $tar ]]; then
      local mirror="${CONTRAIL_DEBIAN_MIRROR:-$(debian_mirror)}" fs; fs=$(mktemp -d)
      log "making the Debian bookworm base with debootstrap (once; cached in $tar)"
      debootstrap --variant=minbase bookworm "$fs" "$mirror" >"$LAB_DIR/logs/debootstrap.log" 2>&1 \
        || die "debootstrap failed: see $LAB_DIR/logs/debootstrap.log"
      # Images built on this base install packages from the same mirror, and trust what this machine trusts: its own
      # anchors (a company CA, a TLS-inspecting proxy's) join the system store when an image installs ca-certificates,
      # or builds that fetch over HTTPS (Maven Central) fail on this machine's network.
      mkdir -p "$fs/usr/local/share/ca-certificates"
      trust_anchors | while read -r f; do cp "$f" "$fs/usr/local/share/ca-certificates/"; done
      rm -rf "$fs"/var/cache/apt/archives/*.deb "$fs"/var/lib/apt/lists/*
      tar -C "$fs" --numeric-owner -cf "$tar.tmp" . && mv "$tar.tmp" "$tar"; rm -rf "$fs"
    fi
    build_docker import --change 'CMD ["/bin/bash"]' --change 'ENV DEBIAN_FRONTEND=noninteractive' \
      --change 'LABEL org.opencontainers.image.source=debootstrap-bookworm-minbase' \
      --change "LABEL net.contrail-deploy.trust-anchors=$trust" "$tar" "$DEBIAN_TAG" >/dev/null
    log "base image $DEBIAN_TAG imported"
  fi
}

# ---------------------------------------------------------------- test hosts
host_name() { # index (1-based) -> name; the first host is the controller
  if [[ $1 -eq 1 ]]; then echo controller1; else echo "compute$(($1 - 1))"; fi
}
host_roles() { if [[ $1 -eq 1 ]]; then echo controller; else echo compute; fi; }
host_ip() { echo "$LAB_PREFIX.$((10 + $1))"; }

ensure_bridge() {
  ip link show "$BRIDGE" >/dev/null 2>&1 || ip link add "$BRIDGE" type bridge
  [[ $(ip addr show dev "$BRIDGE") == *"inet $BRIDGE_IP/"* ]] || ip addr add "$BRIDGE_IP/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
}

ensure_netns() { # index
  local name ip ns veth
  name=$(host_name "$1"); ip=$(host_ip "$1"); ns="cdlab-$name"; veth="cdlab-v$1"
  [[ -e /var/run/netns/$ns ]] || ip netns add "$ns"
  if ! ip link show "$veth" >/dev/null 2>&1; then
    ip link add "$veth" type veth peer name eth0 netns "$ns"
  fi
  ip link set "$veth" master "$BRIDGE" up
  ip -n "$ns" link set lo up
  ip -n "$ns" link set eth0 up
  [[ $(ip -n "$ns" addr show dev eth0) == *"inet $ip/"* ]] || ip -n "$ns" addr add "$ip/24" dev eth0
}

start_host() { # index
  start_host_in "$(host_name "$1")" "$(host_ip "$1")" "cdlab-$(host_name "$1")" "" -o PermitRootLogin=prohibit-password
}

# A test host in its network namespace: its own Docker engine and sshd (in a private mount and UTS namespace), its lab
# users. The sshd's reachability is checked from the worker's namespace, or from the namespace named (a host only the
# bastion reaches). Extra arguments are sshd options.
start_host_in() { # name ip netns probe-netns sshd-options...
  local name=$1 ip=$2 ns=$3 probe_ns=$4 d; shift 4; d="$LAB_DIR/hosts/$name"
  mkdir -p "$d/docker" "$d/paths" /run/sshd "$HOST_RUN"
  for p in "${PRIVATE_HOST_PATHS[@]}"; do mkdir -p "$p" "$d/paths$p"; done
  echo '{}' >"$d/daemon.json"
  # Root's home is the host's own (as on a real machine), so this machine's shell start-up files (~/.bashrc, which
  # sshd's non-interactive shells read) do not run on the test hosts: they cost ~100 ms per SSH command here.
  # Written in place: a running host's bind mount of the file sees the new content.
  { sed "s#^root:\([^:]*:[^:]*:[^:]*:[^:]*\):[^:]*:#root:\1:$HOST_RUN/root:#" /etc/passwd; lab_user_lines; } >"$d/passwd"
  [[ -f $d/ssh_host_ed25519_key ]] || ssh-keygen -q -t ed25519 -N '' -C "$name" -f "$d/ssh_host_ed25519_key"

  local dpid; dpid=$(read_pid "$d/dockerd.pid")
  if ! pid_alive "$dpid"; then
    # A private mount namespace holds this host's socket dir (tmpfs) and its own copy of the host paths; a UTS
    # namespace its own host name (containers with host networking take it, as nova-compute's service name does).
    local mounts="hostname $name && mount -t tmpfs -o mode=0755 cdlab-$name $HOST_RUN && mkdir -m 0700 $HOST_RUN/root && mount --bind $d/passwd /etc/passwd"
    for p in "${PRIVATE_HOST_PATHS[@]}"; do mounts+=" && mount --bind $d/paths$p $p"; done
    setsid nsenter --net="/var/run/netns/$ns" unshare -m -u --propagation private -- /bin/sh -c \
      "$mounts && exec dockerd --config-file $d/daemon.json -H unix://$HOST_RUN/docker.sock --data-root $d/docker \
        --exec-root $HOST_RUN/exec --pidfile $HOST_RUN/docker.pid $DOCKERD_NETWORK_FLAGS" \
      >>"$LAB_DIR/logs/host-$name-docker.log" 2>&1 </dev/null &
    dpid=$!
    echo "$dpid" >"$d/dockerd.pid"
    log "host $name: Docker engine starting (pid $dpid)"
  fi
  for _ in $(seq 1 120); do
    nsenter -t "$dpid" -m -n docker -H "unix://$HOST_RUN/docker.sock" version >/dev/null 2>&1 && break
    pid_alive "$dpid" || die "host $name: the Docker engine exited: see $LAB_DIR/logs/host-$name-docker.log"
    sleep 0.5
  done
  # Added to a running host as well: its engine keeps running.
  ensure_lab_users "$name" "$dpid"

  local spid; spid=$(read_pid "$d/sshd.pid")
  if ! pid_alive "$spid"; then
    setsid nsenter -t "$dpid" -m -n -u /usr/sbin/sshd -D -e -f /dev/null \
      -o "ListenAddress=$ip" -o Port=22 -o "HostKey=$d/ssh_host_ed25519_key" \
      -o "AuthorizedKeysFile=$LAB_DIR/ssh/authorized_keys" -o PasswordAuthentication=no -o KbdInteractiveAuthentication=no \
      -o StrictModes=no -o UsePAM=no -o "PidFile=$HOST_RUN/sshd.pid" \
      -o "SetEnv=DOCKER_HOST=unix://$HOST_RUN/docker.sock CONTRAIL_LAB_HOST=$name" \
      -o "Subsystem=sftp internal-sftp" "$@" \
      >>"$LAB_DIR/logs/host-$name-sshd.log" 2>&1 </dev/null &
    echo $! >"$d/sshd.pid"
    log "host $name: sshd starting on $ip:22"
  fi
  wait_tcp "$ip" 22 "$probe_ns" || die "host $name: sshd does not answer on $ip:22: see $LAB_DIR/logs/host-$name-sshd.log"
}

wait_tcp() { # address port [netns]: true once something accepts connections there (from that namespace)
  local in=()
  [[ -n ${3:-} ]] && in=(ip netns exec "$3")
  for _ in $(seq 1 60); do
    "${in[@]}" bash -c 'exec 3<>"/dev/tcp/$1/$2"' wait_tcp "$1" "$2" 2>/dev/null && return 0
    sleep 0.25
  done
  return 1
}

# Hosts start and stop a few at a time: each engine takes a second or more to start and seconds to stop, and with a
# dozen hosts one after the other `lab up --hosts 12` (or back to 3) waited on each in turn.
HOST_PARALLEL=${CONTRAIL_LAB_HOST_PARALLEL:-6}

start_hosts() { # indexes...; fails (after every started one is waited for) when any host failed to come up
  local pids=() failed=0 i p
  for i in "$@"; do
    (ensure_netns "$i"; start_host "$i") &
    pids+=($!)
    if ((${#pids[@]} >= HOST_PARALLEL)); then for p in "${pids[@]}"; do wait "$p" || failed=1; done; pids=(); fi
  done
  for p in "${pids[@]}"; do wait "$p" || failed=1; done
  ((failed == 0)) || die "some lab hosts did not come up (see the messages above)"
  # known_hosts in host order, whatever order the hosts came up in.
  local name
  for i in "$@"; do
    name=$(host_name "$i")
    echo "$(host_ip "$i") $(cut -d' ' -f1,2 "$LAB_DIR/hosts/$name/ssh_host_ed25519_key.pub")"
  done >"$LAB_DIR/ssh/known_hosts.new"
}

# ---------------------------------------------------------------- lab users, as operators set up real hosts
# deploy may run anything as root through sudo without a password and is in the docker group; nosudo may do neither
# (the refused case). Each host has its own /etc/group, /etc/shadow, /etc/hosts and /etc/sudoers.d (bind mounts in
# its mount namespace).
DEPLOY_UID=2001
NOSUDO_UID=2002

lab_user_lines() {
  echo "deploy:x:$DEPLOY_UID:$DEPLOY_UID:contrail-deploy:$HOST_RUN/home/deploy:/bin/sh"
  echo "nosudo:x:$NOSUDO_UID:$NOSUDO_UID:no sudo rights:$HOST_RUN/home/nosudo:/bin/sh"
}

ensure_lab_users() { # name dockerd-pid
  local name=$1 pid=$2 d="$LAB_DIR/hosts/$1"
  { awk -F: -v OFS=: '$1 == "deploy" || $1 == "nosudo" { next } $1 == "docker" { $4 = ($4 == "" ? "deploy" : $4 ",deploy") } 1' /etc/group
    echo "deploy:x:$DEPLOY_UID:"; echo "nosudo:x:$NOSUDO_UID:"; } >"$d/group"
  { cat /etc/hosts; echo "127.0.1.1 $name"; } >"$d/hosts" # sudo looks its host name up
  # sudo's PAM account check wants a shadow entry: "*" (no password, not locked) for every user of the host.
  awk -F: '{ print $1 ":*:20000:0:99999:7:::" }' "$d/passwd" >"$d/shadow"
  chmod 0600 "$d/shadow"
  mkdir -p "$d/sudoers.d"; chmod 0755 "$d/sudoers.d"
  printf '%s\n' \
    '# The lab'"'"'s deploy user, set up as README "Real hosts" says. DOCKER_HOST is kept only because each lab host'"'"'s' \
    '# engine listens on a socket of its own (sshd sets the variable); a real host'"'"'s engine is on the default socket.' \
    'deploy ALL=(root) NOPASSWD: ALL' \
    'Defaults:deploy env_keep += "DOCKER_HOST"' >"$d/sudoers.d/contrail-lab"
  chmod 0440 "$d/sudoers.d/contrail-lab"
  # Paths and ids are arguments of the inner shell ($1..$4), never part of its code.
  nsenter -t "$pid" -m /bin/sh -c '
    for f in group shadow hosts sudoers.d; do grep -q " /etc/$f " /proc/self/mountinfo || mount --bind "$1/$f" "/etc/$f" || exit 1; done
    mkdir -p "$2/home/deploy" "$2/home/nosudo" && chmod 0755 "$2/home" &&
      chown "$3:$3" "$2/home/deploy" && chown "$4:$4" "$2/home/nosudo"' lab-users "$d" "$HOST_RUN" "$DEPLOY_UID" "$NOSUDO_UID" \
    || die "host $name: could not set up its lab users (deploy, nosudo)"
}

# ---------------------------------------------------------------- production-shaped: a bastion, hosts behind it, a CA
# The bastion is a namespace on the lab bridge and on a second bridge inside its own namespace, which the worker's
# namespace has no link to: the hosts on it (edgeN) are reached only through the bastion's sshd (ProxyJump). Their
# host keys are certified by the lab's SSH CA; root may not log in there. known_hosts.production holds what an
# operator's file would: the direct hosts hashed, the bastion on its own port, a @cert-authority line.
PROD_PREFIX="${CONTRAIL_LAB_PROD_PREFIX:-10.213.58}"
BASTION_NS=cdlab-bastion
BASTION_IP="$LAB_PREFIX.5"
BASTION_PORT=2222
BASTION_INNER_IP="$PROD_PREFIX.1"
INNER_BRIDGE=cdlab1
EDGE_HOSTS=1
edge_ip() { echo "$PROD_PREFIX.$((10 + $1))"; }

make_ssh_ca() {
  mkdir -p "$LAB_DIR/ssh/ca"
  [[ -f $LAB_DIR/ssh/ca/lab_ssh_ca ]] || ssh-keygen -q -t ed25519 -N '' -C 'contrail-deploy lab SSH CA' -f "$LAB_DIR/ssh/ca/lab_ssh_ca"
}

start_bastion() {
  local d="$LAB_DIR/bastion"
  mkdir -p "$d"
  [[ -f $d/ssh_host_ed25519_key ]] || ssh-keygen -q -t ed25519 -N '' -C bastion -f "$d/ssh_host_ed25519_key"
  { grep -v '^deploy:' /etc/passwd; echo "deploy:x:$DEPLOY_UID:$DEPLOY_UID:contrail-deploy:/:/bin/sh"; } >"$d/passwd"
  [[ -e /var/run/netns/$BASTION_NS ]] || ip netns add "$BASTION_NS"
  ip link show cdlab-vb >/dev/null 2>&1 || ip link add cdlab-vb type veth peer name eth0 netns "$BASTION_NS"
  ip link set cdlab-vb master "$BRIDGE" up
  ip -n "$BASTION_NS" link set lo up
  ip -n "$BASTION_NS" link set eth0 up
  [[ $(ip -n "$BASTION_NS" addr show dev eth0) == *"inet $BASTION_IP/"* ]] || ip -n "$BASTION_NS" addr add "$BASTION_IP/24" dev eth0
  ip -n "$BASTION_NS" link show "$INNER_BRIDGE" >/dev/null 2>&1 || ip -n "$BASTION_NS" link add "$INNER_BRIDGE" type bridge
  [[ $(ip -n "$BASTION_NS" addr show dev "$INNER_BRIDGE") == *"inet $BASTION_INNER_IP/"* ]] || ip -n "$BASTION_NS" addr add "$BASTION_INNER_IP/24" dev "$INNER_BRIDGE"
  ip -n "$BASTION_NS" link set "$INNER_BRIDGE" up
  # This namespace must not reach the inner subnet: without a route of its own, traffic for it would follow the
  # default route off the machine. Unreachable here, it fails at once and nothing leaves.
  [[ $(ip route show "$PROD_PREFIX.0/24") == unreachable* ]] || ip route add unreachable "$PROD_PREFIX.0/24"
  # The hosts behind it pull from the lab registry like the others: the bastion forwards and masquerades their
  # traffic to the lab bridge, and only there (their one route). Rules in its own namespace only.
  ip netns exec "$BASTION_NS" sysctl -qw net.ipv4.ip_forward=1
  if ! ip netns exec "$BASTION_NS" nft list table ip cdlab-nat >/dev/null 2>&1; then
    printf '%s\n' 'table ip cdlab-nat {' '  chain postrouting {' '    type nat hook postrouting priority srcnat;' \
      "    oifname \"eth0\" ip saddr $PROD_PREFIX.0/24 ip daddr $LAB_PREFIX.0/24 masquerade" '  }' '}' \
      | ip netns exec "$BASTION_NS" nft -f - || die "could not set up the bastion's forwarding (nft)"
  fi
  start_bastion_sshd
  wait_tcp "$BASTION_IP" "$BASTION_PORT" || die "the bastion's sshd does not answer on $BASTION_IP:$BASTION_PORT: see $LAB_DIR/logs/bastion-sshd.log"
}

bastion_listener() { # the pid of the process listening on the bastion's port, if any
  ip netns exec "$BASTION_NS" ss -Hltnp "( sport = :$BASTION_PORT )" 2>/dev/null | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2 || true
}

start_bastion_sshd() { # unless one listens already (then its pid is recorded)
  local d="$LAB_DIR/bastion" running; running=$(bastion_listener)
  if [[ -n $running ]]; then echo "$running" >"$d/sshd.pid"; return; fi
  # Its own mount namespace for its own users (deploy); root may not log in; it forwards connections and nothing else.
  setsid nsenter --net="/var/run/netns/$BASTION_NS" unshare -m --propagation private -- /bin/sh -c \
    "mount --bind $d/passwd /etc/passwd && exec /usr/sbin/sshd -D -e -f /dev/null -o ListenAddress=$BASTION_IP \
      -o Port=$BASTION_PORT -o HostKey=$d/ssh_host_ed25519_key -o AuthorizedKeysFile=$LAB_DIR/ssh/authorized_keys \
      -o PasswordAuthentication=no -o KbdInteractiveAuthentication=no -o PermitRootLogin=no -o StrictModes=no \
      -o UsePAM=no -o PidFile=$d/sshd-own.pid -o AllowTcpForwarding=yes -o PermitTTY=no" \
    >>"$LAB_DIR/logs/bastion-sshd.log" 2>&1 </dev/null &
  echo $! >"$d/sshd.pid"
  log "bastion: sshd starting on $BASTION_IP:$BASTION_PORT"
}

stop_bastion_sshd() { # the listener and the sessions it carries, as when the bastion goes away
  # The processes holding the bastion's port, found by their sockets in its namespace (listener and sessions).
  local pids
  pids=$(ip netns exec "$BASTION_NS" ss -Htnpa "( sport = :$BASTION_PORT )" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u || true)
  # shellcheck disable=SC2086
  [[ -z $pids ]] || kill $pids 2>/dev/null || true
  stop_pid "$LAB_DIR/bastion/sshd.pid" 5
  for _ in $(seq 1 20); do
    [[ -z $(ip netns exec "$BASTION_NS" ss -Hltn "( sport = :$BASTION_PORT )" 2>/dev/null) ]] && return 0
    sleep 0.25
  done
  die "the bastion's sshd did not stop"
}

certify_host_key() { # name address: a host certificate from the lab CA, for its name and address
  local d="$LAB_DIR/hosts/$1" ca="$LAB_DIR/ssh/ca/lab_ssh_ca"
  mkdir -p "$d"
  [[ -f $d/ssh_host_ed25519_key ]] || ssh-keygen -q -t ed25519 -N '' -C "$1" -f "$d/ssh_host_ed25519_key"
  local ca_fp; ca_fp=$(ssh-keygen -l -f "$ca.pub" | awk '{print $2}')
  if [[ ! -f $d/ssh_host_ed25519_key-cert.pub ]] || ! ssh-keygen -L -f "$d/ssh_host_ed25519_key-cert.pub" | grep -q "$ca_fp"; then
    ssh-keygen -q -s "$ca" -I "$1" -h -n "$1,$2" -V -5m:+3650d "$d/ssh_host_ed25519_key.pub"
  fi
}

start_edge_host() { # index: edgeN, on the bastion's inner bridge only
  local name="edge$1" ip ns="cdlab-edge$1" veth="cdlab-ve$1"; ip=$(edge_ip "$1")
  [[ -e /var/run/netns/$ns ]] || ip netns add "$ns"
  if ! ip -n "$BASTION_NS" link show "$veth" >/dev/null 2>&1; then
    ip link add "$veth" type veth peer name eth0 netns "$ns"
    ip link set "$veth" netns "$BASTION_NS"
  fi
  ip -n "$BASTION_NS" link set "$veth" master "$INNER_BRIDGE" up
  ip -n "$ns" link set lo up
  ip -n "$ns" link set eth0 up
  [[ $(ip -n "$ns" addr show dev eth0) == *"inet $ip/"* ]] || ip -n "$ns" addr add "$ip/24" dev eth0
  ip -n "$ns" route replace "$LAB_PREFIX.0/24" via "$BASTION_INNER_IP"
  certify_host_key "$name" "$ip"
  start_host_in "$name" "$ip" "$ns" "$BASTION_NS" -o PermitRootLogin=no -o "HostCertificate=$LAB_DIR/hosts/$name/ssh_host_ed25519_key-cert.pub"
}

write_production_known_hosts() {
  local f="$LAB_DIR/ssh/known_hosts.production" hashed="$LAB_DIR/ssh/known_hosts.hashed"
  cp "$LAB_DIR/ssh/known_hosts" "$hashed"
  ssh-keygen -q -H -f "$hashed" >/dev/null 2>&1 || die "ssh-keygen -H failed on $hashed"
  rm -f "$hashed.old"
  {
    echo "# The lab's production-shaped known_hosts (topology/lab-production.yaml): the direct hosts hashed (ssh-keygen -H),"
    echo "# the bastion on its own port, the hosts behind it by the CA that signs their host keys."
    cat "$hashed"
    echo "[$BASTION_IP]:$BASTION_PORT $(cut -d' ' -f1,2 "$LAB_DIR/bastion/ssh_host_ed25519_key.pub")"
    echo "@cert-authority $PROD_PREFIX.* $(cut -d' ' -f1,2 "$LAB_DIR/ssh/ca/lab_ssh_ca.pub")"
  } >"$f.new"
  mv "$f.new" "$f"
  rm -f "$hashed"
}

start_production_part() {
  make_ssh_ca
  start_bastion
  local i
  for i in $(seq 1 "$EDGE_HOSTS"); do start_edge_host "$i"; done
  write_production_known_hosts
}

stop_production_part() {
  local i d
  for i in $(seq 1 "$EDGE_HOSTS"); do
    d="$LAB_DIR/hosts/edge$i"
    stop_pid "$d/sshd.pid" 5 &
    stop_pid "$d/dockerd.pid" 30
    wait
    ip netns del "cdlab-edge$i" 2>/dev/null || true
    unmount_under "$d"
    rm -rf "$d"
  done
  stop_bastion_sshd
  ip link del cdlab-vb 2>/dev/null || true
  ip netns del "$BASTION_NS" 2>/dev/null || true
  ip route del unreachable "$PROD_PREFIX.0/24" 2>/dev/null || true
}

# ---------------------------------------------------------------- up / down / status
cmd_up() {
  local hosts; hosts=$(state_get hosts); hosts=${hosts:-3} # default: as many as now, else 3
  local temporal_kind; temporal_kind=$(state_get temporal); temporal_kind=${temporal_kind:-dev} # default: as now
  while (($#)); do
    case $1 in
      --temporal) [[ ${2:-} == dev || ${2:-} == cluster ]] || die "--temporal takes dev or cluster (got '${2:-}')" 2; temporal_kind=$2; shift 2 ;;
      --hosts) [[ ${2:-} =~ ^[1-9][0-9]?$ && $2 -le 50 ]] || die "--hosts takes a number from 1 to 50 (got '${2:-}')" 2; hosts=$2; shift 2 ;;
      *) die "lab up: unknown argument '$1' (usage: lab up [--hosts N] [--temporal dev|cluster])" 2 ;;
    esac
  done
  [[ $(id -u) -eq 0 ]] || die "the lab needs root (network namespaces, bridges, Docker engines); run it as root or with sudo" 3
  mkdir -p "$LAB_DIR"/{logs,temporal,tls,ssh,registry/data,hosts,build-engine} "$LAB_RUN"
  claim_machine
  check_prereqs
  # A previous lab with more hosts: remove the ones no longer wanted.
  # shellcheck disable=SC2046
  local old; old=$(state_get hosts); if [[ -n $old && $old -gt $hosts ]]; then stop_hosts $(seq $((hosts + 1)) "$old"); fi
  start_temporal
  make_tls; make_secrets; make_ssh_keys
  ensure_bridge
  start_registry
  start_build_engine
  make_base_images
  # shellcheck disable=SC2046
  start_hosts $(seq 1 "$hosts")
  mv "$LAB_DIR/ssh/known_hosts.new" "$LAB_DIR/ssh/known_hosts"
  start_production_part
  # The production-shaped cluster runs beside the dev server (which stays every client's default): lab/temporal-cluster.sh.
  # With it, workers on other "machines": a second build host and an operations host (lab/worker-hosts.sh).
  if [[ $temporal_kind == cluster ]]; then temporal_cluster up; worker_hosts up; else worker_hosts down; temporal_cluster down; fi
  printf 'hosts=%s\ntemporal=%s\n' "$hosts" "$temporal_kind" >"$LAB_DIR/state.env"
  log "lab is up"
  cmd_status
}

# Bridge, namespaces, ports and /run/cdlab are machine-wide: one lab at a time. A lab from another state dir whose
# processes are gone (a removed checkout, a reboot) is taken over; a live one is not.
claim_machine() {
  local owner; owner=$(cat "$LAB_RUN/owner" 2>/dev/null || true)
  if [[ -n $owner && $owner != "$LAB_DIR" ]]; then
    local alive=""
    for f in "$owner/temporal/pid" "$owner/registry/pid" "$LAB_RUN/build/docker.pid" "$owner"/hosts/*/dockerd.pid; do
      [[ -f $f ]] && pid_alive "$(read_pid "$f")" && alive=$f
    done
    [[ -z $alive ]] || die "a lab from $owner is running on this machine (see $alive): run 'lab down' there first, or use CONTRAIL_LAB_DIR=$owner" 3
    log "taking over from a stopped lab in $owner"
    rm -f "$LAB_RUN/build/docker.pid"
  fi
  echo "$LAB_DIR" >"$LAB_RUN/owner"
}

state_get() { grep -E "^$1=" "$LAB_DIR/state.env" 2>/dev/null | cut -d= -f2- || true; }

stop_pid() { # pidfile [wait seconds]
  local pid; pid=$(read_pid "$1")
  if pid_alive "$pid"; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 $((${2:-15} * 4))); do pid_alive "$pid" || break; sleep 0.25; done
    pid_alive "$pid" && kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$1"
}

unmount_under() { # dir: lazily unmount everything mounted below it (dockerd leaves netns and overlay mounts)
  awk -v d="$1/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
}

stop_host() { # index
  local name d; name=$(host_name "$1"); d="$LAB_DIR/hosts/$name"
  # Both at once: sshd takes about a second to go, dockerd a few (it stops its containers on the way out).
  stop_pid "$d/sshd.pid" 5 &
  stop_pid "$d/dockerd.pid" 30
  wait
  ip link del "cdlab-v$1" 2>/dev/null || true
  ip netns del "cdlab-$name" 2>/dev/null || true
  unmount_under "$d"
  rm -rf "$d"
}

stop_hosts() { # indexes...
  local pids=() i p
  for i in "$@"; do
    stop_host "$i" &
    pids+=($!)
    if ((${#pids[@]} >= HOST_PARALLEL)); then for p in "${pids[@]}"; do wait "$p" || true; done; pids=(); fi
  done
  for p in "${pids[@]}"; do wait "$p" || true; done
}

cmd_down() {
  local purge=0
  case "${1:-}" in
    --purge-cache) purge=1 ;;
    "") ;;
    *) die "lab down: unknown argument '$1' (usage: lab down [--purge-cache])" 2 ;;
  esac
  local n; n=$(state_get hosts); n=${n:-3}
  # Also sweep namespaces left by a lab whose state dir is gone (for example a removed checkout).
  local max=$n
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^cdlab-' || true); do
    [[ $ns =~ ^cdlab-compute([0-9]+)$ ]] && ((BASH_REMATCH[1] + 1 > max)) && max=$((BASH_REMATCH[1] + 1))
  done
  # shellcheck disable=SC2046
  stop_hosts $(seq 1 "$max")
  stop_production_part
  stop_pid "$LAB_RUN/build/docker.pid" 30
  stop_pid "$LAB_DIR/registry/pid" 5
  stop_pid "$LAB_DIR/temporal/pid" 10
  worker_hosts down
  temporal_cluster down
  ip link del "$BRIDGE" 2>/dev/null || true
  rm -rf "/etc/docker/certs.d/$REGISTRY_ADDR"
  for p in "${PRIVATE_HOST_PATHS[@]}"; do rmdir "$p" 2>/dev/null || true; done
  unmount_under "$LAB_DIR"
  unmount_under "$LAB_RUN"
  unmount_under "$CACHE_DIR/build-engine"
  rm -rf "$LAB_DIR" "$LAB_RUN"
  if ((purge)); then
    rm -rf "$CACHE_DIR"
    log "lab is down and the cache $CACHE_DIR is removed"
  else
    log "lab is down (the cache in $CACHE_DIR is kept: Temporal CLI, base image tarballs, the build engine's images and layers)"
  fi
}

json_str() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }

cmd_status() {
  local as_json=0
  [[ ${1:-} == --json ]] && as_json=1
  local n; n=$(state_get hosts); n=${n:-0}
  local temporal_addr="${TEMPORAL_ADDRESS:-127.0.0.1:$TEMPORAL_PORT}" cli
  cli=$(cat "$LAB_DIR/temporal/cli" 2>/dev/null || true)
  local t_up r_up b_up
  t_up=$([[ -n $cli ]] && "$cli" operator cluster health --address "$temporal_addr" >/dev/null 2>&1 && echo true || echo false)
  r_up=$(pid_alive "$(read_pid "$LAB_DIR/registry/pid")" && echo true || echo false)
  b_up=$(docker -H "${CONTRAIL_DOCKER_HOST:-unix://$BUILD_SOCK}" version >/dev/null 2>&1 && echo true || echo false)
  local hosts_json="" sep=""
  for i in $(seq 1 "$n"); do
    local name ip d up
    name=$(host_name "$i"); ip=$(host_ip "$i"); d="$LAB_DIR/hosts/$name"
    up=$(pid_alive "$(read_pid "$d/sshd.pid")" && pid_alive "$(read_pid "$d/dockerd.pid")" && echo true || echo false)
    hosts_json+="$sep{\"name\":$(json_str "$name"),\"address\":$(json_str "$ip"),\"roles\":[$(json_str "$(host_roles "$i")")],\"namespace\":$(json_str "cdlab-$name"),\"dockerHost\":$(json_str "unix://$HOST_RUN/docker.sock"),\"up\":$up}"
    sep=","
  done
  local ui="http://127.0.0.1:$TEMPORAL_UI_PORT"
  [[ -n ${TEMPORAL_ADDRESS:-} ]] && ui=""
  local paths_json; paths_json=$(printf '"%s",' "${PRIVATE_HOST_PATHS[@]}"); paths_json="[${paths_json%,}]"
  local json
  json="{\"labDir\":$(json_str "$LAB_DIR"),\"up\":$([[ $n -gt 0 ]] && echo true || echo false),"
  json+="\"temporal\":{\"address\":$(json_str "$temporal_addr"),\"ui\":$(json_str "$ui"),\"cli\":$(json_str "$cli"),\"namespace\":\"default\",\"up\":$t_up},"
  json+="\"temporalCluster\":$(temporal_cluster status --json),"
  json+="\"workerHosts\":$(worker_hosts status --json),"
  json+="\"docker\":{\"host\":$(json_str "${CONTRAIL_DOCKER_HOST:-unix://$BUILD_SOCK}"),\"up\":$b_up},"
  json+="\"registry\":{\"address\":$(json_str "$REGISTRY_ADDR"),\"ca\":$(json_str "$LAB_DIR/tls/ca.crt"),\"username\":$(json_str "$REGISTRY_USER"),\"passwordSecret\":\"LAB_REGISTRY_PASSWORD\",\"up\":$r_up},"
  json+="\"hosts\":[$hosts_json],"
  json+="\"production\":$(production_status_json),"
  json+="\"ssh\":{\"user\":\"root\",\"keyFile\":$(json_str "$LAB_DIR/ssh/id_ed25519"),\"knownHosts\":$(json_str "$LAB_DIR/ssh/known_hosts")},"
  json+="\"secrets\":$(json_str "$LAB_DIR/secrets.env"),\"privateHostPaths\":$paths_json,"
  json+="\"baseImages\":[\"$BUSYBOX_TAG\",\"$DEBIAN_TAG\"]}"
  if ((as_json)); then echo "$json"; return; fi
  if [[ $n -eq 0 ]]; then echo "lab: not up (start it with: contrail-deploy lab up)"; return; fi
  printf 'Temporal   %s  ui %s  (%s)\n' "$temporal_addr" "${ui:-n/a}" "$([[ $t_up == true ]] && echo up || echo DOWN)"
  [[ $(state_get temporal) == cluster ]] && temporal_cluster status && worker_hosts status
  printf 'Docker     %s  (%s)\n' "${CONTRAIL_DOCKER_HOST:-unix://$BUILD_SOCK}" "$([[ $b_up == true ]] && echo up || echo DOWN)"
  printf 'Registry   https://%s  user %s, password secret LAB_REGISTRY_PASSWORD  (%s)\n' "$REGISTRY_ADDR" "$REGISTRY_USER" "$([[ $r_up == true ]] && echo up || echo DOWN)"
  for i in $(seq 1 "$n"); do
    local name d up; name=$(host_name "$i"); d="$LAB_DIR/hosts/$name"
    up=$(pid_alive "$(read_pid "$d/sshd.pid")" && pid_alive "$(read_pid "$d/dockerd.pid")" && echo up || echo DOWN)
    printf 'Host       %-12s %-14s roles %-10s ssh root@%s (%s)\n' "$name" "$(host_ip "$i")" "$(host_roles "$i")" "$(host_ip "$i")" "$up"
  done
  printf 'SSH        key %s, known_hosts %s\n' "$LAB_DIR/ssh/id_ed25519" "$LAB_DIR/ssh/known_hosts"
  printf 'Bastion    %s:%s  user deploy, the only way to %s.0/24 (%s)\n' "$BASTION_IP" "$BASTION_PORT" "$PROD_PREFIX" "$(pid_alive "$(read_pid "$LAB_DIR/bastion/sshd.pid")" && echo up || echo DOWN)"
  for i in $(seq 1 "$EDGE_HOSTS"); do
    local d="$LAB_DIR/hosts/edge$i"
    printf 'Host       %-12s %-14s roles %-10s ssh deploy@%s through the bastion, CA-certified host key (%s)\n' "edge$i" "$(edge_ip "$i")" controller "$(edge_ip "$i")" \
      "$(pid_alive "$(read_pid "$d/sshd.pid")" && pid_alive "$(read_pid "$d/dockerd.pid")" && echo up || echo DOWN)"
  done
  printf 'Users      deploy (sudo without a password, docker group), nosudo (neither); known_hosts %s\n' "$LAB_DIR/ssh/known_hosts.production"
  printf 'Secrets    %s\n' "$LAB_DIR/secrets.env"
}

worker_hosts() { CONTRAIL_LAB_BASTION="$BASTION_IP:$BASTION_PORT" bash "$ROOT/lab/worker-hosts.sh" "$@"; }
temporal_cluster() { CONTRAIL_SEARCH_ATTRIBUTES="${SEARCH_ATTRIBUTES[*]}" CONTRAIL_NAMESPACE_RETENTION=$NAMESPACE_RETENTION bash "$ROOT/lab/temporal-cluster.sh" "$@"; }

production_status_json() {
  local b_up e_json="" sep="" i d up
  b_up=$(pid_alive "$(read_pid "$LAB_DIR/bastion/sshd.pid")" && echo true || echo false)
  for i in $(seq 1 "$EDGE_HOSTS"); do
    d="$LAB_DIR/hosts/edge$i"
    up=$(pid_alive "$(read_pid "$d/sshd.pid")" && pid_alive "$(read_pid "$d/dockerd.pid")" && echo true || echo false)
    e_json+="$sep{\"name\":\"edge$i\",\"address\":\"$(edge_ip "$i")\",\"roles\":[\"controller\"],\"namespace\":\"cdlab-edge$i\",\"up\":$up}"
    sep=","
  done
  printf '{"bastion":{"address":"%s","port":%s,"user":"deploy","namespace":"%s","up":%s},"hosts":[%s],' "$BASTION_IP" "$BASTION_PORT" "$BASTION_NS" "$b_up" "$e_json"
  printf '"users":{"sudo":"deploy","noSudo":"nosudo"},"knownHosts":%s,"sshCa":%s}' "$(json_str "$LAB_DIR/ssh/known_hosts.production")" "$(json_str "$LAB_DIR/ssh/ca/lab_ssh_ca.pub")"
}

cmd_env() { # shell lines that point docker and temporal at the lab
  echo "export DOCKER_HOST=${CONTRAIL_DOCKER_HOST:-unix://$BUILD_SOCK}"
  echo "export CONTRAIL_SECRETS_FILE=$LAB_DIR/secrets.env"
  [[ -f $LAB_DIR/temporal/cli ]] && echo "export TEMPORAL_CLI=$(cat "$LAB_DIR/temporal/cli")"
  echo "export TEMPORAL_ADDRESS=${TEMPORAL_ADDRESS:-127.0.0.1:$TEMPORAL_PORT}"
  # The cluster's settings (address, mutual TLS files, its CLI and UI) replace the dev server's.
  if [[ ${1:-} == --temporal && ${2:-} == cluster ]]; then temporal_cluster env; fi
}

# Run a command on a lab host, inside its namespaces (for tests and debugging; the pipeline itself uses SSH).
cmd_exec() {
  local name=${1:?usage: lab exec HOST CMD...}; shift
  local pid; pid=$(read_pid "$LAB_DIR/hosts/$name/dockerd.pid")
  pid_alive "$pid" || die "host $name is not running" 2
  DOCKER_HOST="unix://$HOST_RUN/docker.sock" exec nsenter -t "$pid" -m -n -u "$@"
}

# Faults for tests of retries and crash survival: the registry goes away and comes back; a host's link drops.
cmd_fault() {
  local usage="usage: lab fault registry down|up | lab fault temporal down|up | lab fault bastion down|up | lab fault link HOST down|up"
  case "${1:-} ${2:-}" in
    "registry down") stop_pid "$LAB_DIR/registry/pid" 5 ;;
    "registry up") start_registry ;;
    # The dev server stops and starts again on the same SQLite file: runs in flight must survive it.
    "temporal down") stop_pid "$LAB_DIR/temporal/pid" 10 ;;
    "temporal up") start_temporal ;;
    # The bastion's sshd and the sessions it carries go away, and come back (the hosts behind it stay up).
    "bastion down") stop_bastion_sshd ;;
    "bastion up") start_bastion_sshd; wait_tcp "$BASTION_IP" "$BASTION_PORT" || die "the bastion's sshd did not come back" ;;
    "link "*)
      local state=${3:-} i
      [[ $state == down || $state == up ]] || die "$usage" 2
      for i in $(seq 1 "$(state_get hosts)"); do
        [[ $(host_name "$i") == "$2" ]] && { ip link set "cdlab-v$i" "$state"; return; }
      done
      die "no lab host named $2" 2 ;;
    *) die "$usage" 2 ;;
  esac
}

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  fault) shift; cmd_fault "$@" ;;
  down) shift; cmd_down "$@" ;;
  status) shift; cmd_status "$@" ;;
  env) shift; cmd_env "$@" ;;
  exec) shift; cmd_exec "$@" ;;
  temporal-cli) mkdir -p "$LAB_DIR/logs"; temporal_cli ;;
  *) echo "usage: lab.sh up [--hosts N] | down [--purge-cache] | status [--json] | env | exec HOST CMD... | fault registry|temporal|bastion|link ... | temporal-cli" >&2; exit 2 ;;
esac
