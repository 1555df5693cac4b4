#!/bin/bash
# libvirt's entrypoint: renders /etc/libvirt/libvirtd.conf (TCP listener) and qemu.conf from the environment,
# idempotently, then runs the command (libvirtd -l).
set -euo pipefail

# libvirt's files are flat KEY = VALUE lines: an existing setting is replaced in place, else it is appended (the
# commented defaults stay as the package has them).
set_key() {
  local file=$1 key=$2 value=$3
  if grep -qE "^${key}[[:space:]]*=" "$file"; then
    KEY=$key VALUE=$value awk '$0 ~ "^" ENVIRON["KEY"] "[ \t]*=" { print ENVIRON["KEY"] " = " ENVIRON["VALUE"]; next } { print }' \
      "$file" >"$file.new"
    cat "$file.new" >"$file" && rm -f "$file.new"
  else
    echo "$key = $value" >>"$file"
  fi
}

conf=/etc/libvirt/libvirtd.conf
set_key "$conf" listen_tls 0
set_key "$conf" listen_tcp 1
set_key "$conf" tcp_port '"16509"'
# No authentication on TCP, as the original (nova-compute connects with qemu+tcp://HOST_IP/system): so listen on
# HOST_IP only, not on every address of the host.
if [ -n "${HOST_IP:-}" ]; then set_key "$conf" listen_addr "\"$HOST_IP\""; fi
set_key "$conf" auth_tcp '"none"'
# QEMU's console logs go to files: there is no virtlogd in this container.
set_key /etc/libvirt/qemu.conf stdio_handler '"file"'

# qemu runs as libvirt-qemu; the original opened /dev/kvm to it the same way.
if [ -e /dev/kvm ]; then chmod 0666 /dev/kvm; fi

exec "$@"
