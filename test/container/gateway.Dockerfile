# TEST-ONLY image of the REAL OpenClaw gateway, built from the npm package pinned in test/gateway/openclaw/
# (openclaw@2026.9.6, ~650 MB installed), because the official image (ghcr.io/openclaw/openclaw) cannot be pulled here.
# Build context: a directory holding that package.json + package-lock.json (test/container/images.ts prepares it
# under .cache/). It mirrors the official image where the sidecar cares: user node (uid 1000), state in
# /home/node/.openclaw, `openclaw` on PATH, a HEALTHCHECK on /healthz (the compose files add `init: true`).
FROM node:24-slim
WORKDIR /opt/openclaw
COPY package.json package-lock.json ./
# package.json's "allowScripts" lets only openclaw's own postinstall run (it finishes the package's lifecycle marker).
RUN npm ci --no-audit --no-fund --loglevel=error && npm cache clean --force \
 && ln -s /opt/openclaw/node_modules/openclaw/openclaw.mjs /usr/local/bin/openclaw
USER node
WORKDIR /home/node
RUN mkdir -m 700 /home/node/.openclaw
ENV NODE_ENV=production NO_COLOR=1
EXPOSE 18789
# The gateway answers /healthz before any auth or proxy attribution (node: no curl in the image).
HEALTHCHECK --interval=5s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:18789/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# --allow-unconfigured: start from the mounted openclaw.json alone, without the onboarding wizard.
ENTRYPOINT ["openclaw"]
CMD ["gateway", "run", "--allow-unconfigured", "--port", "18789"]
