// Directives that become sidecar options, or whose verdict depends on their value. Each handler returns the note and
// records the option through `set`; the option names are the sidecar's config keys (src/options/config.ts OPTION_KEYS).
import ipaddr from "ipaddr.js";
import { parseCidr } from "../src/options/config.ts";
import type { Verdict } from "./directives.ts";
import type { Directive } from "./parser.ts";
import { parseSize, parseTime } from "./values.ts";

export interface OptionContext {
  /** Records an option; inner blocks override outer ones, as nginx inherits. */
  set(key: string, value: unknown): void;
  /** Adds one trusted hop (CIDR or address). */
  trustHop(cidr: string): void;
  /** True when the gateway's server block terminates TLS. */
  tls: boolean;
}

type Handler = (d: Directive, cx: OptionContext) => Verdict;

const arg = (d: Directive, i = 0): string => d.args[i]?.text ?? "";
const clamp = (n: number, min: number, max: number) => Math.min(max, Math.max(min, n));
const bad = (d: Directive, what: string): Verdict => ({
  kind: "unsupported",
  message: `cannot read ${JSON.stringify(d.args.map((a) => a.text).join(" "))} as ${what}`,
});

function timeout(key: string, min: number, max: number, explain: string): Handler {
  return (d, cx) => {
    const ms = parseTime(arg(d));
    if (ms === undefined || d.args.length !== 1) return bad(d, "a time");
    const value = clamp(ms, min, max);
    cx.set(key, value);
    return {
      kind: "translated",
      message: `${key}: ${value}${value !== ms ? ` (clamped from ${ms})` : ""}; ${explain}`,
    };
  };
}

const IDLE: Handler = (d) => {
  const ms = parseTime(arg(d));
  return {
    kind: "not_needed",
    message:
      `established WebSockets have no idle timeout in the sidecar${ms !== undefined ? ` (nginx closed them after ${ms / 1000} s without traffic)` : ""}; ` +
      "an HTTP response must still start within upstreamTimeoutMs (default 60000): raise it if a gateway route is slower",
  };
};

// nginx answers 401/403 from the subrequest; dropping it would open the gateway to everyone who can reach the port.
// So the import sets mode "identity", which refuses to start until a token is configured: it fails closed.
const AUTH_MESSAGE =
  'not supported as such: the sidecar authenticates users itself in mode "identity" (a token per user, then a signed cookie; the gateway runs in trusted-proxy mode and gets the user in identityHeader). The imported config sets mode "identity", so the sidecar refuses to start until you set token/tokenFile or tokensFile, rather than serving without authentication';

function auth(d: Directive, cx: OptionContext): Verdict {
  if (arg(d) === "off") return { kind: "not_needed", message: "authentication is switched off here" };
  cx.set("mode", "identity");
  return { kind: "unsupported", message: `${d.name} ${AUTH_MESSAGE}` };
}

