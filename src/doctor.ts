// `openclaw-sidecar doctor`: run from where the sidecar runs (inside its container), it talks to the gateway the way
// the sidecar would and names, in plain words, the failures users meet: nothing listening / "Empty reply from
// server", 403 proxy_attribution_required, 1008 pairing required / origin not allowed / token mismatch, a gateway too
// old for the mode. It ends with the gateway config to paste. Exit 0 only when the chosen mode will work.
import http from "node:http";
import https from "node:https";
import type { Config } from "./config.ts";
import { type ConnectResult, connectGateway } from "./gateway-client.ts";
import { gatewayConfigFor, ownAddress } from "./gateway-config.ts";
import { describeUpstreamFailure } from "./upstream-errors.ts";

/** deviceAutoApprove and proxy attribution enforcement arrived in 2026.8.1 (openclaw-gateway-trust.md §6). */
const MIN_VERSION = [2026, 8, 1];

export interface DoctorOptions {
  /** The sidecar's own address as the gateway sees it; default: this host's first non-loopback IPv4. */
  sidecarAddress?: string | undefined;
  /** The gateway token for the test handshake (attribution mode); default env OPENCLAW_GATEWAY_TOKEN. */
  gatewayToken?: string | undefined;
  timeoutMs?: number;
}

interface Probe { status: number; body: string }

function get(url: URL, headers: Record<string, string>, timeoutMs: number): Promise<Probe> {
  const request = url.protocol === "https:" ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "GET", headers, agent: false, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        if (body.length < 4_000_000) body += d; // the Control UI's index.html inlines its boot scripts: ~hundreds of KiB
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(Object.assign(new Error("timed out"), { code: "UPSTREAM_TIMEOUT" })));
    req.on("error", reject);
    req.end();
  });
}

export const versionAtLeast = (version: string, min: number[]): boolean => {
  const parts = version.split(/[.-]/).slice(0, 3).map(Number);
  for (let i = 0; i < min.length; i++) {
    const a = parts[i] ?? 0;
    const b = min[i] ?? 0;
    if (a !== b) return a > b;
  }
  return true;
};

/** The headers the sidecar itself would add in this mode (none in local mode). */
function forwardingHeaders(config: Config): Record<string, string> {
  if (config.mode === "local") return {};
  const headers: Record<string, string> = { "x-forwarded-for": config.loopbackSubstitute, "x-forwarded-proto": "http", "x-forwarded-host": config.upstream.host };
  const user = config.credentials[0]?.user;
  if (config.mode === "identity" && user !== undefined) headers[config.identityHeader] = user;
  return headers;
}

/**
 * The build id a Control UI client must send, from the served index.html: its `data-openclaw-control-ui-build-id`
 * is the gateway's build id (dist/build-info.json) followed by a 64-hex asset hash, and the connect schema allows
 * at most 96 characters.
 */
export function controlUiBuildId(indexHtml: string): string | undefined {
  const attr = /data-openclaw-control-ui-build-id="([^"]+)"/.exec(indexHtml)?.[1];
  return attr?.replace(/-[0-9a-f]{64}$/, "");
}

export async function runDoctor(config: Config, out: NodeJS.WritableStream, sidecarAddress?: string, opts: DoctorOptions = {}): Promise<number> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const upstream = config.upstream;
  const self = sidecarAddress ?? opts.sidecarAddress ?? ownAddress() ?? "<sidecar address>";
  let ok = true;
  const say = (mark: "ok" | "warn" | "FAIL", text: string) => {
    if (mark === "FAIL") ok = false;
    out.write(`[${mark}] ${text}\n`);
  };
  out.write(`openclaw-sidecar doctor: mode ${config.mode}, gateway ${upstream.origin}, this sidecar at ${self}\n\n`);

  // 1. Is anything there? /healthz is answered before ingress attribution, so it tells reachability alone.
  try {
    const health = await get(new URL("/healthz", upstream), {}, timeoutMs);
    if (health.status !== 200) say("FAIL", `the gateway answered /healthz with ${health.status}; is ${upstream.host} really the OpenClaw gateway?`);
    else say("ok", `the gateway answers at ${upstream.host}`);
  } catch (err) {
    const failure = describeUpstreamFailure(err, upstream);
    const why = failure.code === "ECONNRESET" ? 'it accepted the connection and closed it without a byte: "Empty reply from server". A gateway bound to loopback inside its container (gateway.bind: "loopback") behind a published port does exactly this; bind it to "lan".' : failure.message;
    say("FAIL", `cannot reach the gateway: ${why}`);
    return finish(false);
  }

  // 2. Version, from the Control UI's build id (it also serves as the buildId a Control UI client must send).
  // The index is public, but a trusted proxy must attribute even that request: try without headers, then as the
  // sidecar would send it.
  let buildId: string | undefined;
  let indexProblem = "";
  for (const headers of [{}, forwardingHeaders(config)]) {
    try {
      const index = await get(new URL("/", upstream), { accept: "text/html", ...headers }, timeoutMs);
      buildId = controlUiBuildId(index.body);
      if (buildId !== undefined) break;
      indexProblem = ` (GET / answered ${index.status})`;
    } catch (err) {
      indexProblem = ` (${(err as Error).message})`;
    }
  }
  const version = buildId?.split("-")[0];
  if (version === undefined) say("warn", `could not read the gateway version from its Control UI${indexProblem}`);
  else if (config.mode !== "local" && !versionAtLeast(version, MIN_VERSION)) say("FAIL", `gateway ${version} is older than 2026.8.1: ${config.mode} mode needs proxy attribution and trusted-proxy deviceAutoApprove; upgrade the gateway`);
  else say("ok", `gateway version ${version}`);

  // 3. Attribution: what the gateway makes of a request carrying the sidecar's forwarding headers.
  const forwarding = forwardingHeaders(config);
  try {
    const ready = await get(new URL("/readyz", upstream), forwarding, timeoutMs);
    if (ready.status === 403 && ready.body.includes("proxy_attribution_required")) {
      say("FAIL", `403 proxy_attribution_required: the gateway does not trust this sidecar's address. Add it to the gateway config:\n       gateway.trustedProxies: ["${self}/32"]`);
    } else if (config.mode === "local" && ready.status === 403) {
      say("FAIL", "the gateway refused a headerless request: local mode needs network_mode: service:<gateway> and an upstream on 127.0.0.1");
    } else {
      say("ok", `the gateway accepts this sidecar's forwarding headers (/readyz ${ready.status})`);
    }
  } catch (err) {
    say("FAIL", describeUpstreamFailure(err, upstream).message);
  }

  // 4. A test handshake as the Control UI would make it through the sidecar.
  const origin = config.allowedOrigins[0] ?? config.publicOrigin?.origin ?? `http://localhost:${config.listen.port}`;
  const wsUrl = `${upstream.protocol === "https:" ? "wss" : "ws"}://${upstream.host}/`;
  const token = config.mode === "local" ? config.credentials[0]?.token : (opts.gatewayToken ?? process.env.OPENCLAW_GATEWAY_TOKEN);
  const result = await connectGateway({
    url: wsUrl,
    clientId: "openclaw-control-ui",
    ...(buildId ? { buildId } : {}),
    headers: forwarding,
    origin,
    ...(token !== undefined && config.mode !== "identity" ? { token } : {}),
    timeoutMs: timeoutMs * 3,
  });
  explainHandshake(result, config, self, origin, token !== undefined, say);
  return finish(ok);

  function finish(passed: boolean): number {
    out.write(`\nGateway config for ${config.mode} mode (paste into openclaw.json and restart the gateway):\n\n`);
    out.write(gatewayConfigFor(config, self === "<sidecar address>" ? undefined : self));
    out.write(passed ? `\nRESULT: ${config.mode} mode will work.\n` : `\nRESULT: ${config.mode} mode will NOT work yet: fix the [FAIL] lines above.\n`);
    return passed ? 0 : 1;
  }
}

