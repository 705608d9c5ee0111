// `openclaw-sidecar doctor`: run from where the sidecar runs (inside its container), it talks to the gateway the way
// the sidecar would and names, in plain words, the failures users meet: nothing listening / "Empty reply from
// server", 403 proxy_attribution_required, 1008 pairing required / origin not allowed / token mismatch, a gateway too
// old for the mode. It ends with the gateway config to paste. Exit 0 only when the chosen mode will work.
import { certificateFindings } from "../setup/certificate-checks.ts";
import { type Config, trustedProxyEntry } from "../options/config.ts";
import { type ConnectResult, connectGateway } from "../setup/gateway-client.ts";
import {
  checkGatewayHttp,
  DASHBOARD_GATEWAY_URL_VERSION,
  forwardingHeaders,
  isLegacyRelease,
  type Finding,
  type Mark,
  oldReleaseAdvice,
  versionAtLeast,
} from "../setup/gateway-checks.ts";
import { gatewayConfigFor, isLoopbackHost, ownAddress } from "../setup/gateway-config.ts";

export { controlUiBuildId, versionAtLeast } from "../setup/gateway-checks.ts";

export interface DoctorOptions {
  /** The sidecar's own address as the gateway sees it; default: this host's first non-loopback IPv4. */
  sidecarAddress?: string | undefined;
  /** The gateway token for the test handshake (attribution mode); default env OPENCLAW_GATEWAY_TOKEN. */
  gatewayToken?: string | undefined;
  timeoutMs?: number;
}

/** The Origin of the test handshake: the one users open (publicOrigin), else the first allowed one, else localhost. */
export function testOrigin(config: Config): { origin: string; from: string } {
  if (config.publicOrigin) return { origin: config.publicOrigin.origin, from: "publicOrigin" };
  const first = config.allowedOrigins[0];
  if (first !== undefined) return { origin: first, from: "allowedOrigins" };
  return {
    origin: `http://localhost:${config.listen.port}`,
    from: "the listen port; set --public-origin to the origin your users open",
  };
}

export async function runDoctor(
  config: Config,
  out: NodeJS.WritableStream,
  sidecarAddress?: string,
  opts: DoctorOptions = {},
): Promise<number> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const upstream = config.upstream;
  const self = sidecarAddress ?? opts.sidecarAddress ?? ownAddress() ?? "<sidecar address>";
  const { origin, from } = testOrigin(config);
  let ok = true;
  const say = (mark: Mark, text: string) => {
    if (mark === "FAIL") ok = false;
    out.write(`[${mark}] ${text}\n`);
  };
  out.write(
    `openclaw-sidecar doctor: mode ${config.mode}, gateway ${upstream.origin}, this sidecar at ${self}, test Origin ${origin} (from ${from})\n\n`,
  );

  // 0. The certificate served and, with automatic HTTPS, the ACME status (certificate-checks.ts).
  for (const f of await certificateFindings(config)) say(f.mark, f.text);

  // 1–3. Reachability, release, attribution (gateway-checks.ts).
  const http = await checkGatewayHttp(config, self, timeoutMs);
  for (const f of http.findings) say(f.mark, f.text);
  const old = http.release.kind === "old";
  const version = http.release.kind === "old" ? http.release.version : undefined;
  if (!http.reachable) return finish(false, false);
  for (const f of gatewayTraps(config, http.release.kind === "current" ? http.release.version : undefined))
    say(f.mark, f.text);

  // 4. A test handshake as the Control UI would make it through the sidecar.
  // At the prefix, where the Control UI opens it (measured: ws://<host>/claw); the gateway accepts it on any path.
  const wsUrl = `${upstream.protocol === "https:" ? "wss" : "ws"}://${upstream.host}${config.publicBasePath || "/"}`;
  const token =
    config.mode === "local" ? config.credentials[0]?.token : (opts.gatewayToken ?? process.env.OPENCLAW_GATEWAY_TOKEN);
  const result = await connectGateway({
    url: wsUrl,
    clientId: "openclaw-control-ui",
    ...(http.buildId ? { buildId: http.buildId } : {}),
    headers: forwardingHeaders(config),
    origin,
    ...(token !== undefined && config.mode !== "identity" ? { token } : {}),
    timeoutMs: timeoutMs * 3,
  });
  const handshake = explainHandshake(result, config, self, origin, token !== undefined);
  // On an old release the release finding already says what works there; a protocol answer adds only its evidence.
  if (!(old && handshake.oldProtocol)) say(handshake.mark, handshake.text);
  else out.write(`       (confirmed by the test handshake: ${handshake.evidence})\n`);
  return finish(ok, old || handshake.oldProtocol === true);

  function finish(passed: boolean, oldRelease: boolean): number {
    const legacy = oldRelease && isLegacyRelease(version);
    if (oldRelease && config.mode === "identity") {
      out.write("\nNo gateway config for identity mode on this release: it needs gateway 2026.8.1 or later.\n");
    } else {
      out.write(`\nGateway config for ${config.mode} mode (paste into openclaw.json and restart the gateway):\n\n`);
      out.write(gatewayConfigFor(config, self === "<sidecar address>" ? undefined : self, { legacy }));
    }
    out.write(
      passed
        ? `\nRESULT: ${config.mode} mode will work.\n`
        : `\nRESULT: ${config.mode} mode will NOT work yet: fix the [FAIL] lines above.\n`,
    );
    return passed ? 0 : 1;
  }
}