export const OPTION_HANDLERS: Readonly<Record<string, Handler>> = {
  proxy_read_timeout: IDLE,
  proxy_send_timeout: IDLE,
  proxy_connect_timeout: timeout(
    "upgradeTimeoutMs",
    1,
    600_000,
    "the sidecar has no separate connect timeout: connecting and receiving the gateway's 101 must fit in upgradeTimeoutMs (plain requests: upstreamTimeoutMs)",
  ),
  client_header_timeout: timeout(
    "headersTimeoutMs",
    1,
    600_000,
    "time allowed for a client's request headers (slowloris); 408 after that",
  ),
  client_body_timeout: timeout(
    "bodyTimeoutMs",
    1,
    600_000,
    "longest pause between two reads of a request body; 408 after that",
  ),
  send_timeout: timeout(
    "sendTimeoutMs",
    1,
    600_000,
    "a client that reads nothing of its response for this long is disconnected",
  ),
  large_client_header_buffers: (d, cx) => {
    const count = Number(arg(d, 0));
    const size = parseSize(arg(d, 1));
    if (d.args.length !== 2 || !Number.isInteger(count) || size === undefined) return bad(d, "a number and a size");
    const total = count * size;
    const value = clamp(total, 1024, 1_048_576);
    cx.set("maxHeaderBytes", value);
    return {
      kind: "translated",
      message: `maxHeaderBytes: ${value}${value !== total ? ` (clamped from ${total})` : ""} = ${count} × ${size}; nginx also capped each header line at ${size} bytes, the sidecar caps the total only (431 beyond it)`,
    };
  },
  client_max_body_size: (d) => ({
    kind: "not_needed",
    message: `the sidecar streams request bodies to the gateway with no size cap of its own${arg(d) === "0" ? "" : ` (this line capped them at ${arg(d)}; nginx's default is 1m)`}`,
  }),
  set_real_ip_from: (d, cx) => {
    const text = arg(d);
    const ok = text.includes("/") ? ipaddr.isValidCIDR(text) : ipaddr.isValid(text);
    if (!ok)
      return { kind: "unsupported", message: `${JSON.stringify(text)}: trustedHops takes IP addresses and CIDRs only` };
    // Read as the sidecar reads it at startup: an entry it would refuse (a mapped prefix under /96, bits past the
    // prefix, which nginx only warns about) is not carried over into a config that could not start.
    try {
      parseCidr(text, "trustedHops");
    } catch (err) {
      return { kind: "unsupported", message: (err as Error).message };
    }
    cx.trustHop(text);
    return {
      kind: "translated",
      message: `trustedHops += ${text}: X-Forwarded-For/-Proto/-Host from this proxy are believed`,
    };
  },
  real_ip_header: (d) =>
    arg(d).toLowerCase() === "x-forwarded-for"
      ? {
          kind: "translated",
          message: "the sidecar reads X-Forwarded-For from trustedHops peers (its only client-address header)",
        }
      : {
          kind: "unsupported",
          message: `${arg(d)}: the sidecar reads the client address from X-Forwarded-For only, and only from trustedHops peers`,
        },
  real_ip_recursive: (d) => ({
    kind: "translated",
    message:
      "the sidecar always walks X-Forwarded-For right to left past trustedHops entries (real_ip_recursive on)" +
      (arg(d) === "off" ? "; with off, nginx took the last entry even when it was a trusted hop" : ""),
  }),
  add_header: (d, cx) => {
    if (arg(d).toLowerCase() !== "strict-transport-security") {
      return {
        kind: "unsupported",
        message: `${arg(d)}: the sidecar adds no custom response headers (only HSTS, with hsts: true)`,
      };
    }
    if (!cx.tls)
      return {
        kind: "not_needed",
        message: "HSTS only means something over TLS, and this server does not terminate TLS",
      };
    cx.set("hsts", true);
    return {
      kind: "translated",
      message: `hsts: true; the sidecar sends "max-age=31536000; includeSubDomains" (this line: "${arg(d, 1)}")`,
    };
  },
  ssl_protocols: (d) => {
    const old = d.args.map((a) => a.text).filter((p) => /^(SSLv2|SSLv3|TLSv1|TLSv1\.1)$/.test(p));
    if (old.length > 0) {
      return {
        kind: "insecure",
        message: `${old.join(", ")} enabled here are deprecated and broken; the sidecar accepts TLS 1.2 and 1.3 only (Node.js defaults)`,
      };
    }
    return { kind: "not_needed", message: "the sidecar accepts TLS 1.2 and 1.3 (Node.js defaults)" };
  },
  proxy_redirect: (d) =>
    arg(d) === "off" || arg(d) === "default"
      ? {
          kind: "not_needed",
          message:
            "the sidecar never rewrites Location (and the gateway sees the client's own Host, so it has nothing to fix)",
        }
      : { kind: "unsupported", message: "the sidecar never rewrites Location headers" },
  auth_request: auth,
  auth_basic: auth,
  auth_basic_user_file: () => ({
    kind: "unsupported",
    message: 'htpasswd files are not read: give each user a token in tokensFile (mode "identity")',
  }),
  auth_request_set: () => ({
    kind: "unsupported",
    message: 'the sidecar calls no auth service; mode "identity" injects identityHeader itself',
  }),
  satisfy: () => ({ kind: "unsupported", message: 'the sidecar has one authentication check (mode "identity")' }),
  server_name: (d, cx) => {
    const names = d.args.map((a) => a.text).filter((n) => n !== "_" && n !== "" && n !== "localhost");
    return {
      kind: "not_needed",
      message:
        "the sidecar serves one site and forwards Host unchanged" +
        (names.length > 0
          ? `; add the public origin (e.g. ${publicOrigin(names[0] as string, cx.tls)}) to the gateway's controlUi.allowedOrigins`
          : ""),
    };
  },
};

// server_name may be a wildcard or a regex: show a plausible origin rather than the pattern.
function publicOrigin(name: string, tls: boolean): string {
  return `${tls ? "https" : "http"}://${name.replace(/^\*\./, "app.").replace(/^~.*/, "openclaw.example.com")}`;
}
