#!/usr/bin/env bash
# Installs the Debian packages the test suite starts as real peers, when missing.
set -euo pipefail
need=()
while read -r bin pkg; do
  [[ -z "$bin" ]] && continue
  command -v "$bin" >/dev/null 2>&1 || need+=("$pkg")
done < "$(dirname "$0")/system-deps.txt"
if (( ${#need[@]} == 0 )); then
  echo "all present"
  exit 0
fi
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "installed: ${need[*]}"
