#!/usr/bin/env bash
# The lab's production-shaped Temporal: PostgreSQL in the lab's state directory, the official server as separate
# processes (one frontend, two history, one matching, one worker), mutual TLS on the frontend with certificates from
# the lab CA, and the Web UI server. It runs beside the dev server (127.0.0.1:7233), which stays the default.
#
#   temporal-cluster.sh up | down | status [--json] | env | build
#   temporal-cluster.sh start|stop|kill NAME     NAME: postgres frontend history1 history2 matching worker ui
#
# Called by lab/lab.sh (`lab up --temporal cluster`, `lab down`, `lab status`, `lab env --temporal cluster`); tests
# call start/stop/kill for faults. The server and UI configuration is in temporal/ (shared with
# docker-compose.temporal.yml). Every address is loopback.
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LAB_DIR="${CONTRAIL_LAB_DIR:-$ROOT/.lab}"
CACHE_DIR="${CONTRAIL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/contrail-deploy}"
STATE="$LAB_DIR/temporal-cluster"
LOGS="$LAB_DIR/logs"
CONFIG_ROOT="$ROOT/temporal"

SERVER_VERSION=v1.29.1
UI_VERSION=v2.42.1
BIN_DIR="$CACHE_DIR/temporal-cluster"
SERVER_BIN="$BIN_DIR/temporal-server-$SERVER_VERSION"
SQL_TOOL_BIN="$BIN_DIR/temporal-sql-tool-$SERVER_VERSION"
UI_BIN="$BIN_DIR/temporal-ui-server-$UI_VERSION"
SCHEMA_DIR="$BIN_DIR/schema-$SERVER_VERSION/postgresql/v12"

# Fixed for the life of a cluster's database: more than the two history processes, so shards move when one dies.
NUM_HISTORY_SHARDS=8
NAMESPACE=default
# Passed by lab.sh (one list for the dev server and the cluster); these defaults are for a direct call.
read -ra SEARCH_ATTRIBUTES <<<"${CONTRAIL_SEARCH_ATTRIBUTES:-ReleaseTag Topology Initiator RunStatus ResumedFrom}"
NAMESPACE_RETENTION=${CONTRAIL_NAMESPACE_RETENTION:-2160h}

# Ports, all on 127.0.0.1: beside the dev server's 7233/8233 and its own random ports.
PG_PORT=57432
FRONTEND_PORT=7333
FRONTEND_HTTP_PORT=7343
UI_PORT=8333
FRONTEND_ADDR="127.0.0.1:$FRONTEND_PORT"
TLS_SERVER_NAME=temporal-frontend
DB_USER=temporal
DB_SECRET=LAB_TEMPORAL_DB_PASSWORD
# name -> "service grpcPort membershipPort" (the worker service serves no gRPC of its own that clients use).
declare -A PROCESSES=(
  [frontend]="frontend $FRONTEND_PORT 6333"
  [history1]="history 7334 6334"
  [history2]="history 7344 6344"
  [matching]="matching 7335 6335"
  [worker]="worker 7339 6339"
)
# Start order: history first (it owns the shards), the worker service last (it needs the frontend).
SERVER_ORDER=(history1 history2 matching frontend worker)

