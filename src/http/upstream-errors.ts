// The one place where a failure talking to the gateway becomes a status code, a stable error code and a sentence a
// person can act on (Caddy's statusError does the same): 502 by default, 504 on timeout. A browser's page adds the next
// step: most of these pass by themselves (a gateway that is starting refuses connections), so it reloads itself.
import { HttpError } from "./http1.ts";
import { type Html, html } from "./page.ts";
import { UPSTREAM_ERROR_CODES, type UpgradeResult, type UpstreamErrorCode } from "../ops/metrics.ts";

export interface UpstreamFailure {
  status: 502 | 504;
  code: UpstreamErrorCode;
  /** the upgrade_result label for the same failure */
  result: UpgradeResult;
  /** stable machine-readable type for the response body */
  type: string;
  message: string;
  /** The browser page's next step (responses.ts), and how soon it reloads itself. */
  next: Html;
  retrySeconds?: number;
}

/** How soon the "gateway is not answering" page reloads itself. */
export const UPSTREAM_RETRY_SECONDS = 5;

/** Error raised by the sidecar's own response-header / upgrade deadline. */
export class UpstreamTimeoutError extends Error {
  readonly code = "UPSTREAM_TIMEOUT";
  constructor(ms: number) {
    super(`the gateway did not answer within ${ms} ms`);
  }
}

/** The errno codes (and the sidecar's own deadline) that are their own label; the rest fold into the last three. */
const KNOWN = new Set<string>(
  UPSTREAM_ERROR_CODES.filter((code) => code !== "BAD_RESPONSE" && code !== "TLS" && code !== "other"),
);

export function upstreamErrorCode(err: unknown): UpstreamErrorCode {
  if (err instanceof HttpError) return "BAD_RESPONSE";
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? "";
  if (KNOWN.has(code)) return code as UpstreamErrorCode;
  if (code.startsWith("ERR_TLS") || code.startsWith("ERR_SSL") || code.includes("CERT")) return "TLS";
  return "other";
}

export function describeUpstreamFailure(err: unknown, upstream: URL): UpstreamFailure {
  const { next, ...failure } = diagnose(err, upstream);
  return next !== undefined
    ? { ...failure, next }
    : { ...failure, next: retrying(upstream), retrySeconds: UPSTREAM_RETRY_SECONDS };
}

const doctor = html`<code>openclaw-sidecar doctor</code>`;
const retrying = (upstream: URL): Html =>
  html`The OpenClaw gateway at ${upstream.origin} is not answering (it may still be starting): this page retries in
  ${UPSTREAM_RETRY_SECONDS} seconds, and if it stays down the administrator can run ${doctor}.`;

function diagnose(err: unknown, upstream: URL): Omit<UpstreamFailure, "next" | "retrySeconds"> & { next?: Html } {
  const code = upstreamErrorCode(err);
  const at = `the OpenClaw gateway at ${upstream.host}`;
  switch (code) {
    case "ECONNREFUSED":
      return {
        status: 502,
        code,
        result: "upstream_refused",
        type: "upstream_refused",
        message: `${at} refused the connection. Is it running, and bound to an address the sidecar can reach (gateway.bind: "lan" in a separate container; "loopback" only with network_mode: service:<gateway>)?`,
      };
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return {
        status: 502,
        code,
        result: "upstream_unreachable",
        type: "upstream_unresolvable",
        message: `${at} cannot be resolved (${code}). Are the sidecar and the gateway on the same compose network, and is the service name right?`,
      };
    case "EHOSTUNREACH":
    case "ENETUNREACH":
    case "ETIMEDOUT":
      return {
        status: 504,
        code,
        result: "upstream_unreachable",
        type: "upstream_unreachable",
        message: `${at} cannot be reached (${code}). Check the compose network.`,
      };
    case "UPSTREAM_TIMEOUT":
      return {
        status: 504,
        code,
        result: "upstream_timeout",
        type: "upstream_timeout",
        message: `${at} accepted the connection but did not answer in time.`,
      };
    case "BAD_RESPONSE":
      return {
        status: 502,
        code,
        result: "upstream_reset",
        type: "bad_upstream_response",
        message: `${at} sent a response the sidecar cannot forward safely: ${(err as Error).message}`,
        next: html`The OpenClaw gateway at ${upstream.origin} sent an answer the sidecar cannot pass on: reload this
        page, and if it keeps happening the administrator can run ${doctor}.`,
      };
    case "ECONNRESET":
    case "EPIPE":
      return {
        status: 502,
        code,
        result: "upstream_reset",
        type: "upstream_reset",
        message: `${at} closed the connection without an answer ("Empty reply from server"). If the gateway listens on loopback inside its container, bind it to "lan".`,
      };
    default:
      return {
        status: 502,
        code,
        result: "upstream_reset",
        type: "upstream_error",
        message: `${at} failed: ${(err as Error | undefined)?.message ?? String(err)}`,
      };
  }
}
