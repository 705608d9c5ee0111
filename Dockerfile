# openclaw-sidecar: a reverse proxy that runs beside the OpenClaw gateway (see README.md and compose/).
# No "# syntax=" line on purpose: it makes BuildKit pull a frontend image, and the image must build offline.
# Both stages start from node:24-slim; the sidecar needs Node >= 24 because it runs its .ts files directly.

# ---- stage 1: production dependencies only ------------------------------------------------------------------------
FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --omit=dev drops vitest, typescript and testcontainers (about 300 MB). The devDependencies and the
# optionalDependencies (the per-platform Node binaries `npm ci` brings along for running from source; the image has
# its own Node) are also deleted from this stage's package.json first, so that no dev tool's platform-specific
# packages are even considered. The runtime versions still come from package-lock.json, exactly. Nothing here depends
# on the architecture: the runtime dependencies are plain JavaScript (test/commands/platforms.test.ts), so the same steps
# build linux/amd64 and linux/arm64 from the multi-arch node:24-slim.
# --ignore-scripts: no runtime dependency needs one.
RUN npm pkg delete devDependencies optionalDependencies \
 && npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund --loglevel=error \
 && npm cache clean --force

# ---- stage 2: runtime -----------------------------------------------------------------------------------------------
FROM node:24-slim
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="openclaw-sidecar" \
      org.opencontainers.image.description="Reverse proxy that makes the OpenClaw gateway's Control UI and WebSocket API reachable safely in Docker" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="node:24-slim"
ENV NODE_ENV=production
WORKDIR /app
# Files stay owned by root: the runtime user can read the code but not change it.
COPY --from=deps /app/node_modules ./node_modules
# .dockerignore is an allowlist: this copies package*.json, bin/, src/ and nginx-compat/ (when present), nothing else.
COPY . .
RUN ln -s /app/bin/openclaw-sidecar /usr/local/bin/openclaw-sidecar
USER node
# 18789: the proxied listener (what browsers and CLIs reach). 9477: the admin listener (/healthz, /readyz, /metrics);
# it binds 127.0.0.1 by default, so set OPENCLAW_SIDECAR_ADMIN_LISTEN=0.0.0.0:9477 to scrape /metrics from outside.
EXPOSE 18789 9477
# The sidecar checks itself (no curl in the image): `healthcheck` GETs the admin /healthz and exits 0 or 1.
# Engine 20.10 has no --start-interval, so the first probe runs one interval after start.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "/app/src/cli.ts", "healthcheck"]
# The sidecar handles SIGTERM itself (it drains within drainTimeoutMs, default 5 s, under Docker's 10 s), so it can run
# as PID 1; compose files still set `init: true` so that a stray child process is reaped.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/app/src/cli.ts"]
CMD ["run"]
