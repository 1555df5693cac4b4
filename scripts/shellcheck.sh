#!/usr/bin/env bash
# Every shell script of the project through shellcheck (Debian's package; `npm run setup` installs it): the image
# entrypoints and tools, the lab and these scripts. A warning that is not a mistake is disabled where it occurs, with
# a comment that says why. Usage: bash scripts/shellcheck.sh [FILE...]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v shellcheck >/dev/null || { echo "shellcheck: not installed (apt-get install shellcheck, or npm run setup)" >&2; exit 1; }

# Shell scripts are the *.sh files and the files whose first line names sh or bash (the images' tools have no suffix).
shell_scripts() {
  git ls-files --cached --others --exclude-standard -- images lab scripts | while read -r f; do
    [ -f "$f" ] || continue
    case $f in
      *.sh) echo "$f" ;;
      *) head -n1 "$f" | grep -Eq '^#!(/usr)?/bin/(env )?(ba)?sh' && echo "$f" ;;
    esac
  done
}

if [ $# -gt 0 ]; then files=("$@"); else mapfile -t files < <(shell_scripts); fi
# -x and SCRIPTDIR: the files an entrypoint sources are read from the checkout (its "# shellcheck source=" line).
shellcheck -x --source-path=SCRIPTDIR "${files[@]}"
echo "shellcheck: ${#files[@]} scripts, no warnings"
