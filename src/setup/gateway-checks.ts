// What the gateway's HTTP side says about a setup, as findings a person can act on: is anything there, which release
// is it, does it accept this sidecar's forwarding headers. The doctor prints them (and adds its test handshake);
// the sidecar logs the first problem at startup (startup-probe.ts). No WebSocket here: a test handshake creates a
// pairing request on the gateway, which a probe at every start must not do.
import http from "node:http";
import https from "node:https";
import { type Config, trustedProxyEntry } from "../options/config.ts";
import { describeUpstreamFailure } from "../http/upstream-errors.ts";

/** deviceAutoApprove and proxy attribution enforcement arrived in 2026.8.1 (openclaw-gateway-trust.md §6). */
export const MIN_VERSION = [2026, 8, 1];
/** Releases before this one match trustedProxies as exact strings, no CIDRs (§0.4, §6): they get the legacy block. */
export const CIDR_VERSION = [2026, 2, 21];
/**
 * Before this release a trusted-proxy gateway failed `openclaw update`'s verification and rolled the update back
 * (openclaw#141046, fixed by #153540 in 2026.9.6: "verify paired trusted-proxy Gateways with their service
 * credentials", the gateway's CHANGELOG).
 */
export const PROXY_UPDATE_VERSION = [2026, 9, 6];
/** From this release `openclaw dashboard` links name the gateway's loopback gatewayUrl (openclaw#152524). */
export const DASHBOARD_GATEWAY_URL_VERSION = [2026, 9, 3];

/** The warning for identity mode on a gateway older than 2026.9.6 (`version` undefined: an old, unknown one). */
export function proxyUpdateAdvice(version: string | undefined): string {
  return (
    `${version === undefined ? "this gateway release" : `gateway ${version}`} is older than 2026.9.6: in trusted-proxy mode (identity mode) its ` +
    "`openclaw update` fails verification and rolls the update back (openclaw#141046, fixed by #153540 in 2026.9.6). " +
    "Upgrade straight to 2026.9.6 or later: the 2026.9.6+ image in Docker, or install the package of that release and " +
    "restart the gateway. A rolled-back update leaves the previous release running; `openclaw update status` shows it"
  );
}

/** Whether an old release is one of the 2026.1.29 kind (measured): an unknown version, or one before CIDR support. */
export const isLegacyRelease = (version: string | undefined): boolean =>
  version === undefined || !versionAtLeast(version, CIDR_VERSION);

/** `note`: worth knowing, no problem (the startup check does not log it). */
export type Mark = "ok" | "note" | "warn" | "FAIL";
export interface Finding {
  mark: Mark;
  text: string;
}

/**
 * `current`: a build id at least MIN_VERSION. `old`: an older build id, or no build id and no /healthz endpoint (what
 * 2026.1.29 looks like). `unknown`: no build id, but a /healthz: a test handshake decides.
 */
export type Release =
  { kind: "current"; version: string } | { kind: "old"; version?: string; evidence: string } | { kind: "unknown" };

export interface GatewayHttpReport {
  findings: Finding[];
  /** False when nothing usable answered: the other checks were not run. */
  reachable: boolean;
  release: Release;
  /** The Control UI build id (what a Control UI client sends in connect), when the index has one. */
  buildId?: string | undefined;
}

interface Probe {
  status: number;
  contentType: string;
  body: string;
}

export function get(url: URL, headers: Record<string, string>, timeoutMs: number): Promise<Probe> {
  const request = url.protocol === "https:" ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "GET", headers, agent: false, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        // the Control UI's index.html inlines its boot scripts: ~hundreds of KiB
        if (body.length < 4_000_000) body += d;
      });
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, contentType: String(res.headers["content-type"] ?? ""), body }),
      );
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

/**
 * The build id a Control UI client must send, from the served index.html: its `data-openclaw-control-ui-build-id`
 * is the gateway's build id (dist/build-info.json) followed by a 64-hex asset hash, and the connect schema allows
 * at most 96 characters.
 */
export function controlUiBuildId(indexHtml: string): string | undefined {
  const attr = /data-openclaw-control-ui-build-id="([^"]+)"/.exec(indexHtml)?.[1];
  return attr?.replace(/-[0-9a-f]{64}$/, "");
}

/** The headers the sidecar itself would add in this mode (none in local mode). */
export function forwardingHeaders(config: Config): Record<string, string> {
  if (config.mode === "local") return {};
  const headers: Record<string, string> = {
    "x-forwarded-for": config.loopbackSubstitute,
    "x-forwarded-proto": "http",
    "x-forwarded-host": config.upstream.host,
  };
  const user = config.credentials[0]?.user;
  if (config.mode === "identity" && user !== undefined) headers[config.identityHeader] = user;
  return headers;
}

