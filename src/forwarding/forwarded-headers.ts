// The trust decision, as pure functions: peer address + incoming headers + trust list → the headers sent upstream.
//
// Why this matters (openclaw-gateway-trust.md §0, §2): the gateway treats ANY Forwarded / X-Forwarded-* / X-Real-IP /
// tailscale-* header as proxy evidence. From an untrusted peer that is a 403 proxy_attribution_required; from a
// trusted proxy it walks X-Forwarded-For right to left and refuses (403) a chain that resolves only to loopback.
// So the sidecar removes every such header a client sent, then writes exactly one X-Forwarded-For naming the real
// client (overwritten, never appended) — except in local mode, where it must send none at all.
import type { IncomingHttpHeaders } from "node:http";
import ipaddr from "ipaddr.js";

/** How the sidecar stands before the gateway (docs/modes.md): the trust decision depends on it. */
export type Mode = "attribution" | "identity" | "local";
export const MODES: readonly Mode[] = ["attribution", "identity", "local"];
/** A parsed CIDR, as ipaddr.js returns it. */
export type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number];

export interface TrustPolicy {
  mode: Mode;
  /** CIDRs of proxies in front of the sidecar (a TLS load balancer) whose forwarding headers are believed. */
  trustedHops: Cidr[];
  /** The clients that may pass (allowedClients), matched against the resolved client; empty: everyone. */
  allowedClients: Cidr[];
  /** Written as X-Forwarded-For when the client is loopback, which the gateway would refuse. */
  loopbackSubstitute: string;
  /** The gateway's trusted-proxy user header: always stripped from clients, injected only after authentication. */
  identityHeader: string;
  /** Headers of the common identity/forwarding set (COMMON_IDENTITY_HEADERS) a user lets through on purpose. */
  passHeaders: ReadonlySet<string>;
}

export interface Peer {
  /** socket.remoteAddress */
  address: string;
  /** true when the client connection to the sidecar is TLS */
  encrypted: boolean;
}

/** Identity established by the sidecar (identity mode only). */
export interface Identity {
  user: string;
  scopes?: string[];
}

/**
 * Parses an address as a client would write it in a header: plain, [v6], v4:port, [v6]:port; normalises v4-mapped v6.
 */
export function parseAddress(text: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  let s = text.trim();
  if (s.startsWith("[")) {
    const end = s.indexOf("]");
    if (end === -1) return undefined;
    s = s.slice(1, end);
  } else if (s.indexOf(":") !== -1 && s.indexOf(":") === s.lastIndexOf(":")) {
    s = s.slice(0, s.indexOf(":")); // v4:port
  }
  const zone = s.indexOf("%");
  if (zone !== -1) s = s.slice(0, zone);
  // Strict forms only: ipaddr.isValid also takes legacy shorthands such as "10.0.0" or "0x7f.1".
  if (ipaddr.IPv4.isValidFourPartDecimal(s)) return ipaddr.IPv4.parse(s);
  if (ipaddr.IPv6.isValid(s)) return ipaddr.process(s);
  return undefined;
}

function inList(addr: ipaddr.IPv4 | ipaddr.IPv6, list: Cidr[]): boolean {
  for (const [range, bits] of list) {
    if (addr.kind() === range.kind() && addr.match(range, bits)) return true;
  }
  return false;
}

function lastValue(header: string | string[] | undefined): string | undefined {
  const joined = Array.isArray(header) ? header.join(",") : header;
  if (joined === undefined) return undefined;
  const parts = joined.split(",");
  const last = parts[parts.length - 1]?.trim();
  return last ? last : undefined;
}

interface PeerInfo {
  address: ipaddr.IPv4 | ipaddr.IPv6 | undefined;
  trustedHop: boolean;
  clientAddress: string;
  forwardedFor: string;
  /** The peer as the client is in allowedClients (always true when the list is empty). */
  allowed: boolean;
}

/**
 * Whether a resolved client may pass allowedClients: every client when the list is empty (no work done), otherwise
 * only an address inside one of its ranges; an address that could not be parsed is never inside.
 */
function isAllowed(client: ipaddr.IPv4 | ipaddr.IPv6 | undefined, policy: TrustPolicy): boolean {
  if (policy.allowedClients.length === 0) return true;
  return client !== undefined && inList(client, policy.allowedClients);
}

/** Peer addresses seen recently, per policy: parsing and range checks are done once per address, not per request. */
const peerCache = new WeakMap<TrustPolicy, Map<string, PeerInfo>>();
const PEER_CACHE_SIZE = 4096;

