# TEST-ONLY: the real gateway image of the container tier (openclaw-gateway-test, gateway.Dockerfile) laid out like the
# official image (ghcr.io/openclaw/openclaw: working directory /app, no entrypoint), so that the official compose
# file's own commands — `node dist/index.js gateway --bind … --port 18789` and the CLI's `node dist/index.js` — run
# unchanged. Used by test/container/init.test.ts.
ARG BASE=openclaw-gateway-test:2026.9.6
FROM ${BASE}
USER root
RUN mkdir -p /app && ln -s /opt/openclaw/node_modules/openclaw/dist /app/dist
WORKDIR /app
USER node
ENTRYPOINT []
CMD ["node", "dist/index.js", "gateway"]
