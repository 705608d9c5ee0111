// The gateway side of each mode, printed ready to paste into openclaw.json (JSON5). Each block is exactly what was
// verified against the real gateway (openclaw-gateway-trust.md §5): the sidecar's pinned address in trustedProxies,
// gateway.port and allowedOrigins set explicitly, trusted-proxy with deviceAutoApprove for identity mode.
import { networkInterfaces } from "node:os";
import { type Config, trustedProxyEntry } from "../options/config.ts";
import {
  isLegacyRelease,
  MIN_VERSION,
  PROXY_UPDATE_VERSION,
  proxyUpdateAdvice,
  versionAtLeast,
} from "./gateway-checks.ts";

/** A host name or address that is this machine's loopback (the upstream as the sidecar dials it). */
export const isLoopbackHost = (host: string): boolean =>
  host === "localhost" || host === "[::1]" || host === "::1" || /^127\./.test(host);

/** The sidecar's own non-loopback IPv4 address (its compose address), or a placeholder to fill in. */
export function ownAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const iface of list ?? []) if (iface.family === "IPv4" && !iface.internal) return iface.address;
  }
  return undefined;
}

export interface GatewayConfigInput {
  config: Config;
  sidecarAddress?: string | undefined;
  /**
   * The block as verified against 2026.1.29 (test/gateway/old-release.test.ts): the sidecar's address as it is, not
   * as a /32 (releases before 2026.2.21 match trustedProxies as exact strings and silently ignore CIDRs), no
   * controlUi.allowedOrigins (an unknown key there: the gateway refuses to start), and gateway.mode "local" (without
   * it that release refuses to start).
   */
  legacy?: boolean | undefined;
}

export function gatewayConfig({ config, sidecarAddress, legacy }: GatewayConfigInput): Record<string, unknown> {
  const port = Number(config.upstream.port) || 18789;
  // Local mode is opened from the host itself: its loopback names, "[::1]" beside "127.0.0.1" for IPv6-first hosts.
  const loopback = [
    `http://localhost:${config.listen.port}`,
    `http://127.0.0.1:${config.listen.port}`,
    ...(config.mode === "local" ? [`http://[::1]:${config.listen.port}`] : []),
  ];
  const origins = config.allowedOrigins.length > 0 ? config.allowedOrigins : loopback;
  // A sidecar that dials the gateway over loopback (same pod, shared namespace) is the gateway's 127.0.0.1: in identity
  // mode the gateway then wants trustedProxy.allowLoopback, and that address in trustedProxies.
  const overLoopback = isLoopbackHost(config.upstream.hostname);
  const address = sidecarAddress ?? (overLoopback ? "127.0.0.1" : ownAddress()) ?? "<sidecar address>";
  const proxy = legacy ? address : trustedProxyEntry(address);
  // publicBasePath: the gateway serves its Control UI under the same prefix (gateway.controlUi.basePath).
  const basePath = config.publicBasePath !== "" ? { basePath: config.publicBasePath } : {};
  const controlUi = legacy ? {} : { controlUi: { ...basePath, allowedOrigins: origins } };
  const mode = legacy ? { mode: "local" } : {};
  switch (config.mode) {
    case "attribution":
      return {
        gateway: {
          ...mode,
          bind: "lan",
          port,
          trustedProxies: [proxy],
          auth: { mode: "token", token: "<your gateway token>" },
          ...controlUi,
        },
      };
    case "identity":
      return {
        gateway: {
          bind: "lan",
          port,
          trustedProxies: [proxy],
          auth: {
            mode: "trusted-proxy",
            // Only for internal clients (CLI, `openclaw devices …`) over the gateway's own loopback.
            password: "<a long random password for internal clients>",
            trustedProxy: {
              userHeader: config.identityHeader,
              requiredHeaders: ["x-forwarded-proto"],
              allowUsers: [...new Set(config.credentials.map((c) => c.user))],
              deviceAutoApprove: { enabled: true },
              ...(overLoopback ? { allowLoopback: true } : {}),
            },
          },
          ...controlUi,
        },
      };
    case "local":
      return {
        gateway: {
          ...mode,
          bind: "loopback",
          port,
          auth: { mode: "token", token: "<the same token the sidecar checks>" },
          ...controlUi,
        },
      };
  }
}

const HEADERS: Record<Config["mode"], string> = {
  attribution:
    "attribution mode: the gateway keeps token auth and sees each client's real address; new browsers pair once (openclaw devices approve).",
  identity:
    "identity mode: the sidecar authenticates users and the gateway trusts its user header; browsers enroll with no manual pairing.",
  local:
    "LOCAL MODE (single user, dev only): token holders reach the gateway as loopback and are paired with ADMIN scopes. The sidecar must share the gateway's network namespace (network_mode: service:<gateway>).",
};

export function gatewayConfigFor(
  config: Config,
  sidecarAddress: string | undefined,
  opts: { legacy?: boolean } = {},
): string {
  const body = JSON.stringify(gatewayConfig({ config, sidecarAddress, legacy: opts.legacy }), null, 2);
  const release = opts.legacy
    ? " --gateway-version 2026.1.29 (exact address, no allowedOrigins: that release knows neither CIDRs nor the key)"
    : "";
  return `// openclaw.json for ${HEADERS[config.mode]}\n// Generated by openclaw-sidecar print-gateway-config --mode ${config.mode}${release}\n${body}\n${opts.legacy ? "" : clientNotes(config)}`;
}

