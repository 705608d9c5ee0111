// print-client-config (issue 16 §2): the block for the machine that runs the OpenClaw CLI or TUI against a gateway
// behind the sidecar in identity mode. The CLI sends `gateway.remote.edgeAuth` headers on its WebSocket upgrade —
// only over wss:// (the CLI refuses them on ws://) — and the sidecar takes them as a login: a Bearer with a sidecar
// token, or a machine credential's CF-Access-Client-Id / -Secret pair. Measured with the real CLI
// (test/gateway/clients.test.ts): `openclaw health` is answered as that user, with no pairing asked.
import type { Config } from "../options/config.ts";

export function clientConfigFor(config: Config): { text: string } | { error: string } {
  if (config.mode !== "identity") {
    return {
      error: `print-client-config is for identity mode (mode is "${config.mode}"): in ${config.mode} mode the CLI uses the gateway's own token (gateway.remote.token)`,
    };
  }
  const origin = config.publicOrigin;
  const url =
    origin === undefined
      ? "wss://<the sidecar's public host>"
      : origin.protocol === "https:"
        ? `wss://${origin.host}`
        : undefined;
  if (url === undefined)
    return {
      error: `the CLI sends edgeAuth headers only over wss://, and publicOrigin is ${origin?.origin}: terminate TLS at the sidecar (tlsCert/tlsKey, acmeDomains) or in front of it`,
    };
  const machine = config.credentials.some((c) => c.clientId !== undefined);
  const edgeAuth = machine
    ? {
        "CF-Access-Client-Id": { source: "env", provider: "default", id: "CF_ACCESS_CLIENT_ID" },
        "CF-Access-Client-Secret": { source: "env", provider: "default", id: "CF_ACCESS_CLIENT_SECRET" },
      }
    : { Authorization: { source: "env", provider: "default", id: "OPENCLAW_SIDECAR_BEARER" } };
  const block = {
    secrets: { providers: { default: { source: "env" } } },
    gateway: { mode: "remote", auth: { mode: "none" }, remote: { url, edgeAuth } },
  };
  const env = machine
    ? "export CF_ACCESS_CLIENT_ID=<clientId> CF_ACCESS_CLIENT_SECRET=<its secret>   # a tokensFile machine credential"
    : "export OPENCLAW_SIDECAR_BEARER='Bearer <your sidecar token>'";
  return {
    text:
      `// openclaw.json on the machine that runs the OpenClaw CLI / TUI, for a gateway behind openclaw-sidecar (identity mode).\n` +
      `// auth.mode "none": the sidecar, not a gateway token, authenticates this client (edgeAuth, sent only over wss://).\n` +
      `${JSON.stringify(block, null, 2)}\n` +
      `// Then, in the CLI's environment:\n//   ${env}\n` +
      `// The connection reaches the gateway as that user (trusted-proxy); no device pairing is asked for.\n`,
  };
}
