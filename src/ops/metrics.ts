// Every metric the sidecar exports, in one private Registry per sidecar instance. Labels are bounded by
// construction: each label value comes from one of the unions below, so an unbounded label does not compile.
// Known series are created at zero on startup, so a dashboard shows 0 (not "no data") for a 1008 before the first.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** How a close frame's reason is counted (http/close-frames.ts classifies): a bounded label, never the text. */
export type CloseReasonClass =
  | "pairing_required"
  | "unauthorized"
  | "origin_not_allowed"
  | "device_identity_required"
  | "protocol_mismatch"
  /** The sidecar closed it: the credential that admitted it was removed by a reload (proxy/reload.ts). */
  | "credentials_revoked"
  | "payload_too_large"
  | "going_away"
  | "normal"
  | "other"
  | "none";

export const CLOSE_REASON_CLASSES: readonly CloseReasonClass[] = [
  "pairing_required",
  "unauthorized",
  "origin_not_allowed",
  "device_identity_required",
  "protocol_mismatch",
  "credentials_revoked",
  "payload_too_large",
  "going_away",
  "normal",
  "other",
  "none",
];

export const PREFIX = "openclaw_sidecar_";

/** Outcome of one WebSocket upgrade; also the `reason` field of the upgrade log line. */
export type UpgradeResult =
  | "ok"
  | "upstream_refused"
  | "upstream_timeout"
  | "upstream_unreachable"
  | "upstream_reset"
  | "proxy_attribution_required"
  | "upstream_4xx"
  | "upstream_5xx"
  | "client_aborted"
  | "bad_request"
  | "unauthenticated"
  | "rate_limited"
  | "origin_not_allowed"
  | "unsafe_request_head"
  | "draining"
  /** The client is not in allowedClients: refused with 403 before the gate. */
  | "client_not_allowed"
  /** A held upgrade (token-field login) whose first message did not arrive within heldUpgradeTimeoutMs. */
  | "held_timeout";
export const UPGRADE_RESULTS: readonly UpgradeResult[] = [
  "ok",
  "upstream_refused",
  "upstream_timeout",
  "upstream_unreachable",
  "upstream_reset",
  "proxy_attribution_required",
  "upstream_4xx",
  "upstream_5xx",
  "client_aborted",
  "bad_request",
  "unauthenticated",
  "rate_limited",
  "origin_not_allowed",
  "unsafe_request_head",
  "draining",
  "client_not_allowed",
  "held_timeout",
];

/**
 * Upstream failure codes (Node's errno codes, folded); the label of upstream_errors_total and the `error` log field.
 */
export const UPSTREAM_ERROR_CODES = [
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
  "UPSTREAM_TIMEOUT",
  "BAD_RESPONSE",
  "TLS",
  "other",
] as const;
export type UpstreamErrorCode = (typeof UPSTREAM_ERROR_CODES)[number];

/** Who sent the first close frame: a peer, the sidecar itself (shutdown), or nobody (the TCP stream just ended). */
export type CloseInitiator = "upstream" | "client" | "sidecar" | "none";
const CLOSE_INITIATORS: readonly CloseInitiator[] = ["upstream", "client", "sidecar", "none"];
/** Close codes reported as themselves; anything else is "other" (a peer chooses the code; the label set must not). */
const KNOWN_CLOSE_CODES = [1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 4001];
export const closeCodeLabel = (code: number): string => (KNOWN_CLOSE_CODES.includes(code) ? String(code) : "other");

const HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
export const methodLabel = (method: string | undefined): string =>
  method !== undefined && HTTP_METHODS.includes(method) ? method : "other";
export const statusClass = (status: number): string => `${Math.floor(status / 100)}xx`;

export type AuthFailure =
  | "bad_token"
  | "bad_cookie"
  | "expired_cookie"
  | "missing"
  | "rate_limited"
  // single sign-on (oidc-login.ts, assertion.ts)
  | "oidc_not_allowed"
  | "oidc_identity_invalid"
  | "oidc_state_mismatch"
  | "oidc_login_expired"
  | "oidc_provider_unreachable"
  | "oidc_provider_error"
  | "oidc_invalid_token"
  | "oidc_clock_skew"
  | "assertion_invalid"
  | "assertion_identity_invalid"
  | "assertion_expired"
  | "assertion_unverifiable";
const AUTH_FAILURES: readonly AuthFailure[] = [
  "bad_token",
  "bad_cookie",
  "expired_cookie",
  "missing",
  "rate_limited",
  "oidc_not_allowed",
  "oidc_identity_invalid",
  "oidc_state_mismatch",
  "oidc_login_expired",
  "oidc_provider_unreachable",
  "oidc_provider_error",
  "oidc_invalid_token",
  "oidc_clock_skew",
  "assertion_invalid",
  "assertion_identity_invalid",
  "assertion_expired",
  "assertion_unverifiable",
];

/** Outcome of one ACME order (acme.ts); also the `result` field of its log line. */
export type AcmeOrderResult = "issued" | "ca_unreachable" | "challenge_failed" | "ca_error" | "error";
export const ACME_ORDER_RESULTS: readonly AcmeOrderResult[] = [
  "issued",
  "ca_unreachable",
  "challenge_failed",
  "ca_error",
  "error",
];

