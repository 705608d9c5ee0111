// The running sidecar, assembled: each part is built from its own slice of the options (the gate its credentials,
// the engine its limits, ACME its settings), the router joins them into the request path (router.ts), and the
// listeners open — the proxy (plain or TLS, ACME's front when it issues), the HTTPS redirect, the MCP Apps origin and
// the admin endpoints. drain() shuts it all down (drain.ts).
import net, { type AddressInfo } from "node:net";
import tls from "node:tls";
import { createAuthGate } from "../gate/auth-gate.ts";
import type { TrustPolicy } from "../forwarding/forwarded-headers.ts";
import { createUpgradeForwarder } from "../http/forward-upgrade.ts";
import { acceptReusingBuffers } from "../http/socket-reads.ts";
import type { Logger } from "../ops/log.ts";
import { type Metrics, createMetrics } from "../ops/metrics.ts";
import type { Config } from "../options/config.ts";
import { prepareAcme } from "../tls/acme.ts";
import { createRedirectServer, readKeyPair, watchKeyPair } from "../tls/tls.ts";
import { createAdminServer } from "./admin.ts";
import { Traffic, createDrain } from "./drain.ts";
import { createConnectionRegistry, formatHostPort, listen } from "./listeners.ts";
import { createReloader } from "./reload.ts";
import { createRouter } from "./router.ts";

export { ListenError, formatHostPort } from "./listeners.ts";

export interface Sidecar {
  readonly proxyAddress: AddressInfo;
  readonly adminAddress: AddressInfo;
  readonly redirectAddress: AddressInfo | undefined;
  /** The MCP Apps sandbox listener (appsListen), when configured. */
  readonly appsAddress: AddressInfo | undefined;
  readonly metrics: Metrics;
  /**
   * Loads the configuration again and applies its credentials (reload.ts); false when refused. SIGHUP calls it
   * (cli.ts), and so does a change of one of the configuration's files.
   */
  reload(trigger?: string): boolean;
  /** Graceful shutdown; resolves when everything is closed. Safe to call twice. */
  drain(): Promise<void>;
}

export interface SidecarDeps {
  logger: Logger;
  /** Loads the configuration again from the sources `config` came from (reload()); none: nothing to reload. */
  load?: () => Config;
  /** How often the configuration's files are polled for a change (ms); 0: not watched. Default 1000. */
  watchIntervalMs?: number;
}