function peerInfo(text: string, policy: TrustPolicy): PeerInfo {
  let cache = peerCache.get(policy);
  if (cache === undefined) peerCache.set(policy, (cache = new Map()));
  let info = cache.get(text);
  if (info === undefined) {
    const address = parseAddress(text);
    const clientAddress = address === undefined ? text : address.toString();
    const loopback = address === undefined || address.range() === "loopback" || address.range() === "unspecified";
    info = {
      address,
      trustedHop: address !== undefined && policy.trustedHops.length > 0 && inList(address, policy.trustedHops),
      clientAddress,
      forwardedFor: loopback ? policy.loopbackSubstitute : clientAddress,
      allowed: isAllowed(address, policy),
    };
    if (cache.size >= PEER_CACHE_SIZE) cache.clear();
    cache.set(text, info);
  }
  return info;
}

export interface ClientView {
  /** The client address to report upstream (never loopback). */
  forwardedFor: string;
  /** The scheme the client used to reach the edge: ours, or the trusted hop's X-Forwarded-Proto. */
  proto: string;
  /** The host the client asked for: Host, or the trusted hop's X-Forwarded-Host. */
  host: string | undefined;
  /** The real client address before the loopback substitute (for logs and rate limiting). */
  clientAddress: string;
  /** The client is in allowedClients, or the list is empty; when false, nothing of the request may pass. */
  allowed: boolean;
}

/**
 * Resolves the real client. The socket peer is the client unless it is a trusted hop; then X-Forwarded-For is walked
 * right to left, skipping trusted hops, and the first untrusted entry is the client. A malformed entry stops the walk:
 * the client is the last trusted hop that handed us the garbage (a forged chain cannot choose its own address).
 * Never the leftmost entry: that one is whatever the client wrote. `allowed` is allowedClients asked about the client
 * this walk found — not the hop that delivered the request, not an entry left of the client (only a trusted hop that
 * sent no usable X-Forwarded-For is itself the client, as for its health checks).
 */
export function resolveClient(peer: Peer, headers: IncomingHttpHeaders, policy: TrustPolicy): ClientView {
  const known = peerInfo(peer.address, policy);
  if (!known.trustedHop) {
    // The common case, one lookup: a direct client, whose address alone decides everything but Host.
    return {
      forwardedFor: known.forwardedFor,
      proto: peer.encrypted ? "https" : "http",
      host: headers.host,
      clientAddress: known.clientAddress,
      allowed: known.allowed,
    };
  }
  let client = known.address;
  let fromTrustedHop = false;
  if (client !== undefined) {
    fromTrustedHop = true;
    const xff = headers["x-forwarded-for"];
    const chain = (Array.isArray(xff) ? xff.join(",") : (xff ?? "")).split(",");
    for (let i = chain.length - 1; i >= 0; i--) {
      const entry = chain[i]?.trim();
      if (!entry) continue;
      const hop = parseAddress(entry);
      if (hop === undefined) break;
      client = hop;
      if (!inList(hop, policy.trustedHops)) break;
    }
  }
  const clientAddress = client === undefined ? peer.address : client.toString();
  const loopback = client === undefined || client.range() === "loopback" || client.range() === "unspecified";
  return {
    forwardedFor: loopback ? policy.loopbackSubstitute : clientAddress,
    proto:
      (fromTrustedHop && lastValue(headers["x-forwarded-proto"])?.toLowerCase()) || (peer.encrypted ? "https" : "http"),
    host: (fromTrustedHop && lastValue(headers["x-forwarded-host"])) || headers.host,
    clientAddress,
    allowed: isAllowed(client, policy),
  };
}

/**
 * The headers the gateway itself trusts or treats as proxy evidence (openclaw-gateway-trust.md §2), plus the
 * identity header: the sidecar alone writes them, and no option can let a client's copy through.
 */
export function isGatewayTrustHeader(name: string, identityHeader: string): boolean {
  return (
    name === "forwarded" ||
    name === "x-real-ip" ||
    name === "x-openclaw-scopes" ||
    name === identityHeader ||
    name.startsWith("x-forwarded-") ||
    name.startsWith("tailscale-")
  );
}

/**
 * Client-address and identity headers that other proxies, identity-aware proxies and plugins commonly trust
 * (Cloudflare, Akamai, Fastly, Envoy, oauth2-proxy, Authelia, Authentik, Pomerium, IIS/Apache rewrites). The gateway
 * ignores them today, but a plugin or a future release may not; a client's copy is stripped unless `passHeaders`
 * names it. Exact names, then prefixes.
 */
