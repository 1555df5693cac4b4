#!/bin/sh
# render-ini FILE SECTION KEY=VALUE...: writes the whole file from scratch on every start, so a restarted container
# renders exactly the same file (the 2015 entrypoints appended keys with sed on every start and grew duplicates).
set -eu # busybox sh; there is no pipeline here
file=$1 section=$2; shift 2
tmp="$file.tmp.$$"
{
  echo "[$section]"
  for kv in "$@"; do echo "${kv%%=*} = ${kv#*=}"; done
} >"$tmp"
mv "$tmp" "$file"