log() { printf '[temporal-cluster] %s\n' "$*" >&2; }
die() { printf 'temporal-cluster: %s\n' "$1" >&2; exit "${2:-1}"; }
pid_alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }
read_pid() { [[ -f "$1" ]] && cat "$1" || true; }
pidfile() { echo "$STATE/pids/$1.pid"; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Starts a daemon in its own session with only stdin/stdout/stderr: an inherited descriptor (a test's
# `flock /tmp/contrail-e2e.lock ...`) would otherwise stay held for the daemon's whole life. Prints its pid.
detach() { # log file, command...
  local out=$1; shift
  (
    for fd in "/proc/$BASHPID/fd/"*; do fd=${fd##*/}; ((fd > 2)) && eval "exec $fd>&-"; done
    exec setsid "$@" >>"$out" 2>&1 </dev/null
  ) &
  echo $!
}

# ---------------------------------------------------------------- binaries (built once, cached like the CLI)
go_install() { # package@version, name of the binary it makes, destination
  local gobin; gobin=$(mktemp -d "$BIN_DIR/build.XXXXXX")
  # nice: the build takes minutes of both cores, and tests may be running beside it.
  (cd /tmp && GOBIN="$gobin" GOFLAGS=-mod=mod nice -n 19 go install "$1") >>"$LOGS/temporal-cluster-build.log" 2>&1 \
    || { rm -rf "$gobin"; die "building $1 failed: see $LOGS/temporal-cluster-build.log"; }
  mv "$gobin/$2" "$3"; rm -rf "$gobin"
}

copy_schema() {
  # The schema files ship inside the server module; a private copy survives a cleaned Go module cache.
  local mod; mod="$(go env GOMODCACHE)/go.temporal.io/server@$SERVER_VERSION"
  [[ -d $mod/schema ]] || (cd /tmp && GOFLAGS=-mod=mod go mod download "go.temporal.io/server@$SERVER_VERSION") >>"$LOGS/temporal-cluster-build.log" 2>&1
  [[ -d $mod/schema/postgresql/v12 ]] || die "no PostgreSQL schema in $mod: see $LOGS/temporal-cluster-build.log"
  mkdir -p "$(dirname "$SCHEMA_DIR")"
  cp -r "$mod/schema/postgresql/v12" "$SCHEMA_DIR.tmp" && chmod -R u+w "$SCHEMA_DIR.tmp" && mv "$SCHEMA_DIR.tmp" "$SCHEMA_DIR"
}

ensure_binaries() {
  mkdir -p "$BIN_DIR" "$LOGS"
  # One build at a time (a second `lab up` waits for the first one's build).
  exec 9>"$BIN_DIR/build.lock"; flock 9
  if [[ ! -x $SERVER_BIN || ! -x $SQL_TOOL_BIN || ! -x $UI_BIN || ! -d $SCHEMA_DIR ]]; then
    command -v go >/dev/null 2>&1 || die "the Temporal server binaries are not in $BIN_DIR and there is no Go toolchain to build them: install Go (1.23 or later)" 3
  fi
  [[ -d $SCHEMA_DIR ]] || copy_schema
  if [[ ! -x $SQL_TOOL_BIN ]]; then
    log "building the Temporal schema tool $SERVER_VERSION (once)"
    go_install "go.temporal.io/server/cmd/tools/sql@$SERVER_VERSION" sql "$SQL_TOOL_BIN"
  fi
  if [[ ! -x $SERVER_BIN ]]; then
    log "building the Temporal server $SERVER_VERSION into $BIN_DIR (once; 3 to 8 minutes on 2 cores, less when the CLI was built first)"
    go_install "go.temporal.io/server/cmd/server@$SERVER_VERSION" server "$SERVER_BIN"
  fi
  if [[ ! -x $UI_BIN ]]; then
    log "building the Temporal UI server $UI_VERSION (once; about 2 minutes)"
    go_install "github.com/temporalio/ui-server/v2/cmd/server@$UI_VERSION" server "$UI_BIN"
  fi
  exec 9>&-
}

temporal_cli() {
  local cli; cli=$(cat "$LAB_DIR/temporal/cli" 2>/dev/null || true)
  [[ -x $cli ]] || cli="$CACHE_DIR/bin/temporal"
  [[ -x $cli ]] || die "no temporal CLI: run 'contrail-deploy lab up' first (it builds one)"
  echo "$cli"
}

# ---------------------------------------------------------------- secrets and certificates
secret_value() { grep -E "^$1=" "$LAB_DIR/secrets.env" 2>/dev/null | head -1 | cut -d= -f2- || true; }

db_password() {
  [[ -n $(secret_value "$DB_SECRET") ]] || { umask 077; echo "$DB_SECRET=$(openssl rand -hex 18)" >>"$LAB_DIR/secrets.env"; }
  secret_value "$DB_SECRET"
}

issue_cert() { # name, subject CN, extensions
  local d="$STATE/tls"
  [[ -f $d/$1.crt ]] && return
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$2" -keyout "$d/$1.key" -out "$d/$1.csr" >/dev/null 2>&1
  printf '%s\n' "$3" >"$d/$1.ext"
  openssl x509 -req -in "$d/$1.csr" -CA "$LAB_DIR/tls/ca.crt" -CAkey "$LAB_DIR/tls/ca.key" -CAcreateserial -days 825 \
    -extfile "$d/$1.ext" -out "$d/$1.crt" >/dev/null 2>&1 || die "could not issue the certificate $1 from the lab CA"
  rm -f "$d/$1.csr" "$d/$1.ext"
  chmod 600 "$d/$1.key"
}

make_certs() {
  [[ -f $LAB_DIR/tls/ca.key ]] || die "no lab CA in $LAB_DIR/tls: start the lab with 'contrail-deploy lab up' first" 3
  mkdir -p "$STATE/tls"
  # One folder with every file a deployment of the same shape mounts (TEMPORAL_TLS_DIR of docker-compose.temporal.yml).
  cp "$LAB_DIR/tls/ca.crt" "$STATE/tls/ca.crt"
  # The frontend: the name clients check (TEMPORAL_TLS_SERVER_NAME) and the loopback address.
  issue_cert frontend "$TLS_SERVER_NAME" "subjectAltName=DNS:$TLS_SERVER_NAME,DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth"
  # Clients: the pipeline's CLI, workers and tests; the server's own system worker and the UI server.
  issue_cert client "contrail-deploy client" "extendedKeyUsage=clientAuth"
  issue_cert internal "temporal internal client" "extendedKeyUsage=clientAuth"
}

# ---------------------------------------------------------------- PostgreSQL
pg_bin() {
  local d
  # shellcheck disable=SC2012 # version directories have plain names, and ls prints nothing where there is none
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [[ -n $d ]] && echo "$d"
}

ensure_postgres_installed() {
  [[ -n $(pg_bin) ]] && return
  log "installing PostgreSQL (Debian package postgresql)"
  { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; }; } \
    >>"$LOGS/apt.log" 2>&1 || die "could not install PostgreSQL (see $LOGS/apt.log): install the Debian package postgresql" 3
  # Debian starts a cluster of its own on 5432; the lab uses only its private one.
  command -v pg_ctlcluster >/dev/null && pg_lsclusters -h 2>/dev/null | while read -r ver name _; do pg_ctlcluster "$ver" "$name" stop 2>/dev/null || true; done
}

as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }

init_postgres() {
  local data="$STATE/postgres"
  [[ -f $data/PG_VERSION ]] && return
  # The server refuses to run as root: its files belong to the postgres user (the Debian package makes it).
  mkdir -p "$data" "$STATE/postgres-run"
  chown postgres:postgres "$data" "$STATE/postgres-run"; chmod 700 "$data"
  local pw; pw=$(mktemp "$STATE/pw.XXXXXX"); db_password >"$pw"; chown postgres "$pw"
  as_postgres "$(pg_bin)/initdb" -D "$data" -U "$DB_USER" --pwfile="$pw" --auth=scram-sha-256 --no-locale -E UTF8 \
    >>"$LOGS/temporal-cluster-postgres.log" 2>&1 || { rm -f "$pw"; die "initdb failed: see $LOGS/temporal-cluster-postgres.log"; }
  rm -f "$pw"
}

start_postgres() {
  ensure_postgres_installed
  init_postgres
  local pid; pid=$(read_pid "$(pidfile postgres)")
  if ! pid_alive "$pid"; then
    pid=$(detach "$LOGS/temporal-cluster-postgres.log" setpriv --reuid=postgres --regid=postgres --init-groups \
      "$(pg_bin)/postgres" -D "$STATE/postgres" -p "$PG_PORT" -k "$STATE/postgres-run" -c listen_addresses=127.0.0.1)
    echo "$pid" >"$(pidfile postgres)"
    log "PostgreSQL starting on 127.0.0.1:$PG_PORT (pid $pid)"
  fi
  for _ in $(seq 1 120); do
    "$(pg_bin)/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" && return
    pid_alive "$(read_pid "$(pidfile postgres)")" || die "PostgreSQL exited: see $LOGS/temporal-cluster-postgres.log"
    sleep 0.5
  done
  die "PostgreSQL did not answer on 127.0.0.1:$PG_PORT within 60 s: see $LOGS/temporal-cluster-postgres.log"
}

psql_value() { # database, query
  PGPASSWORD=$(db_password) "$(pg_bin)/psql" -h 127.0.0.1 -p "$PG_PORT" -U "$DB_USER" -d "$1" -tAqc "$2" 2>/dev/null || true
}

# ---------------------------------------------------------------- schemas
sql_tool() { # database, arguments...
  local db=$1; shift
  SQL_PLUGIN=postgres12 SQL_HOST=127.0.0.1 SQL_PORT=$PG_PORT SQL_USER=$DB_USER SQL_PASSWORD=$(db_password) \
    "$SQL_TOOL_BIN" --db "$db" "$@" >>"$LOGS/temporal-cluster-schema.log" 2>&1 \
    || die "the schema tool failed on database $db ($*): see $LOGS/temporal-cluster-schema.log"
}

# A new database gets the base schema; an existing one is only upgraded (update-schema applies the versioned
# directories newer than the recorded version, so moving SERVER_VERSION upgrades in place: never a re-create).
migrate_schema() { # database, schema subdirectory
  local db=$1 dir="$SCHEMA_DIR/$2/versioned" before="" after
  [[ $(psql_value postgres "select 1 from pg_database where datname = '$db'") == 1 ]] || sql_tool "$db" create-database
  if [[ -n $(psql_value "$db" "select to_regclass('schema_version')") ]]; then
    before=$(psql_value "$db" "select curr_version from schema_version")
  else
    sql_tool "$db" setup-schema -v 0.0
  fi
  sql_tool "$db" update-schema -d "$dir"
  after=$(psql_value "$db" "select curr_version from schema_version")
  if [[ -z $before ]]; then log "database $db: schema $after created"
  elif [[ $before == "$after" ]]; then log "database $db: schema $after, up to date"
  else log "database $db: schema upgraded from $before to $after"; fi
}

# ---------------------------------------------------------------- server processes
server_env() { # process name -> the environment of that process (one config file, per-process ports)
  local spec svc port member; read -ra spec <<<"${PROCESSES[$1]}"
  svc=${spec[0]}; port=${spec[1]}; member=${spec[2]}
  local up; up=$(tr '[:lower:]' '[:upper:]' <<<"$svc")
  printf '%s\n' \
    "TEMPORAL_DB_PORT=$PG_PORT" "TEMPORAL_DB_USER=$DB_USER" "TEMPORAL_DB_PASSWORD=$(db_password)" \
    "TEMPORAL_NUM_HISTORY_SHARDS=$NUM_HISTORY_SHARDS" "TEMPORAL_LOG_LEVEL=warn" \
    "TEMPORAL_FRONTEND_GRPC_PORT=$FRONTEND_PORT" "TEMPORAL_FRONTEND_HTTP_PORT=$FRONTEND_HTTP_PORT" \
    "TEMPORAL_${up}_GRPC_PORT=$port" "TEMPORAL_${up}_MEMBERSHIP_PORT=$member" \
    "TEMPORAL_TLS_CA=$LAB_DIR/tls/ca.crt" \
    "TEMPORAL_FRONTEND_TLS_CERT=$STATE/tls/frontend.crt" "TEMPORAL_FRONTEND_TLS_KEY=$STATE/tls/frontend.key" \
    "TEMPORAL_SYSTEM_WORKER_TLS_CERT=$STATE/tls/internal.crt" "TEMPORAL_SYSTEM_WORKER_TLS_KEY=$STATE/tls/internal.key" \
    "TEMPORAL_FRONTEND_TLS_SERVER_NAME=$TLS_SERVER_NAME" \
    "TEMPORAL_DYNAMIC_CONFIG_FILE=$CONFIG_ROOT/dynamicconfig/production.yaml"
}

ui_env() {
  printf '%s\n' "TEMPORAL_ADDRESS=$FRONTEND_ADDR" "TEMPORAL_UI_PORT=$UI_PORT" "TEMPORAL_UI_PUBLIC_URL=http://127.0.0.1:$UI_PORT" \
    "TEMPORAL_TLS_CA=$LAB_DIR/tls/ca.crt" "TEMPORAL_TLS_CERT=$STATE/tls/internal.crt" "TEMPORAL_TLS_KEY=$STATE/tls/internal.key" \
    "TEMPORAL_TLS_SERVER_NAME=$TLS_SERVER_NAME"
}

start_process() { # name
  local name=$1 pid; pid=$(read_pid "$(pidfile "$name")")
  pid_alive "$pid" && return
  local env_lines cmd
  if [[ $name == ui ]]; then
    mapfile -t env_lines < <(ui_env)
    cmd=("$UI_BIN" --root "$CONFIG_ROOT" --config ui --env production start)
  else
    mapfile -t env_lines < <(server_env "$name")
    local svc=${PROCESSES[$name]%% *}
    # --allow-no-auth: no authorizer; the frontend lets in only clients with a certificate from the lab CA.
    cmd=("$SERVER_BIN" --root "$CONFIG_ROOT" --config config --env production --allow-no-auth start --service "$svc")
  fi
  # A clean environment: the password reaches only this process (never its command line).
  pid=$(detach "$LOGS/temporal-cluster-$name.log" env -i PATH="$PATH" HOME="$HOME" "${env_lines[@]}" "${cmd[@]}")
  echo "$pid" >"$(pidfile "$name")"
  log "$name starting (pid $pid)"
}

wait_port() { # name, port
  for _ in $(seq 1 120); do
    port_open "$2" && return
    pid_alive "$(read_pid "$(pidfile "$1")")" || die "$1 exited: see $LOGS/temporal-cluster-$1.log"
    sleep 0.5
  done
  die "$1 did not listen on 127.0.0.1:$2 within 60 s: see $LOGS/temporal-cluster-$1.log"
}

cli_tls() { # the temporal CLI against the cluster, with the lab's client certificate
  "$(temporal_cli)" "$@" --address "$FRONTEND_ADDR" --tls-ca-path "$LAB_DIR/tls/ca.crt" \
    --tls-cert-path "$STATE/tls/client.crt" --tls-key-path "$STATE/tls/client.key" --tls-server-name "$TLS_SERVER_NAME"
}

wait_frontend() {
  for _ in $(seq 1 120); do
    cli_tls operator cluster health >/dev/null 2>&1 && return
    pid_alive "$(read_pid "$(pidfile frontend)")" || die "the frontend exited: see $LOGS/temporal-cluster-frontend.log"
    sleep 0.5
  done
  die "the frontend did not answer on $FRONTEND_ADDR within 60 s: see $LOGS/temporal-cluster-frontend.log"
}

setup_namespace() {
  if ! cli_tls operator namespace describe --namespace "$NAMESPACE" >/dev/null 2>&1; then
    cli_tls operator namespace create --namespace "$NAMESPACE" --retention "$NAMESPACE_RETENTION" >/dev/null 2>&1 \
      || die "could not create namespace $NAMESPACE on the cluster"
    log "namespace $NAMESPACE created (retention $NAMESPACE_RETENTION)"
  fi
  cli_retry operator namespace update --namespace "$NAMESPACE" --retention "$NAMESPACE_RETENTION" \
    || log "warning: could not set the retention of namespace $NAMESPACE"
  local existing sa; existing=$(cli_tls operator search-attribute list --namespace "$NAMESPACE" 2>/dev/null || true)
  for sa in "${SEARCH_ATTRIBUTES[@]}"; do
    grep -qw "$sa" <<<"$existing" && continue
    cli_retry operator search-attribute create --namespace "$NAMESPACE" --name "$sa" --type Keyword \
      || die "could not register search attribute $sa on the cluster: see $LOGS/temporal-cluster-frontend.log"
  done
}

# A namespace just created reaches every frontend and history cache within seconds: try for up to 20 s.
cli_retry() {
  for _ in $(seq 1 40); do
    cli_tls "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  return 1
}

# ---------------------------------------------------------------- client settings (@temporalio/envconfig)
write_client_settings() {
  local ca="$LAB_DIR/tls/ca.crt" cert="$STATE/tls/client.crt" key="$STATE/tls/client.key"
  # The variables every Temporal client reads (the temporal CLI, the SDKs' envconfig): no special code path.
  cat >"$STATE/client.env" <<EOF
export TEMPORAL_ADDRESS=$FRONTEND_ADDR
export TEMPORAL_NAMESPACE=$NAMESPACE
export TEMPORAL_TLS_CLIENT_CERT_PATH=$cert
export TEMPORAL_TLS_CLIENT_KEY_PATH=$key
export TEMPORAL_TLS_SERVER_CA_CERT_PATH=$ca
export TEMPORAL_TLS_SERVER_NAME=$TLS_SERVER_NAME
export TEMPORAL_CLI=$(temporal_cli)
export CONTRAIL_TEMPORAL_UI=http://127.0.0.1:$UI_PORT
EOF
  # The same as a profile, for TEMPORAL_CONFIG_FILE=... TEMPORAL_PROFILE=cluster.
  cat >"$STATE/temporal.toml" <<EOF
[profile.cluster]
address = "$FRONTEND_ADDR"
namespace = "$NAMESPACE"

[profile.cluster.tls]
client_cert_path = "$cert"
client_key_path = "$key"
server_ca_cert_path = "$ca"
server_name = "$TLS_SERVER_NAME"
EOF
}

# ---------------------------------------------------------------- commands
cmd_up() {
  [[ $(id -u) -eq 0 ]] || die "the cluster needs root (PostgreSQL runs as the postgres user)" 3
  mkdir -p "$STATE/pids" "$LOGS"
  ensure_binaries
  make_certs
  start_postgres
  migrate_schema temporal temporal
  migrate_schema temporal_visibility visibility
  local name spec first=${SERVER_ORDER[0]}
  # The first server to start writes the cluster's metadata into a new database; a server started beside it fails to
  # insert the same record and exits ("Unable to create server"). So the first one starts alone, the rest together.
  start_process "$first"
  read -ra spec <<<"${PROCESSES[$first]}"; wait_port "$first" "${spec[2]}"
  for name in "${SERVER_ORDER[@]:1}"; do
    start_process "$name"
  done
  for name in "${SERVER_ORDER[@]}"; do
    read -ra spec <<<"${PROCESSES[$name]}"; wait_port "$name" "${spec[2]}"
  done
  wait_frontend
  setup_namespace
  start_process ui
  wait_port ui "$UI_PORT"
  write_client_settings
  log "cluster is up: frontend $FRONTEND_ADDR (mutual TLS), UI http://127.0.0.1:$UI_PORT; client settings: $STATE/client.env"
}

stop_process() { # name, signal, seconds to wait
  local f; f=$(pidfile "$1")
  local pid; pid=$(read_pid "$f")
  if pid_alive "$pid"; then
    kill "-$2" "$pid" 2>/dev/null || true
    for _ in $(seq 1 $(($3 * 4))); do pid_alive "$pid" || break; sleep 0.25; done
    pid_alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

cmd_down() {
  [[ -d $STATE/pids ]] || return 0
  local name
  for name in ui worker frontend matching history2 history1; do stop_process "$name" TERM 10 & done
  wait
  # Fast shutdown: PostgreSQL rolls back open transactions and checkpoints.
  stop_process postgres INT 20
  log "cluster stopped (its database stays in $STATE/postgres until 'lab down' removes the lab)"
}

# Faults and restarts for tests: one process at a time.
cmd_process() { # start|stop|kill NAME
  local action=$1 name=${2:-}
  [[ $name == postgres || $name == ui || -n ${PROCESSES[$name]:-} ]] \
    || die "unknown process '$name' (one of: postgres ${SERVER_ORDER[*]} ui)" 2
  case $action in
    kill) local pid; pid=$(read_pid "$(pidfile "$name")"); pid_alive "$pid" && kill -KILL "$pid"; rm -f "$(pidfile "$name")" ;;
    stop) if [[ $name == postgres ]]; then stop_process postgres INT 20; else stop_process "$name" TERM 10; fi ;;
    start)
      if [[ $name == postgres ]]; then start_postgres; return; fi
      start_process "$name"
      if [[ $name == ui ]]; then wait_port ui "$UI_PORT"; else local spec; read -ra spec <<<"${PROCESSES[$name]}"; wait_port "$name" "${spec[2]}"; fi
      [[ $name == frontend ]] && wait_frontend
      return 0 ;;
  esac
}