/**
 * What each mode can do on a gateway older than 2026.8.1, as measured against 2026.1.29 (docs/modes.md, "Supported
 * gateway releases"; test/gateway/old-release.test.ts). `version`: the release when known; 2026.2.21–2026.8.0 are
 * unmeasured.
 */
export function oldReleaseAdvice(mode: Config["mode"], self: string, version?: string): string {
  if (!isLegacyRelease(version)) {
    return mode === "identity"
      ? "identity mode needs trusted-proxy deviceAutoApprove, which arrived in 2026.8.1"
      : `releases between 2026.2.21 and 2026.8.0 are not measured with this sidecar (they do not enforce proxy attribution); ${mode} mode is supported from 2026.8.1`;
  }
  switch (mode) {
    case "attribution":
      return `attribution mode works there only with the sidecar's exact address in gateway.trustedProxies: ["${self}"] (it ignores CIDRs: with "${self}/32" it treats the sidecar as an untrusted proxy and records no client address), no controlUi.allowedOrigins key (it refuses to start with one); each browser is paired once`;
    case "identity":
      return `identity mode is impossible there: the gateway has no auth.mode "trusted-proxy" (it refuses to start with 'gateway.auth: Unrecognized key: "trustedProxy"'); use attribution mode until the gateway is upgraded`;
    case "local":
      return "local mode works there only when users open the sidecar as http://localhost:<port> (that release treats any other Host as remote and asks for pairing)";
  }
}

/** The gateway's own health endpoint answered (JSON), not the Control UI's catch-all page. */
const isHealthAnswer = (p: Probe): boolean => p.status === 200 && !p.contentType.includes("text/html");

export async function checkGatewayHttp(config: Config, self: string, timeoutMs: number): Promise<GatewayHttpReport> {
  const upstream = config.upstream;
  const findings: Finding[] = [];
  const say = (mark: Mark, text: string) => findings.push({ mark, text });

  // 1. Is anything there? /healthz is answered before ingress attribution, so it tells reachability alone.
  let health: Probe;
  try {
    health = await get(new URL("/healthz", upstream), {}, timeoutMs);
  } catch (err) {
    const failure = describeUpstreamFailure(err, upstream);
    const why =
      failure.code === "ECONNRESET"
        ? 'it accepted the connection and closed it without a byte: "Empty reply from server". A gateway bound to loopback inside its container (gateway.bind: "loopback") behind a published port does exactly this; bind it to "lan".'
        : failure.message;
    say("FAIL", `cannot reach the gateway: ${why}`);
    return { findings, reachable: false, release: { kind: "unknown" } };
  }
  const noHealthz = health.status === 200 && !isHealthAnswer(health);
  if (health.status !== 200)
    say(
      "FAIL",
      `the gateway answered /healthz with ${health.status}; is ${upstream.host} really the OpenClaw gateway?`,
    );
  else if (noHealthz)
    say(
      "ok",
      `the gateway answers at ${upstream.host} (its /healthz is the Control UI page: it has no health endpoint)`,
    );
  else say("ok", `the gateway answers at ${upstream.host}`);

  // 2. The release, from the Control UI's build id (it also serves as the buildId a Control UI client must send).
  // The index is public, but a trusted proxy must attribute even that request: ask as the sidecar would, then without
  // headers. In that order: a headerless request from a trusted proxy is what the gateway warns about as
  // "unattributable proxy-shaped traffic", and a startup check must not leave that in a healthy gateway's log.
  let buildId: string | undefined;
  let indexProblem = "";
  for (const headers of [forwardingHeaders(config), {}]) {
    try {
      const index = await get(
        new URL(`${config.publicBasePath}/`, upstream),
        { accept: "text/html", ...headers },
        timeoutMs,
      );
      buildId = controlUiBuildId(index.body);
      if (buildId !== undefined) break;
      indexProblem =
        index.status === 200
          ? " (its Control UI carries no build id)"
          : ` (GET ${config.publicBasePath}/ answered ${index.status})`;
    } catch (err) {
      indexProblem = ` (${(err as Error).message})`;
    }
  }
  const version = buildId?.split("-")[0];
  let release: Release;
  if (version !== undefined)
    release = versionAtLeast(version, MIN_VERSION)
      ? { kind: "current", version }
      : { kind: "old", version, evidence: `gateway ${version}` };
  else if (noHealthz) release = { kind: "old", evidence: "no build id in its Control UI and no /healthz endpoint" };
  else release = { kind: "unknown" };
  if (release.kind === "current") say("ok", `gateway version ${release.version}`);
  else if (release.kind === "old")
    say(
      "FAIL",
      `the gateway is a release older than 2026.8.1 (${release.evidence}), which this sidecar does not support: ${oldReleaseAdvice(config.mode, self, release.version)}. Upgrade the gateway`,
    );
  else say("warn", `could not read the gateway version from its Control UI${indexProblem}`);
  if (config.mode === "identity" && release.kind !== "unknown") {
    const known = release.version;
    if (known === undefined || !versionAtLeast(known, PROXY_UPDATE_VERSION)) say("warn", proxyUpdateAdvice(known));
  }

  // 3. Attribution: what the gateway makes of a request carrying the sidecar's forwarding headers. An old release
  // answers every path with the Control UI page, so its answer says nothing.
  if (release.kind !== "old" && health.status === 200) {
    try {
      const ready = await get(new URL("/readyz", upstream), forwardingHeaders(config), timeoutMs);
      if (ready.status === 403 && ready.body.includes("proxy_attribution_required")) {
        say(
          "FAIL",
          `403 proxy_attribution_required: the gateway does not trust this sidecar's address. Add it to the gateway config:\n       gateway.trustedProxies: ["${trustedProxyEntry(self)}"]`,
        );
      } else if (config.mode === "local" && ready.status === 403) {
        say(
          "FAIL",
          "the gateway refused a headerless request: local mode needs network_mode: service:<gateway> and an upstream on 127.0.0.1",
        );
      } else {
        say("ok", `the gateway accepts this sidecar's forwarding headers (/readyz ${ready.status})`);
      }
    } catch (err) {
      say("FAIL", describeUpstreamFailure(err, upstream).message);
    }
  }
  // 4. The path prefix: the gateway must serve its Control UI where the sidecar forwards it (publicBasePath).
  // Also when the version could not be read: a Control UI at another path is one reason why.
  if (release.kind !== "old" && health.status === 200) {
    const finding = await checkBasePath(config, timeoutMs);
    if (finding !== undefined) findings.push(finding);
  }
  return { findings, reachable: true, release, buildId };
}