/**
 * What the gateway does behind a sidecar that a person would not expect (issue 23 §4, §7b): its own dashboard link,
 * and node pairing in identity mode. `version`: the gateway's release when known and current.
 */
export function gatewayTraps(config: Config, version: string | undefined): Finding[] {
  const traps: Finding[] = [];
  if (version !== undefined && versionAtLeast(version, DASHBOARD_GATEWAY_URL_VERSION))
    traps.push({
      mark: "note",
      text:
        `gateway ${version}: the link \`openclaw dashboard\` prints or opens names the gateway's own loopback address ` +
        "(gatewayUrl=ws://127.0.0.1:<port>); opened through the sidecar the Control UI asks to switch to it " +
        "(openclaw#152524). Hand out the link \`openclaw-sidecar link\` prints instead",
    });
  // Nodes that reach the gateway with an identity: a machine credential's node, or the node WebSocket after a join.
  const nodesExpected =
    config.mode === "identity" &&
    (config.selfAuthenticatingRoutes || config.credentials.some((c) => c.clientId !== undefined));
  if (nodesExpected) {
    const path = isLoopbackHost(config.upstream.hostname)
      ? "the sidecar reaches the gateway over loopback (same pod or shared namespace), and there as over the network"
      : "over the network as over loopback (a same-pod sidecar)";
    traps.push({
      mark: "warn",
      text:
        `node pairing: ${path}, a node that connects through the sidecar with a user is not auto-approved — ` +
        "deviceAutoApprove covers browser and native UI operator devices only, and gateway.nodes.pairing." +
        "autoApproveCidrs does not apply to trusted-proxy connections (measured on 2026.9.6). Approve each new node " +
        "once: `openclaw devices approve <requestId>` (the sidecar logs the requestId)",
    });
  }
  return traps;
}

interface HandshakeVerdict {
  mark: Mark;
  text: string;
  oldProtocol?: boolean;
  evidence?: string;
}