export async function startSidecar(config: Config, deps: SidecarDeps): Promise<Sidecar> {
  const { logger } = deps;
  const metrics = createMetrics();
  // Identity and local modes authenticate at the edge; attribution mode leaves authentication to the gateway.
  const gate = config.mode === "attribution" ? undefined : createAuthGate(config, logger, metrics);
  const policy: TrustPolicy = {
    mode: config.mode,
    trustedHops: config.trustedHops,
    allowedClients: config.allowedClients,
    loopbackSubstitute: config.loopbackSubstitute,
    identityHeader: config.identityHeader,
    passHeaders: new Set(config.passHeaders),
  };
  // The MCP Apps sandbox origin (gate/apps-origin.ts): attribution-mode hygiene, no gate, its own gateway listener.
  const appsPolicy: TrustPolicy = { ...policy, mode: "attribution" };
  const forwarder = (upstream: URL) =>
    createUpgradeForwarder({
      upstream,
      upgradeTimeoutMs: config.upgradeTimeoutMs,
      heldUpgradeTimeoutMs: config.heldUpgradeTimeoutMs,
      metrics,
      logger,
    });
  const upgrades = forwarder(config.upstream);
  const appsUpgrades = config.appsListen ? forwarder(config.appsUpstream) : undefined;
  // Automatic HTTPS: the stored certificate or a placeholder now, the order loop once the listeners are open.
  const acme = config.acmeDomains.length > 0 ? await prepareAcme(config, logger, metrics) : undefined;
  const encrypted = (config.tlsCert !== undefined && config.tlsKey !== undefined) || acme !== undefined;
  const hstsLine = encrypted && config.hsts ? "Strict-Transport-Security: max-age=31536000; includeSubDomains\r\n" : "";

  const traffic = new Traffic();
  const connections = createConnectionRegistry({
    maxConnections: config.maxConnections,
    deadlines: config,
    metrics,
    logger,
  });
  const routes = createRouter({
    config,
    gate,
    policy,
    appsPolicy,
    upgrades,
    appsUpgrades,
    encrypted,
    hstsLine,
    traffic,
    metrics,
    logger,
    onClosed: (connection) => connections.remove(connection),
  });
  const accept = (socket: net.Socket) => connections.accept(socket, routes.main);
  const acceptApps = (socket: net.Socket) => connections.accept(socket, routes.apps);

  const server = encrypted
    ? tls.createServer(
        {
          ...(acme?.initialKeyPair ?? readKeyPair(config.tlsCert as string, config.tlsKey as string)),
          handshakeTimeout: config.headersTimeoutMs,
          ALPNProtocols: ["http/1.1"],
          noDelay: true,
        },
        accept,
      )
    : net.createServer({ noDelay: true }, accept);
  if (encrypted) {
    server.on("tlsClientError", (err: NodeJS.ErrnoException, socket: net.Socket) => {
      logger.debug(
        { kind: "tls", client: socket.remoteAddress, error: err.code ?? err.message },
        "TLS handshake failed",
      );
      socket.destroy();
    });
  }
  let stopWatching = (): void => {};
  if (encrypted && !acme)
    stopWatching = watchKeyPair(server as tls.Server, config.tlsCert as string, config.tlsKey as string, logger);
  const proxyListener = acme ? acme.listenerFor(server as tls.Server) : server;
  const publicHttpsPort =
    config.publicOrigin?.protocol === "https:" ? Number(config.publicOrigin.port || 443) : undefined;
  const redirect = config.httpsRedirectListen
    ? createRedirectServer(() => publicHttpsPort ?? proxyAddress.port, acme?.http01)
    : undefined;
  const apps = config.appsListen ? net.createServer({ noDelay: true }, acceptApps) : undefined;
  const admin = createAdminServer({ metrics, upstream: config.upstream, isDraining: () => traffic.draining, logger });

  let proxyAddress: AddressInfo;
  let adminAddress: AddressInfo;
  let redirectAddress: AddressInfo | undefined;
  let appsAddress: AddressInfo | undefined;
  try {
    proxyAddress = await listen(proxyListener, config.listen, "the proxy");
    adminAddress = await listen(admin, config.adminListen, "the admin endpoints (adminListen)");
    if (redirect && config.httpsRedirectListen)
      redirectAddress = await listen(redirect, config.httpsRedirectListen, "the HTTPS redirect (httpsRedirectListen)");
    if (apps && config.appsListen)
      appsAddress = await listen(apps, config.appsListen, "the MCP Apps sandbox origin (appsListen)");
  } catch (err) {
    stopWatching();
    connections.stop();
    for (const s of [proxyListener, admin, redirect, apps]) if (s?.listening) s.close();
    throw err;
  }
  acme?.start(server as tls.Server);
  const reloader = createReloader({ config, load: deps.load ?? (() => config), gate, upgrades, logger, metrics });
  const watchIntervalMs = deps.watchIntervalMs ?? 1000;
  if (deps.load !== undefined && watchIntervalMs > 0) reloader.watch(watchIntervalMs);
  // Plain listeners' connections read into reused buffers (http/socket-reads.ts); TLS ones cannot.
  const acceptError = (err: Error) =>
    logger.warn({ kind: "http", error: err.message }, "accepting a connection failed");
  const reusing =
    (!encrypted ? acceptReusingBuffers(server, accept, acceptError) : true) &&
    (apps ? acceptReusingBuffers(apps, acceptApps, acceptError) : true);
  if (!reusing)
    logger.warn(
      { node: process.version },
      "this Node's listeners cannot hand over accepted sockets: client reads use a fresh buffer each (slower, not wrong)",
    );
  logger.info(
    {
      listen: formatHostPort(config.listen),
      port: proxyAddress.port,
      upstream: config.upstream.origin,
      mode: config.mode,
      admin: `${adminAddress.address}:${adminAddress.port}`,
      tls: encrypted,
    },
    "openclaw-sidecar listening",
  );
  logger.flush();

  const drain = createDrain({
    traffic,
    graceMs: config.drainTimeoutMs,
    listeners: [proxyListener, redirect, apps],
    stopAccepting: () => acme?.stop(),
    connections: connections.all,
    forwarders: [upgrades, appsUpgrades],
    admin,
    stop() {
      connections.stop();
      stopWatching();
      reloader.stop();
    },
    logger,
  });

  return {
    get proxyAddress() {
      return proxyAddress;
    },
    get adminAddress() {
      return adminAddress;
    },
    get redirectAddress() {
      return redirectAddress;
    },
    get appsAddress() {
      return appsAddress;
    },
    metrics,
    reload: (trigger = "reload") => reloader.reload(trigger),
    drain,
  };
}