/**
 * Whether the gateway's Control UI lives at publicBasePath: its `control-ui-config.json` names its basePath, and is
 * served only under it (measured on 2026.9.6: with basePath "/claw", /claw/control-ui-config.json answers
 * {"basePath":"/claw",…} and /control-ui-config.json is a 404). Asked at the sidecar's prefix, then at the root.
 * Undefined when the gateway did not let the question through (its attribution or auth findings say why).
 */
export async function checkBasePath(config: Config, timeoutMs: number): Promise<Finding | undefined> {
  const want = config.publicBasePath;
  const show = (base: string) => (base === "" ? "the root (/)" : `${base}/`);
  const ask = async (base: string): Promise<{ status: number; basePath?: string }> => {
    const r = await get(
      new URL(`${base}/control-ui-config.json`, config.upstream),
      { accept: "application/json", ...forwardingHeaders(config) },
      timeoutMs,
    );
    if (r.status !== 200 || !r.contentType.includes("json")) return { status: r.status };
    try {
      const value = (JSON.parse(r.body) as { basePath?: unknown }).basePath;
      return { status: 200, basePath: typeof value === "string" ? value.replace(/\/+$/, "") : "" };
    } catch {
      return { status: r.status };
    }
  };
  const fix =
    want === ""
      ? "remove gateway.controlUi.basePath from the gateway config (or set the sidecar's publicBasePath to it)"
      : `set gateway.controlUi.basePath: "${want}" in the gateway config and restart it`;
  try {
    const atPrefix = await ask(want);
    const ok: Finding = { mark: "ok", text: `the gateway serves its Control UI at ${show(want)}, as the sidecar does` };
    if (atPrefix.basePath === want) return ok;
    const atRoot = want === "" ? atPrefix : await ask("");
    let found = atPrefix.basePath ?? atRoot.basePath;
    if (found === undefined) {
      // With token auth the config wants the gateway's token; the UI's document is served to anyone, and only under
      // its basePath (without one, every unknown path is the document too): the document at / means the root.
      const page = async (base: string) => {
        const r = await get(
          new URL(`${base}/`, config.upstream),
          { accept: "text/html", ...forwardingHeaders(config) },
          timeoutMs,
        );
        return r.status === 200 && r.contentType.includes("text/html");
      };
      if (await page("")) found = "";
      else if (want !== "" && (await page(want))) found = want;
    }
    if (found === want) return ok;
    if (found === undefined && (atPrefix.status === 401 || atPrefix.status === 403)) return undefined;
    return {
      mark: "FAIL",
      text:
        found !== undefined
          ? `the gateway serves its Control UI at ${show(found)} and the sidecar at ${show(want)} (publicBasePath): ${fix}`
          : `the gateway serves no Control UI at ${show(want)} (GET ${want}/control-ui-config.json answered ${atPrefix.status}): ${fix}`,
    };
  } catch (err) {
    return { mark: "warn", text: `could not check the Control UI's path: ${(err as Error).message}` };
  }
}