function explainHandshake(
  result: ConnectResult,
  config: Config,
  self: string,
  origin: string,
  hadToken: boolean,
): HandshakeVerdict {
  const verdict = (mark: Mark, text: string): HandshakeVerdict => ({ mark, text: `test handshake: ${text}` });
  if (result.kind === "hello-ok") return verdict("ok", `hello-ok (scopes ${result.scopes.join(",") || "none"})`);
  if (result.kind === "http") {
    if (result.status === 403 && result.body.includes("proxy_attribution_required"))
      return verdict(
        "FAIL",
        `403 proxy_attribution_required (add "${trustedProxyEntry(self)}" to gateway.trustedProxies)`,
      );
    return verdict("FAIL", `the gateway answered the upgrade with HTTP ${result.status}`);
  }
  if (result.kind !== "close")
    return verdict("FAIL", result.kind === "timeout" ? `no answer (stage ${result.stage})` : result.message);
  const reason = result.reason;
  const authReason = String(result.error?.details?.authReason ?? "");
  if (/^protocol mismatch/.test(reason)) {
    // 2026.8.x+: the device was paired, then the gateway asked this client (which sent no build id) to reload.
    if (result.code === 1008 && /Control UI updated/.test(reason))
      return verdict("ok", "authenticated and paired (the gateway then asked this test client to reload)");
    // Anything else is a gateway that does not speak protocol 4: 2026.1.29 closes 1002 with details.expectedProtocol 3.
    const expected = result.error?.details?.expectedProtocol;
    const evidence = `closed ${result.code} "${reason}"${expected !== undefined ? `, the gateway speaks protocol ${String(expected)}` : ""}`;
    return {
      ...verdict(
        "FAIL",
        `${evidence}, not 4: the gateway is a release older than 2026.8.1, which this sidecar does not support: ${oldReleaseAdvice(config.mode, self)}. Upgrade the gateway`,
      ),
      oldProtocol: true,
      evidence,
    };
  }
  // Identity mode first: a gateway that asks for its own token or password is not in trusted-proxy mode at all.
  const sharedSecret = /gateway (token|password) (missing|mismatch)/.exec(reason);
  if (config.mode === "identity" && sharedSecret) {
    return verdict(
      "FAIL",
      `${result.code} ${reason.split(" (")[0]} — the gateway is in auth.mode "${sharedSecret[1]}", but identity mode needs auth.mode "trusted-proxy". Replace gateway.auth with the block printed below (it keeps a password for internal clients) and restart the gateway`,
    );
  }
  if (/^pairing required/.test(reason)) {
    if (config.mode === "attribution")
      return verdict(
        "warn",
        "1008 pairing required — expected in attribution mode: each new browser is approved once with `openclaw devices approve <requestId>` (or use identity mode)",
      );
    if (config.mode === "identity")
      return verdict(
        "FAIL",
        "1008 pairing required — enable gateway.auth.trustedProxy.deviceAutoApprove: { enabled: true }",
      );
    return verdict(
      "FAIL",
      "1008 pairing required — the gateway does not see this sidecar as local: it must share the gateway's network namespace and dial 127.0.0.1 with no forwarding headers",
    );
  }
  if (/^origin not allowed/.test(reason))
    return verdict(
      "FAIL",
      `1008 origin not allowed — add the public origin to the gateway config:\n       gateway.controlUi.allowedOrigins: ["${origin}"]`,
    );
  if (/token mismatch/.test(reason))
    return verdict("FAIL", "1008 unauthorized: gateway token mismatch — the token does not match gateway.auth.token");
  if (/token missing/.test(reason)) {
    if (!hadToken)
      return verdict("warn", "the gateway wants its token; run doctor with OPENCLAW_GATEWAY_TOKEN set to check it");
    return verdict("FAIL", "1008 unauthorized: gateway token missing");
  }
  if (authReason.startsWith("trusted_proxy_")) {
    const hints: Record<string, string> = {
      trusted_proxy_untrusted_source: `this sidecar (${self}) is not in gateway.trustedProxies`,
      trusted_proxy_loopback_source:
        "the sidecar dials the gateway over loopback: set gateway.auth.trustedProxy.allowLoopback: true (shared namespace only)",
      trusted_proxy_local_interface_source:
        "the sidecar dials one of the gateway's own interface addresses: dial 127.0.0.1 in a shared namespace, or give the sidecar its own container",
      trusted_proxy_user_not_allowed: `the user is not in gateway.auth.trustedProxy.allowUsers`,
      trusted_proxy_no_proxies_configured: "gateway.trustedProxies is empty",
    };
    return verdict(
      "FAIL",
      `1008 unauthorized (${authReason}) — ${hints[authReason] ?? "check gateway.auth.trustedProxy"}`,
    );
  }
  if (/^unauthorized/.test(reason) && config.mode === "identity")
    return verdict(
      "FAIL",
      `${reason} — is the gateway in auth.mode "trusted-proxy" with userHeader "${config.identityHeader}"?`,
    );
  return verdict("FAIL", `closed ${result.code} ${reason}`);
}
