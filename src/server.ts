// The listeners and the request/upgrade dispatch: every connection is registered, every request ends in exactly one
// access-log line and one metric, and drain() shuts down in the order a proxy should (stop accepting, finish
// in-flight requests, then say 1001 to WebSockets still open after the grace period).
import type { AddressInfo, Socket } from "node:net";
import http from "node:http";
import https from "node:https";
import type { Duplex } from "node:stream";
import { createAdminServer } from "./admin.ts";
import { createAuthGate } from "./auth-gate.ts";
import type { Config, HostPort } from "./config.ts";
import { type TrustPolicy, resolveClient, rewriteHeaders } from "./forwarded-headers.ts";
import { createHttpForwarder, kUpstreamError } from "./forward-http.ts";
import { checkUpgradeRequest, createUpgradeForwarder, destroySelf } from "./forward-upgrade.ts";
import { type Logger, redactUrl } from "./log.ts";
import { type Metrics, createMetrics, methodLabel, statusClass } from "./metrics.ts";
import { refuseSocket } from "./responses.ts";
import { createRedirectServer, readKeyPair, watchKeyPair } from "./tls.ts";

/** More header lines than any browser sends; Node would silently drop those past 2,000, we refuse instead. */
const MAX_HEADER_COUNT = 200;

export interface Sidecar {
  readonly proxyAddress: AddressInfo;
  readonly adminAddress: AddressInfo;
  readonly redirectAddress: AddressInfo | undefined;
  readonly metrics: Metrics;
  /** Graceful shutdown; resolves when everything is closed. Safe to call twice. */
  drain(): Promise<void>;
}

export interface SidecarDeps { logger: Logger }

export class ListenError extends Error {
  constructor(what: string, at: HostPort, err: NodeJS.ErrnoException) {
    const why = err.code === "EADDRINUSE" ? "the address is already in use" : err.code === "EACCES" ? "permission denied (ports below 1024 need privileges)" : err.code === "EADDRNOTAVAIL" ? "no interface has this address" : err.message;
    super(`cannot listen for ${what} on ${formatHostPort(at)}: ${why}`);
    this.name = "ListenError";
  }
}