json_str() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }
json_bool() { "$@" && echo true || echo false; }
cli_quiet() { cli_tls "$@" >/dev/null 2>&1; }

process_json() { # name service ports-json
  local pid; pid=$(read_pid "$(pidfile "$1")")
  pid_alive "$pid" || pid=""
  printf '{"name":%s,"service":%s,"pid":%s,"up":%s,"ports":%s,"log":%s}' "$(json_str "$1")" "$(json_str "$2")" \
    "${pid:-null}" "$([[ -n $pid ]] && echo true || echo false)" "$3" "$(json_str "$LOGS/temporal-cluster-$1.log")"
}

cmd_status_json() {
  if [[ ! -d $STATE/pids ]]; then echo null; return; fi
  local procs="" sep="" name spec
  for name in frontend history1 history2 matching worker; do
    read -ra spec <<<"${PROCESSES[$name]}"
    local ports="{\"grpc\":${spec[1]},\"membership\":${spec[2]}}"
    [[ $name == frontend ]] && ports="{\"grpc\":${spec[1]},\"http\":$FRONTEND_HTTP_PORT,\"membership\":${spec[2]}}"
    [[ $name == worker ]] && ports="{\"membership\":${spec[2]}}"
    procs+="$sep$(process_json "$name" "${spec[0]}" "$ports")"; sep=","
  done
  procs+=",$(process_json ui ui "{\"http\":$UI_PORT}")"
  local pg_pid pg_up; pg_pid=$(read_pid "$(pidfile postgres)"); pid_alive "$pg_pid" || pg_pid=""
  pg_up=$([[ -n $pg_pid ]] && [[ -n $(pg_bin) ]] && "$(pg_bin)/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" && echo true || echo false)
  local schema_main="" schema_vis=""
  if [[ $pg_up == true ]]; then
    schema_main=$(psql_value temporal "select curr_version from schema_version"); schema_vis=$(psql_value temporal_visibility "select curr_version from schema_version")
  fi
  local healthy; healthy=$(json_bool cli_quiet operator cluster health)
  local json="{\"kind\":\"cluster\",\"up\":$healthy,\"serverVersion\":\"${SERVER_VERSION#v}\",\"uiVersion\":\"${UI_VERSION#v}\","
  json+="\"address\":$(json_str "$FRONTEND_ADDR"),\"namespace\":\"$NAMESPACE\",\"ui\":\"http://127.0.0.1:$UI_PORT\",\"numHistoryShards\":$NUM_HISTORY_SHARDS,"
  json+="\"processes\":[$procs],"
  json+="\"database\":{\"kind\":\"postgresql\",\"version\":$(json_str "$(basename "$(dirname "$(pg_bin)")")"),\"address\":\"127.0.0.1:$PG_PORT\",\"pid\":${pg_pid:-null},\"up\":$pg_up,"
  json+="\"dataDir\":$(json_str "$STATE/postgres"),\"user\":\"$DB_USER\",\"passwordSecret\":\"$DB_SECRET\","
  json+="\"schemas\":{\"temporal\":$(json_str "$schema_main"),\"temporal_visibility\":$(json_str "$schema_vis")},\"log\":$(json_str "$LOGS/temporal-cluster-postgres.log")},"
  json+="\"client\":{\"envFile\":$(json_str "$STATE/client.env"),\"configFile\":$(json_str "$STATE/temporal.toml"),\"profile\":\"cluster\","
  json+="\"address\":$(json_str "$FRONTEND_ADDR"),\"serverName\":\"$TLS_SERVER_NAME\",\"serverCaCert\":$(json_str "$LAB_DIR/tls/ca.crt"),"
  json+="\"clientCert\":$(json_str "$STATE/tls/client.crt"),\"clientKey\":$(json_str "$STATE/tls/client.key")},"
  json+="\"config\":{\"server\":$(json_str "$CONFIG_ROOT/config/production.yaml"),\"dynamic\":$(json_str "$CONFIG_ROOT/dynamicconfig/production.yaml"),\"ui\":$(json_str "$CONFIG_ROOT/ui/production.yaml")}}"
  echo "$json"
}

