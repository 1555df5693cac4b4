# shellcheck shell=bash
# The shell helpers every entrypoint and tool of the tree shares (sourced, never run; the base image carries them as
# /usr/local/lib/common.sh). Set ENTRYPOINT to the image's name first: messages start with it.

# die MESSAGE: stop the entrypoint, saying why on stderr (exit status DIE_STATUS, default 1).
die() { echo "${ENTRYPOINT:-entrypoint} entrypoint: $*" >&2; exit "${DIE_STATUS:-1}"; }

# split_hosts LIST: the hosts of a comma or space separated LIST (as the pipeline passes addresses), one a line.
split_hosts() {
  local h hosts
  IFS=', ' read -ra hosts <<<"$1"
  for h in "${hosts[@]}"; do if [ -n "$h" ]; then printf '%s\n' "$h"; fi; done
}

# first VAR: the first host of the variable named VAR, for settings that take one address.
first() { local h; h=$(split_hosts "${!1:-}"); printf '%s' "${h%%$'\n'*}"; }

# addr_list VAR PORT SEP: the hosts of the variable named VAR as "host:PORT", joined by SEP; PORT empty gives bare
# hosts. Several hosts stay a list (the 2015 images turned some lists into one unusable string).
addr_list() {
  local h out=""
  while read -r h; do out+="${out:+$3}$h${2:+:$2}"; done < <(split_hosts "${!1:-}")
  printf '%s' "$out"
}

# port_open HOST PORT: does HOST:PORT accept a TCP connection within 2 s? Host and port are arguments of the inner
# shell, never part of its code.
# shellcheck disable=SC2016 # the single quotes are meant: $1 and $2 expand in the inner shell, not here
port_open() { timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' port_open "$1" "$2" 2>/dev/null; }

# wait_until WHAT SECONDS STEP COMMAND...: run COMMAND every STEP seconds until it succeeds, saying once that WHAT is
# awaited; returns 1 when SECONDS have passed without success (the caller says what to do then).
wait_until() {
  local what=$1 limit=$2 step=$3 waited=0
  shift 3
  until "$@"; do
    [ "$waited" -lt "$limit" ] || return 1
    [ "$waited" -gt 0 ] || echo "${ENTRYPOINT:-entrypoint} entrypoint: waiting for $what"
    sleep "$step"
    waited=$((waited + step))
  done
}