export const formatHostPort = (hp: HostPort): string => (hp.host.includes(":") ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`);

function listen(server: http.Server, at: HostPort, what: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => reject(new ListenError(what, at, err));
    server.once("error", onError);
    server.listen({ host: at.host, port: at.port }, () => {
      server.removeListener("error", onError);
      resolve(server.address() as AddressInfo);
    });
  });
}

export async function startSidecar(config: Config, deps: SidecarDeps): Promise<Sidecar> {
  const { logger } = deps;
  const metrics = createMetrics();
  // Identity and local modes authenticate at the edge; attribution mode leaves authentication to the gateway.
  const gate = config.mode === "attribution" ? undefined : createAuthGate(config, logger, metrics);
  const policy: TrustPolicy = {
    mode: config.mode,
    trustedHops: config.trustedHops,
    loopbackSubstitute: config.loopbackSubstitute,
    identityHeader: config.identityHeader,
  };
  const httpForwarder = createHttpForwarder({ upstream: config.upstream, upstreamTimeoutMs: config.upstreamTimeoutMs, metrics, logger });
  const upgrades = createUpgradeForwarder({ upstream: config.upstream, upgradeTimeoutMs: config.upgradeTimeoutMs, metrics, logger });
  const tls = config.tlsCert !== undefined && config.tlsKey !== undefined;
  const serverOptions: http.ServerOptions = {
    maxHeaderSize: config.maxHeaderBytes,
    headersTimeout: config.headersTimeoutMs,
    // Uploads and long polls may take as long as they take; slowloris is bounded by headersTimeout.
    requestTimeout: 0,
    keepAliveTimeout: 65_000,
    // Node checks headersTimeout on this period (default 30 s): make the limit mean what it says.
    connectionsCheckingInterval: Math.min(1000, config.headersTimeoutMs),
  };
  const server = tls
    ? https.createServer({ ...serverOptions, ...readKeyPair(config.tlsCert as string, config.tlsKey as string) })
    : http.createServer(serverOptions);
  const hsts = tls && config.hsts ? "max-age=31536000; includeSubDomains" : undefined;
  let draining = false;
  let inFlight = 0;
  let idleWaiter: (() => void) | undefined;

  server.on("connection", (socket: Socket) => {
    metrics.activeConnections.inc({ kind: "http" });
    socket.once("close", () => metrics.activeConnections.dec({ kind: "http" }));
  });

  server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    const started = performance.now();
    inFlight++;
    const peer = { address: req.socket.remoteAddress ?? "", encrypted: tls };
    const view = resolveClient(peer, req.headers, policy);
    const url = req.url;
    res.once("close", () => {
      const status = res.writableFinished ? res.statusCode : 499;
      const seconds = (performance.now() - started) / 1000;
      const method = methodLabel(req.method);
      metrics.httpRequests.inc({ method, status_class: status === 499 ? "499" : statusClass(status) });
      metrics.httpDuration.observe({ method }, seconds);
      const upstreamError = (res as { [kUpstreamError]?: string })[kUpstreamError];
      logger.info({ kind: "http", client: view.clientAddress, method: req.method, url: redactUrl(url), status, durationMs: Math.round(seconds * 1e4) / 10, ...(upstreamError ? { error: upstreamError } : {}) }, "request");
      if (--inFlight === 0 && idleWaiter) idleWaiter();
    });
    if (req.rawHeaders.length / 2 > MAX_HEADER_COUNT) {
      metrics.clientErrors.inc({ status: "431" });
      res.writeHead(431, { "content-type": "text/plain", connection: "close" }).end("too many header fields\n");
      return;
    }
    if (draining) res.setHeader("connection", "close");
    if (hsts) res.setHeader("strict-transport-security", hsts);
    const identity = gate?.checkRequest(req, res, view);
    if (identity === null) return; // the gate answered (login page, 401, redirect)
    rewriteHeaders(req.headers, view, policy, identity);
    httpForwarder.forward(req, res);
  });

  server.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", destroySelf);
    const peer = { address: req.socket.remoteAddress ?? "", encrypted: tls };
    const view = resolveClient(peer, req.headers, policy);
    const refuse = (result: "bad_request" | "draining", status: number, type: string, message: string, headers?: Record<string, string>) => {
      metrics.upgrades.inc({ result });
      logger.info({ kind: "websocket", client: view.clientAddress, url: redactUrl(req.url), result, status }, "websocket refused");
      refuseSocket(socket, { status, type, message, ...(headers ? { headers } : {}) });
    };
    if (draining) return refuse("draining", 503, "draining", "the sidecar is shutting down");
    if (req.rawHeaders.length / 2 > MAX_HEADER_COUNT) return refuse("bad_request", 431, "too_many_headers", "too many header fields");
    const bad = checkUpgradeRequest(req);
    if (bad) return refuse("bad_request", bad.status, bad.type, bad.message, bad.headers);
    const identity = gate?.checkUpgrade(req, socket, view);
    if (identity === null) return; // refused by the gate, which recorded why
    rewriteHeaders(req.headers, view, policy, identity, true);
    upgrades.forward(req, socket, head, { client: view.clientAddress, url: req.url ?? "/" });
  });

  // Requests Node's parser rejects never reach "request": answer them here, with a status that names the problem.
  server.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === "ECONNRESET" || !socket.writable) {
      socket.destroy();
      return;
    }
    const status = err.code === "HPE_HEADER_OVERFLOW" ? 431 : err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
    metrics.clientErrors.inc({ status: String(status) });
    logger.info({ kind: "http", status, error: err.code ?? "parse_error" }, "malformed request refused");
    const message = status === 431 ? "request headers too large" : status === 408 ? "request headers not received in time" : "malformed HTTP request";
    refuseSocket(socket, { status, type: err.code ?? "bad_request", message });
  });

  let stopWatching = (): void => {};
  if (tls) stopWatching = watchKeyPair(server as https.Server, config.tlsCert as string, config.tlsKey as string, logger);
  const publicHttpsPort = config.publicOrigin?.protocol === "https:" ? Number(config.publicOrigin.port || 443) : undefined;
  const redirect = config.httpsRedirectListen ? createRedirectServer(() => publicHttpsPort ?? proxyAddress.port) : undefined;
  const admin = createAdminServer({ metrics, upstream: config.upstream, isDraining: () => draining });

  let proxyAddress: AddressInfo;
  let adminAddress: AddressInfo;
  let redirectAddress: AddressInfo | undefined;
  try {
    proxyAddress = await listen(server, config.listen, "the proxy");
    adminAddress = await listen(admin, config.adminListen, "the admin endpoints (adminListen)");
    if (redirect && config.httpsRedirectListen) redirectAddress = await listen(redirect, config.httpsRedirectListen, "the HTTPS redirect (httpsRedirectListen)");
  } catch (err) {
    stopWatching();
    for (const s of [server, admin, redirect]) if (s?.listening) s.close();
    throw err;
  }
  logger.info({ listen: formatHostPort(config.listen), port: proxyAddress.port, upstream: config.upstream.origin, mode: config.mode, admin: `${adminAddress.address}:${adminAddress.port}`, tls }, "openclaw-sidecar listening");
  logger.flush();

  let drained: Promise<void> | undefined;
  async function drain(): Promise<void> {
    drained ??= (async () => {
      draining = true;
      logger.info({ inFlight, websockets: upgrades.tunnels.size, graceMs: config.drainTimeoutMs }, "draining");
      server.close();
      redirect?.close();
      server.closeIdleConnections();
      const deadline = Date.now() + config.drainTimeoutMs;
      // In-flight requests finish; WebSockets get the same grace period to close by themselves.
      await waitUntil(() => inFlight === 0 && upgrades.tunnels.size === 0, deadline, (wake) => (idleWaiter = wake));
      for (const tunnel of upgrades.tunnels) tunnel.goAway();
      await waitUntil(() => upgrades.tunnels.size === 0, Date.now() + 1000);
      for (const tunnel of upgrades.tunnels) {
        tunnel.client.destroy();
        tunnel.upstream.destroy();
      }
      server.closeAllConnections();
      httpForwarder.close();
      stopWatching();
      await new Promise<void>((resolve) => admin.close(() => resolve()));
      admin.closeAllConnections();
      logger.info("drained");
    })();
    return drained;
  }

  return {
    get proxyAddress() { return proxyAddress; },
    get adminAddress() { return adminAddress; },
    get redirectAddress() { return redirectAddress; },
    metrics,
    drain,
  };
}

/** Resolves when `done()` holds or at the deadline; polls every 50 ms, or sooner when woken. */
async function waitUntil(done: () => boolean, deadline: number, register?: (wake: () => void) => void): Promise<void> {
  while (!done() && Date.now() < deadline) {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, Math.min(50, Math.max(0, deadline - Date.now())));
      register?.(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}