cmd_status() {
  [[ ${1:-} == --json ]] && { cmd_status_json; return; }
  [[ -d $STATE/pids ]] || { echo "Temporal cluster: not started (contrail-deploy lab up --temporal cluster)"; return; }
  local name pid
  printf 'Cluster    %s  mutual TLS, ui http://127.0.0.1:%s  (%s); client settings: %s\n' "$FRONTEND_ADDR" "$UI_PORT" \
    "$(cli_tls operator cluster health >/dev/null 2>&1 && echo up || echo DOWN)" "$STATE/client.env"
  for name in postgres frontend history1 history2 matching worker ui; do
    pid=$(read_pid "$(pidfile "$name")")
    printf '           %-9s pid %-8s %s\n' "$name" "${pid:--}" "$(pid_alive "$pid" && echo up || echo DOWN)"
  done
}

cmd_env() {
  [[ -f $STATE/client.env ]] || die "the Temporal cluster is not set up: run 'contrail-deploy lab up --temporal cluster'" 2
  cat "$STATE/client.env"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) shift; cmd_status "$@" ;;
  env) cmd_env ;;
  build) mkdir -p "$LOGS"; ensure_binaries ;;
  start | stop | kill) cmd_process "$1" "${2:-}" ;;
  *) echo "usage: temporal-cluster.sh up | down | status [--json] | env | build | start|stop|kill NAME" >&2; exit 2 ;;
esac