function explainHandshake(result: ConnectResult, config: Config, self: string, origin: string, hadToken: boolean, say: (m: "ok" | "warn" | "FAIL", t: string) => void): void {
  if (result.kind === "hello-ok") return say("ok", `test handshake: hello-ok (scopes ${result.scopes.join(",") || "none"})`);
  if (result.kind === "http") {
    if (result.status === 403 && result.body.includes("proxy_attribution_required")) return say("FAIL", `test handshake: 403 proxy_attribution_required (add "${self}/32" to gateway.trustedProxies)`);
    return say("FAIL", `test handshake: the gateway answered the upgrade with HTTP ${result.status}`);
  }
  if (result.kind !== "close") return say("FAIL", `test handshake: ${result.kind === "timeout" ? `no answer (stage ${result.stage})` : result.message}`);
  const reason = result.reason;
  const authReason = String(result.error?.details?.authReason ?? "");
  if (/^protocol mismatch/.test(reason)) return say("ok", "test handshake: authenticated and paired (the gateway then asked this test client to reload)");
  if (/^pairing required/.test(reason)) {
    if (config.mode === "attribution") return say("warn", "test handshake: 1008 pairing required — expected in attribution mode: each new browser is approved once with `openclaw devices approve <requestId>` (or use identity mode)");
    if (config.mode === "identity") return say("FAIL", "test handshake: 1008 pairing required — enable gateway.auth.trustedProxy.deviceAutoApprove: { enabled: true }");
    return say("FAIL", "test handshake: 1008 pairing required — the gateway does not see this sidecar as local: it must share the gateway's network namespace and dial 127.0.0.1 with no forwarding headers");
  }
  if (/^origin not allowed/.test(reason)) return say("FAIL", `test handshake: 1008 origin not allowed — add the public origin to the gateway config:\n       gateway.controlUi.allowedOrigins: ["${origin}"]`);
  if (/token mismatch/.test(reason)) return say("FAIL", "test handshake: 1008 unauthorized: gateway token mismatch — the token does not match gateway.auth.token");
  if (/token missing/.test(reason)) {
    if (!hadToken) return say("warn", "test handshake: the gateway wants its token; run doctor with OPENCLAW_GATEWAY_TOKEN set to check it");
    return say("FAIL", "test handshake: 1008 unauthorized: gateway token missing");
  }
  if (authReason.startsWith("trusted_proxy_")) {
    const hints: Record<string, string> = {
      trusted_proxy_untrusted_source: `this sidecar (${self}) is not in gateway.trustedProxies`,
      trusted_proxy_loopback_source: "the sidecar dials the gateway over loopback: set gateway.auth.trustedProxy.allowLoopback: true (shared namespace only)",
      trusted_proxy_local_interface_source: "the sidecar dials one of the gateway's own interface addresses: dial 127.0.0.1 in a shared namespace, or give the sidecar its own container",
      trusted_proxy_user_not_allowed: `the user is not in gateway.auth.trustedProxy.allowUsers`,
      trusted_proxy_no_proxies_configured: "gateway.trustedProxies is empty",
    };
    return say("FAIL", `test handshake: 1008 unauthorized (${authReason}) — ${hints[authReason] ?? "check gateway.auth.trustedProxy"}`);
  }
  if (/^unauthorized/.test(reason) && config.mode === "identity") return say("FAIL", `test handshake: ${reason} — is the gateway in auth.mode "trusted-proxy" with userHeader "${config.identityHeader}"?`);
  return say("FAIL", `test handshake: closed ${result.code} ${reason}`);
}