/** What the other clients need on the gateway (docs/clients.md), as keys to merge into the block above. */
function clientNotes(config: Config): string {
  const notes: string[] = [];
  const origin = config.publicOrigin?.origin ?? "<the origin users open>";
  notes.push(
    `Mobile app pairing (QR code) and join links: plugins: { entries: { "device-pair": { config: { publicUrl: "${origin}" } } } } (join links need an https:// one)${
      config.mode === "identity"
        ? "; in identity mode a phone also needs the sidecar's credential on its WebSocket (the iOS app's Custom Headers with a machine credential: docs/clients.md, The OpenClaw mobile apps) and join links need selfAuthenticatingRoutes: true — a QR code alone gets 401"
        : ""
    }${
      // device-pair's normalizeUrl (2026.9.6) keeps scheme, host and port of publicUrl only: the path is dropped.
      config.publicBasePath !== ""
        ? `; under publicBasePath ${config.publicBasePath} a setup code cannot work: the gateway reduces publicUrl to wss://host:port (the path is dropped) and the sidecar answers the host's root with 404 — serve the dashboard at a host's root for phones`
        : ""
    }`,
  );
  if (config.mode === "identity") {
    const users = [...new Set(config.credentials.map((c) => c.user))];
    notes.push(
      `Named admins (session-only, never the auto-approved device grant): gateway.auth.identityScopes: { "${users[0] ?? "<user>"}": ["operator.admin"] }`,
    );
    // Measured against 2026.9.6 (test/gateway/roles.test.ts): the role's scopes cap identityScopes and the device's
    // grant, and the sidecar's x-openclaw-scopes cap them too; an unassigned person gets the default role.
    notes.push(
      'Per-person roles (gateway 2026.9.6+; a person gets the narrower of the role and the sidecar\'s scopes): gateway.roles: { default: "viewer", definitions: { viewer: { sessions: { others: "view" }, agents: "*", scopes: ["operator.read"] }, admin: { sessions: { others: "write" }, agents: "*", scopes: ["operator.admin", "operator.read", "operator.write", "operator.approvals", "operator.pairing", "operator.questions"] } } }, then openclaw gateway call users.setRole --params \'{"profileId": "<id from openclaw gateway call users.list>", "role": "admin"}\'',
    );
    if (config.selfAuthenticatingRoutes)
      notes.push(
        "Nodes: join links and workers pass the sidecar unauthenticated (selfAuthenticatingRoutes); they keep their own credentials",
      );
    // Measured on 2026.9.6 (test/gateway/gateway-traps.test.ts): pairing required for role node from both addresses.
    notes.push(
      "Node pairing: a node that connects through the sidecar with a user (a machine credential) is not auto-approved: deviceAutoApprove covers operator UI devices only, over loopback (a same-pod sidecar) as over the network, and nodes.pairing.autoApproveCidrs does not apply; approve each node once (openclaw devices approve <requestId>)",
    );
  }
  if (config.appsListen !== undefined) {
    const sandbox = config.appsPublicOrigin?.origin ?? "<the origin of appsListen>";
    notes.push(
      `MCP Apps: mcp: { apps: { enabled: true, sandboxOrigin: "${sandbox}", sandboxPort: ${Number(config.appsUpstream.port) || 18790} } }`,
    );
  }
  if (config.mode === "local")
    notes.push(
      "Local mode: the CLI inside the gateway's container reaches it on 127.0.0.1 or ::1 alike (both are loopback)",
    );
  return `// Clients (merge what applies):\n${notes.map((n) => `//   ${n}`).join("\n")}\n`;
}

/**
 * print-gateway-config: the block for `gatewayVersion` when given (before 2026.2.21: the legacy block; identity mode
 * refused before 2026.8.1), else for current releases. `error` is a usage error to print instead.
 */
export function printGatewayConfig(
  config: Config,
  sidecarAddress: string | undefined,
  gatewayVersion: string | undefined,
): { text: string; error?: undefined } | { text?: undefined; error: string } {
  if (gatewayVersion === undefined) return { text: gatewayConfigFor(config, sidecarAddress) };
  if (!/^\d{4}\.\d{1,2}\.\d{1,3}(?:[-.].*)?$/.test(gatewayVersion))
    return { error: `--gateway-version must be an OpenClaw release such as 2026.9.6 (got "${gatewayVersion}")` };
  if (config.publicBasePath !== "" && isLegacyRelease(gatewayVersion))
    return {
      error: `publicBasePath is not measured on gateways before 2026.2.21 (${gatewayVersion}): serve the sidecar at the root there, or upgrade the gateway`,
    };
  if (config.mode === "identity" && !versionAtLeast(gatewayVersion, MIN_VERSION)) {
    return {
      error: `identity mode needs gateway 2026.8.1 or later (trusted-proxy auth with deviceAutoApprove); ${gatewayVersion} refuses that config. Upgrade the gateway, or use --mode attribution`,
    };
  }
  const text = gatewayConfigFor(config, sidecarAddress, { legacy: isLegacyRelease(gatewayVersion) });
  // 2026.8.1–2026.9.5 take the block, but their updates roll back in trusted-proxy mode: said above it, not hidden.
  const trap =
    config.mode === "identity" && !versionAtLeast(gatewayVersion, PROXY_UPDATE_VERSION)
      ? `// WARNING: ${proxyUpdateAdvice(gatewayVersion)}\n`
      : "";
  return { text: trap + text };
}
