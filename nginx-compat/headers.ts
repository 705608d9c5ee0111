// proxy_set_header, one header at a time. This is where hand-written configs go wrong for the gateway: the seed's
// `X-Forwarded-For $proxy_add_x_forwarded_for` appends whatever the client sent, and `X-Real-IP` is one more header
// the gateway counts as proxy evidence (openclaw-gateway-trust.md §0, §5). The sidecar's rules are fixed: keep Host
// and Origin, strip every client-supplied forwarding header, overwrite X-Forwarded-For with the real peer, set
// X-Forwarded-Proto and -Host.
import type { Verdict } from "./directives.ts";
import type { Directive } from "./parser.ts";

const SAME_HOST = new Set(["$host", "$http_host"]);

export function proxySetHeader(d: Directive): Verdict {
  const name = (d.args[0]?.text ?? "").toLowerCase();
  const value = d.args[1]?.text;
  if (d.args.length !== 2 || value === undefined)
    return { kind: "unsupported", message: "expected a header name and a value" };
  const shown = `"${value}"`;
  switch (name) {
    case "upgrade":
    case "connection":
      return {
        kind: "not_needed",
        message:
          "the sidecar passes Upgrade and Connection through on WebSocket handshakes and keeps plain requests on pooled keep-alive connections" +
          (name === "connection" && value.toLowerCase() === "upgrade"
            ? ' (a fixed "upgrade" here also marked every plain request as an upgrade)'
            : ""),
      };
    case "host":
      if (value === "$http_host")
        return { kind: "translated", message: "the sidecar keeps the client's Host header unchanged (its default)" };
      if (value === "$host") {
        return {
          kind: "translated",
          message:
            "the sidecar keeps the client's Host header unchanged (its default); unlike nginx's $host it keeps the port, as $http_host does",
        };
      }
      return {
        kind: "unsupported",
        message: `Host ${shown}: the sidecar never rewrites Host (the gateway checks Origin against Host); it is forwarded as the client sent it`,
      };
    case "origin":
      return {
        kind: "insecure",
        message:
          "rewriting Origin disables the gateway's cross-site WebSocket check; the sidecar never touches Origin: list your public origin in the gateway's controlUi.allowedOrigins instead",
      };
    case "x-real-ip":
      return {
        kind: "insecure",
        message:
          "not forwarded: the sidecar strips X-Real-IP. The gateway takes the client address only from X-Forwarded-For and counts any X-Real-IP as proxy evidence (403 proxy_attribution_required unless the sender is in gateway.trustedProxies); a second address header only invites the two to disagree",
      };
    case "x-forwarded-for":
      if (value === "$remote_addr")
        return {
          kind: "translated",
          message: "the sidecar overwrites X-Forwarded-For with the connecting peer's address (its default)",
        };
      if (value.includes("$proxy_add_x_forwarded_for") || value.includes("$http_x_forwarded_for")) {
        return {
          kind: "insecure",
          message:
            "this appends to the X-Forwarded-For the client sent, so a client can put any address (127.0.0.1) into the chain the gateway reads; the sidecar overwrites X-Forwarded-For with the real peer, and walks a received chain only from peers in trustedHops",
        };
      }
      return {
        kind: "unsupported",
        message: `X-Forwarded-For ${shown}: the sidecar always sends the real peer address (or the trustedHops-resolved client)`,
      };
    case "x-forwarded-proto":
      if (value === "$scheme" || value === "$http_x_forwarded_proto") {
        return {
          kind: "translated",
          message:
            "the sidecar sets X-Forwarded-Proto from its own listener (https with tlsCert), or from a trustedHops peer's X-Forwarded-Proto",
        };
      }
      return {
        kind: "unsupported",
        message: `X-Forwarded-Proto ${shown}: the sidecar derives it from its listener or from a trustedHops peer`,
      };
    case "x-forwarded-host":
      if (SAME_HOST.has(value) || value === "$server_name")
        return { kind: "translated", message: "the sidecar sets X-Forwarded-Host to the client's Host (its default)" };
      return { kind: "unsupported", message: `X-Forwarded-Host ${shown}: the sidecar sets it to the client's Host` };
    case "forwarded":
      return {
        kind: "unsupported",
        message:
          "the sidecar strips Forwarded (RFC 7239) and sends X-Forwarded-For/-Proto/-Host, which the gateway reads",
      };
    case "x-forwarded-user":
    case "x-remote-user":
    case "remote-user":
    case "x-auth-request-user":
      return {
        kind: "unsupported",
        message:
          'identity headers: use mode "identity", where the sidecar checks a token itself and only then injects identityHeader (always stripped from clients)',
      };
    default:
      if (name.startsWith("x-forwarded-")) {
        return {
          kind: "unsupported",
          message:
            "the sidecar sends X-Forwarded-For/-Proto/-Host only, and strips every other X-Forwarded-* header a client sent",
        };
      }
      return {
        kind: "unsupported",
        message: `${d.args[0]?.text} ${shown}: the sidecar adds no custom request headers`,
      };
  }
}