/** Outcome of one credential reload (proxy/reload.ts): applied, or refused with the previous credentials kept. */
export type CredentialReloadResult = "ok" | "refused";
export const CREDENTIAL_RELOAD_RESULTS: readonly CredentialReloadResult[] = ["ok", "refused"];

export type Metrics = ReturnType<typeof createMetrics>;

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: PREFIX });
  const registers = [registry];
  const metrics = {
    registry,
    httpRequests: new Counter({
      name: `${PREFIX}http_requests_total`,
      help: "HTTP requests proxied, by method and response status class (499: the client left first).",
      labelNames: ["method", "status_class"] as const,
      registers,
    }),
    httpDuration: new Histogram({
      name: `${PREFIX}http_request_duration_seconds`,
      help: "Time from request to the end of the response, by method.",
      labelNames: ["method"] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    upgrades: new Counter({
      name: `${PREFIX}websocket_upgrades_total`,
      help: "WebSocket upgrade attempts by result (proxy_attribution_required: the gateway answered 403 to us).",
      labelNames: ["result"] as const,
      registers,
    }),
    wsCloses: new Counter({
      name: `${PREFIX}websocket_closes_total`,
      help: "Established WebSockets closed, by close code, by who sent the close frame first, and by reason class.",
      labelNames: ["code", "initiator", "reason_class"] as const,
      registers,
    }),
    wsDuration: new Histogram({
      name: `${PREFIX}websocket_duration_seconds`,
      help: "Lifetime of established WebSockets.",
      buckets: [1, 10, 60, 300, 1800, 3600, 14400, 86400],
      registers,
    }),
    activeConnections: new Gauge({
      name: `${PREFIX}active_connections`,
      help: "Open connections: client TCP connections (http) and established WebSocket tunnels (websocket).",
      labelNames: ["kind"] as const,
      registers,
    }),
    upstreamErrors: new Counter({
      name: `${PREFIX}upstream_errors_total`,
      help: "Failures talking to the gateway, by error code.",
      labelNames: ["code"] as const,
      registers,
    }),
    clientErrors: new Counter({
      name: `${PREFIX}client_errors_total`,
      help: "Requests refused before forwarding because they were malformed, by status (400, 408, 431).",
      labelNames: ["status"] as const,
      registers,
    }),
    connectionsRefused: new Counter({
      name: `${PREFIX}connections_refused_total`,
      help: "Client connections refused with 503 because maxConnections were already open.",
      registers,
    }),
    clientsRefused: new Counter({
      name: `${PREFIX}clients_refused_total`,
      help: 'HTTP requests refused with 403 because the client is not in allowedClients (upgrades: websocket_upgrades_total{result="client_not_allowed"}).',
      registers,
    }),
    unsafeHeads: new Counter({
      name: `${PREFIX}unsafe_request_heads_total`,
      help: "Requests and upgrades refused because a head the sidecar built broke the wire invariant (a field value with CR, LF, NUL or a character latin1 would change); always 0 unless a check where identities enter is missing.",
      registers,
    }),
    authFailures: new Counter({
      name: `${PREFIX}auth_failures_total`,
      help: "Failed sidecar authentications (identity and local modes), by reason.",
      labelNames: ["reason"] as const,
      registers,
    }),
    certificateExpiry: new Gauge({
      name: `${PREFIX}certificate_expiry_timestamp_seconds`,
      help: "When the certificate served for each acmeDomains name expires (Unix seconds); 0 while none is issued yet.",
      labelNames: ["domain"] as const,
      registers,
    }),
    acmeOrders: new Counter({
      name: `${PREFIX}acme_orders_total`,
      help: "ACME certificate orders, by result (issued, ca_unreachable, challenge_failed, ca_error, error).",
      labelNames: ["result"] as const,
      registers,
    }),
    credentialReloads: new Counter({
      name: `${PREFIX}credential_reloads_total`,
      help: "Credential reloads (a changed file or SIGHUP), by result: ok (applied) or refused (the previous credentials stay).",
      labelNames: ["result"] as const,
      registers,
    }),
  };
  for (const result of UPGRADE_RESULTS) metrics.upgrades.inc({ result }, 0);
  for (const code of UPSTREAM_ERROR_CODES) metrics.upstreamErrors.inc({ code }, 0);
  for (const reason of AUTH_FAILURES) metrics.authFailures.inc({ reason }, 0);
  for (const result of ACME_ORDER_RESULTS) metrics.acmeOrders.inc({ result }, 0);
  for (const result of CREDENTIAL_RELOAD_RESULTS) metrics.credentialReloads.inc({ result }, 0);
  for (const kind of ["http", "websocket"]) metrics.activeConnections.set({ kind }, 0);
  for (const status of ["400", "408", "431"]) metrics.clientErrors.inc({ status }, 0);
  for (const code of [1000, 1001, 1006, 1008]) {
    for (const initiator of CLOSE_INITIATORS) {
      for (const reasonClass of CLOSE_REASON_CLASSES) {
        if (code === 1008 || reasonClass === defaultClass(code)) {
          metrics.wsCloses.inc({ code: String(code), initiator, reason_class: reasonClass }, 0);
        }
      }
    }
  }
  return metrics;
}

function defaultClass(code: number): CloseReasonClass {
  return code === 1000 ? "normal" : code === 1001 ? "going_away" : "none";
}
