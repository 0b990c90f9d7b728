#!/usr/bin/env bash
# One bootstrap for a fresh Debian 12 machine: installs what is missing
# (Debian packages, the conformance suite's npm packages from the committed
# lock file), then configures and builds hubcast into ./build.
# Usage: scripts/setup.sh [extra cmake -D options]
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(build-essential cmake pkg-config git ca-certificates openssl curl
      libwebsockets-dev libcjson-dev libjwt-dev libcmocka-dev libssl-dev libcurl4-openssl-dev libmosquitto-dev
      libmsgpack-dev
      nodejs npm chromium mosquitto redis-server libhiredis-dev)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A machine whose node/npm came from elsewhere (not dpkg) keeps them.
if command -v node >/dev/null && command -v npm >/dev/null; then
  tmp=(); for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || tmp+=("$p"); done
  missing=("${tmp[@]+"${tmp[@]}"}")
fi
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm packages for the conformance suite, from the committed lock file;
# reinstalled whenever the lock file changes.
if [ -f conformance/package-lock.json ]; then
  want=$(sha256sum conformance/package-lock.json | cut -d' ' -f1)
  have=$(cat conformance/node_modules/.hubcast-lock-sha 2>/dev/null || true)
  if [ "$want" != "$have" ]; then
    echo "setup: installing conformance npm packages"
    (cd conformance && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" > conformance/node_modules/.hubcast-lock-sha
  fi
fi

cmake -S . -B build "$@" >/dev/null
cmake --build build -j"$(nproc)"