const COMMON_IDENTITY_HEADERS = new Set([
  "cf-connecting-ip",
  "cf-connecting-ipv6",
  "cf-ipcountry",
  "true-client-ip",
  "x-client-ip",
  "x-cluster-client-ip",
  "fastly-client-ip",
  "x-original-forwarded-for",
  "forwarded-for",
  "x-forwarded",
  "x-remote-addr",
  "x-remote-ip",
  "x-proxyuser-ip",
  "x-envoy-external-address",
  "x-original-url",
  "x-original-uri",
  "x-rewrite-url",
  "remote-user",
  "remote-groups",
  "remote-email",
  "remote-name",
  "x-user",
  "x-email",
  "x-authenticated-user",
]);
const COMMON_IDENTITY_PREFIXES = ["x-remote-", "x-auth-request-", "x-authentik-", "x-pomerium-", "cf-access-"];

export function isCommonIdentityHeader(name: string): boolean {
  if (COMMON_IDENTITY_HEADERS.has(name)) return true;
  for (const prefix of COMMON_IDENTITY_PREFIXES) if (name.startsWith(prefix)) return true;
  return false;
}

const dashes = (name: string): string => (name.includes("_") ? name.replaceAll("_", "-") : name);

/**
 * True for every header a client must never be able to send to the gateway. Underscores count as dashes: CGI-style
 * servers and several frameworks read `x_forwarded_for` as `x-forwarded-for`.
 */
export function isForbiddenClientHeader(name: string, policy: TrustPolicy): boolean {
  if (name === policy.identityHeader) return true;
  const canonical = dashes(name);
  if (isGatewayTrustHeader(canonical, dashes(policy.identityHeader))) return true;
  return isCommonIdentityHeader(canonical) && !policy.passHeaders.has(name);
}

/**
 * Fields a request may not carry as trailers: everything a client may not send in the head, and what RFC 9110 §6.5.1
 * says cannot be processed after the content — framing, routing, authentication, connection control. Trailers are
 * relayed untouched, so such a field is refused (400) before any byte of it leaves (issue 11, finding 6).
 */
const NEVER_TRAILERS = new Set([
  "content-length",
  "transfer-encoding",
  "host",
  "authorization",
  "proxy-authorization",
  "cookie",
  "connection",
  "keep-alive",
  "proxy-connection",
  "upgrade",
  "te",
  "trailer",
  "expect",
  "origin",
  "content-type",
  "content-encoding",
  "content-range",
  "range",
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-protocol",
  "sec-websocket-extensions",
]);

export function isForbiddenTrailerField(name: string, policy: TrustPolicy): boolean {
  return NEVER_TRAILERS.has(dashes(name)) || isForbiddenClientHeader(name, policy);
}

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1): they describe the client's connection to us, never ours to the gateway.
 * Not Trailer: it announces the trailer fields of a chunked body (RFC 9110 §6.6.2), which are relayed as they came.
 */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "upgrade"]);

/**
 * Removes hop-by-hop headers and every header the client's Connection header names. For an upgrade, the two that
 * make it one are written back in their canonical form. Framing is out of reach here by design: the parser refuses a
 * Connection header that names a framing field, and serializeRequestHead writes framing from the parse alone.
 */
export function stripHopByHop(headers: IncomingHttpHeaders, upgrade: boolean): void {
  const connection = headers.connection;
  if (connection !== undefined) {
    for (const token of connection.split(",")) {
      const name = token.trim().toLowerCase();
      // Never let a client make us drop what identifies the request to the gateway.
      if (name !== "" && name !== "host" && name !== "origin" && !name.startsWith("sec-websocket-"))
        delete headers[name];
    }
  }
  for (const name of HOP_BY_HOP) delete headers[name];
  if (upgrade) {
    headers.connection = "Upgrade";
    headers.upgrade = "websocket";
  }
}

/**
 * Rewrites `headers` in place (they are the request's own parsed headers, about to be forwarded): removes hop-by-hop
 * headers and every forwarding and identity header, then adds the ones this mode needs. Host and Origin are never
 * touched: the gateway checks Origin against Host and allowedOrigins, and rewriting either would move CSWSH protection
 * into the sidecar.
 */
export function rewriteHeaders(
  headers: IncomingHttpHeaders,
  view: ClientView,
  policy: TrustPolicy,
  identity?: Identity,
  upgrade = false,
): IncomingHttpHeaders {
  stripHopByHop(headers, upgrade);
  for (const name in headers) {
    if (isForbiddenClientHeader(name, policy)) delete headers[name];
  }
  // Local mode: the gateway must see a headerless loopback connection, or it is not "direct-local" (and a single
  // forwarding header from a non-trusted peer is a 403).
  if (policy.mode === "local") return headers;
  headers["x-forwarded-for"] = view.forwardedFor;
  headers["x-forwarded-proto"] = view.proto;
  if (view.host !== undefined) headers["x-forwarded-host"] = view.host;
  if (identity !== undefined) {
    headers[policy.identityHeader] = identity.user;
    if (identity.scopes !== undefined && identity.scopes.length > 0)
      headers["x-openclaw-scopes"] = identity.scopes.join(",");
  }
  return headers;
}
