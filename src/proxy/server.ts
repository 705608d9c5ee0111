// The listeners and the request/upgrade dispatch: every connection is registered, every request ends in exactly one
// access-log line and one metric, and drain() shuts down in the order a proxy should (stop accepting, finish
// in-flight requests, then say 1001 to WebSockets still open after the grace period).
import net, { type AddressInfo, type Socket } from "node:net";
import type http from "node:http";
import tls from "node:tls";
import { prepareAcme } from "../tls/acme.ts";
import { createAdminServer } from "./admin.ts";
import { stripMainOriginCredentials } from "../gate/apps-origin.ts";
import { type AuthGate, createAuthGate } from "../gate/auth-gate.ts";
import { ClientConnection, type ConnectionOptions, type Exchange, Outcome } from "../http/client-connection.ts";
import type { Config, HostPort } from "../options/config.ts";
import {
  type ClientView,
  type Identity,
  type TrustPolicy,
  isForbiddenTrailerField,
  resolveClient,
  rewriteHeaders,
} from "../forwarding/forwarded-headers.ts";
import { checkUpgradeRequest, createUpgradeForwarder, destroySelf } from "../http/forward-upgrade.ts";
import { HttpError, type RequestHead, serializeRequestHead } from "../http/http1.ts";
import { type Logger, createLineWriter, redactUrl } from "../ops/log.ts";
import { type Metrics, type UpgradeResult, createMetrics, methodLabel, statusClass } from "../ops/metrics.ts";
import { type Refusal, type Reply, refusalReply, refuseSocket, wantsHtml } from "../http/responses.ts";
import { acceptReusingBuffers } from "../http/socket-reads.ts";
import { createRedirectServer, readKeyPair, watchKeyPair } from "../tls/tls.ts";
import { describeUpstreamFailure } from "../http/upstream-errors.ts";
import { upstreamTarget } from "../http/upstream-socket.ts";

/** More header lines than any browser sends; refused with 431. */
const MAX_HEADER_COUNT = 200;
/** How long an idle keep-alive client connection is kept (longer than browsers keep theirs). */
const KEEP_ALIVE_TIMEOUT_MS = 65_000;

export interface Sidecar {
  readonly proxyAddress: AddressInfo;
  readonly adminAddress: AddressInfo;
  readonly redirectAddress: AddressInfo | undefined;
  /** The MCP Apps sandbox listener (appsListen), when configured. */
  readonly appsAddress: AddressInfo | undefined;
  readonly metrics: Metrics;
  /** Graceful shutdown; resolves when everything is closed. Safe to call twice. */
  drain(): Promise<void>;
}

export interface SidecarDeps {
  logger: Logger;
}

export class ListenError extends Error {
  constructor(what: string, at: HostPort, err: NodeJS.ErrnoException) {
    const why =
      err.code === "EADDRINUSE"
        ? "the address is already in use"
        : err.code === "EACCES"
          ? "permission denied (ports below 1024 need privileges)"
          : err.code === "EADDRNOTAVAIL"
            ? "no interface has this address"
            : err.message;
    super(`cannot listen for ${what} on ${formatHostPort(at)}: ${why}`);
    this.name = "ListenError";
  }
}

export const formatHostPort = (hp: HostPort): string =>
  hp.host.includes(":") ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;

function listen(server: net.Server | http.Server, at: HostPort, what: string): Promise<AddressInfo> {
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
    passHeaders: new Set(config.passHeaders),
  };
  const upgrades = createUpgradeForwarder({
    upstream: config.upstream,
    upgradeTimeoutMs: config.upgradeTimeoutMs,
    heldUpgradeTimeoutMs: config.heldUpgradeTimeoutMs,
    metrics,
    logger,
  });
  // The MCP Apps sandbox origin (apps-origin.ts): attribution-mode hygiene, no gate, its own gateway listener.
  const appsPolicy: TrustPolicy = { ...policy, mode: "attribution" };
  const appsUpgrades = config.appsListen
    ? createUpgradeForwarder({
        upstream: config.appsUpstream,
        upgradeTimeoutMs: config.upgradeTimeoutMs,
        heldUpgradeTimeoutMs: config.heldUpgradeTimeoutMs,
        metrics,
        logger,
      })
    : undefined;
  // Automatic HTTPS: the stored certificate or a placeholder now, the order loop once the listeners are open.
  const acme = config.acmeDomains.length > 0 ? await prepareAcme(config, logger, metrics) : undefined;
  const encrypted = (config.tlsCert !== undefined && config.tlsKey !== undefined) || acme !== undefined;
  const hstsLine = encrypted && config.hsts ? "Strict-Transport-Security: max-age=31536000; includeSubDomains\r\n" : "";
  let draining = false;
  let inFlight = 0;
  let idleWaiter: (() => void) | undefined;
  const connections = new Set<ClientConnection>();
  const line = createLineWriter(logger);

  // Label children resolved once: prom-client hashes label objects on every inc/observe otherwise.
  const requestCounters = new Map<string, { inc(): void }>();
  const durationHistograms = new Map<string, { observe(v: number): void }>();
  const countRequest = (method: string, status: number, seconds: number) => {
    const m = methodLabel(method);
    const cls = status === 499 ? "499" : statusClass(status);
    const key = `${m} ${cls}`;
    let counter = requestCounters.get(key);
    if (counter === undefined) requestCounters.set(key, (counter = metrics.httpRequests.labels(m, cls)));
    counter.inc();
    let histogram = durationHistograms.get(m);
    if (histogram === undefined) durationHistograms.set(m, (histogram = metrics.httpDuration.labels(m)));
    histogram.observe(seconds);
  };

  /**
   * A verdict that needs the network (single sign-on: the provider, a JWKS): the exchange waits in its place — its
   * connection reads nothing more meanwhile — and goes on once it is known. A client gone by then is not answered.
   * While it waits an upgrade counts as in flight, as a request does, so drain waits for it.
   */
  const awaitVerdict = <T>(
    ex: Exchange,
    pending: Promise<T>,
    go: (verdict: T) => void,
    onError: () => void,
    isUpgrade: boolean,
  ): void => {
    if (isUpgrade) inFlight++;
    const settle = (then: () => void) => {
      if (ex.outcome !== Outcome.Pending) return; // the client left: onDone has counted it
      if (isUpgrade && --inFlight === 0 && idleWaiter) idleWaiter();
      then();
    };
    pending.then(
      (verdict) => settle(() => go(verdict)),
      (err: unknown) => {
        logger.error({ err }, "authentication check failed");
        settle(onError);
      },
    );
  };
  const internalError: Refusal = {
    status: 500,
    type: "internal_error",
    message: "the authentication check failed; see the sidecar's log",
  };

  /**
   * The head to send upstream, or the refusal to answer when it breaks the wire invariant (http1.ts
   * serializeRequestHead): logged once with the field and the character, counted, and nothing of it sent.
   */
  const outgoingHead = (head: RequestHead, client: string): string | Refusal => {
    try {
      return serializeRequestHead(head);
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      metrics.unsafeHeads.inc();
      // Its own kind: the exchange's access line (kind http/websocket) follows as for any refusal, with this status.
      logger.error(
        { kind: "wire", client, url: redactUrl(head.url), error: err.type, reason: err.message },
        "request refused: its head would not reach the gateway as decided",
      );
      return {
        status: err.status,
        type: err.type,
        message: "the request could not be forwarded as the sidecar decided it; see the sidecar's log",
      };
    }
  };

  const upgrade = (
    ex: Exchange,
    view: ClientView,
    settled?: { verdict: Awaited<ReturnType<AuthGate["checkUpgrade"]>> },
  ): void => {
    const head = ex.head;
    const refuse = (result: UpgradeResult, refusal: Refusal) => {
      metrics.upgrades.inc({ result });
      line(
        {
          kind: "websocket",
          client: view.clientAddress,
          url: redactUrl(head.url),
          result,
          status: refusal.status,
          sentUpstream: 0,
        },
        "websocket refused",
      );
      refuseSocket(ex.takeOver().socket, refusal);
    };
    if (draining) return refuse("draining", { status: 503, type: "draining", message: "the sidecar is shutting down" });
    const bad = checkUpgradeRequest(head);
    if (bad) return refuse("bad_request", bad);
    const verdict = settled !== undefined ? settled.verdict : gate?.checkUpgrade(head, view);
    if (verdict instanceof Promise)
      return awaitVerdict(
        ex,
        verdict,
        (v) => upgrade(ex, view, { verdict: v }),
        () => refuse("bad_request", internalError),
        true,
      );
    if (verdict !== undefined && "refusal" in verdict) return refuse(verdict.result, verdict.refusal);
    // A held upgrade goes on with the one user's identity; its first message must still prove the token.
    const held = verdict !== undefined && "held" in verdict ? verdict : undefined;
    rewriteHeaders(
      head.headers,
      view,
      policy,
      held !== undefined ? held.held : (verdict as Identity | undefined),
      true,
    );
    const out = outgoingHead(head, view.clientAddress);
    if (typeof out !== "string") return refuse("unsafe_request_head", out);
    const { socket, rest } = ex.takeOver();
    socket.on("error", destroySelf);
    upgrades.forward(out, socket, rest, {
      client: view.clientAddress,
      url: head.url,
      ...(held !== undefined ? { hold: held.check } : {}),
    });
  };

  const proceed = (ex: Exchange, view: ClientView, verdict: Awaited<ReturnType<AuthGate["checkRequest"]>>): void => {
    if (verdict !== undefined && "status" in verdict) return ex.reply(verdict);
    rewriteHeaders(ex.head.headers, view, policy, verdict);
    const out = outgoingHead(ex.head, view.clientAddress);
    if (typeof out !== "string") return ex.reply(refusalReply(out, wantsHtml(ex.head.headers)));
    ex.forward(out);
  };

  const connectionOptions: ConnectionOptions = {
    limits: { maxHeaderBytes: config.maxHeaderBytes, maxHeaderCount: MAX_HEADER_COUNT },
    headersTimeoutMs: config.headersTimeoutMs,
    keepAliveTimeoutMs: KEEP_ALIVE_TIMEOUT_MS,
    upstreamTimeoutMs: config.upstreamTimeoutMs,
    bodyTimeoutMs: config.bodyTimeoutMs,
    sendTimeoutMs: config.sendTimeoutMs,
    upstream: upstreamTarget(config.upstream),
    isForbiddenTrailer: (name) => isForbiddenTrailerField(name, policy),
    responseHeaderLines: hstsLine,
    isDraining: () => draining,
    onRequest(ex) {
      const head = ex.head;
      const view = resolveClient({ address: ex.connection.remoteAddress, encrypted }, head.headers, policy);
      ex.client = view.clientAddress;
      if (head.upgrade) return upgrade(ex, view);
      inFlight++;
      const verdict = gate?.checkRequest(head, view);
      if (verdict instanceof Promise)
        return awaitVerdict(
          ex,
          verdict,
          (v) => proceed(ex, view, v),
          () => ex.reply(refusalReply(internalError, false)),
          false,
        );
      proceed(ex, view, verdict);
    },
    onDone(ex) {
      const head = ex.head;
      const seconds = (performance.now() - ex.startedAt) / 1000;
      countRequest(head.method, ex.status, seconds);
      line(
        {
          kind: "http",
          client: ex.client,
          method: head.method,
          url: redactUrl(head.url),
          status: ex.status,
          durationMs: Math.round(seconds * 1e4) / 10,
          error: ex.error,
          sentUpstream: ex.sentUpstream,
        },
        "request",
      );
      if (--inFlight === 0 && idleWaiter) idleWaiter();
    },
    onBadRequest(err: HttpError, connection) {
      metrics.clientErrors.inc({ status: String(err.status) });
      logger.info(
        { kind: "http", client: connection.remoteAddress, status: err.status, error: err.type },
        "malformed request refused",
      );
      refuseSocket(connection.socket, { status: err.status, type: err.type, message: err.message });
    },
    onUpstreamFailure(err, ex): Reply {
      const failure = describeUpstreamFailure(err, config.upstream);
      ex.error = failure.code;
      metrics.upstreamErrors.inc({ code: failure.code });
      if (failure.code === "other") logger.error({ err }, "unexpected upstream error");
      return refusalReply(failure, wantsHtml(ex.head.headers));
    },
    onClosed(connection) {
      connections.delete(connection);
    },
  };

  const appsConnectionOptions: ConnectionOptions = {
    ...connectionOptions,
    upstream: upstreamTarget(config.appsUpstream),
    isForbiddenTrailer: (name) => isForbiddenTrailerField(name, appsPolicy),
    onRequest(ex) {
      const head = ex.head;
      const view = resolveClient({ address: ex.connection.remoteAddress, encrypted }, head.headers, appsPolicy);
      ex.client = view.clientAddress;
      stripMainOriginCredentials(head.headers);
      if (head.upgrade) {
        const bad = checkUpgradeRequest(head);
        if (bad || draining)
          return refuseSocket(
            ex.takeOver().socket,
            bad ?? { status: 503, type: "draining", message: "the sidecar is shutting down" },
          );
        rewriteHeaders(head.headers, view, appsPolicy, undefined, true);
        const out = outgoingHead(head, view.clientAddress);
        if (typeof out !== "string") return refuseSocket(ex.takeOver().socket, out);
        const { socket, rest } = ex.takeOver();
        socket.on("error", destroySelf);
        return appsUpgrades?.forward(out, socket, rest, { client: view.clientAddress, url: head.url });
      }
      inFlight++;
      rewriteHeaders(head.headers, view, appsPolicy);
      const out = outgoingHead(head, view.clientAddress);
      if (typeof out !== "string") return ex.reply(refusalReply(out, false));
      ex.forward(out);
    },
  };

  const openConnections = metrics.activeConnections.labels("http");
  // Every client socket counts, HTTP or WebSocket (a tunnel keeps the socket it was upgraded on), until it closes.
  let open = 0;
  const accept = (socket: Socket, options: ConnectionOptions = connectionOptions) => {
    if (open >= config.maxConnections) {
      metrics.connectionsRefused.inc();
      logger.warn(
        { kind: "http", client: socket.remoteAddress, maxConnections: config.maxConnections },
        "connection refused: maxConnections reached",
      );
      socket.on("error", destroySelf);
      refuseSocket(socket, {
        status: 503,
        type: "too_many_connections",
        message: "the sidecar is at its connection limit (maxConnections); try again later",
        headers: { "Retry-After": "1" },
      });
      return;
    }
    open++;
    openConnections.inc();
    socket.once("close", () => {
      open--;
      openConnections.dec();
    });
    connections.add(new ClientConnection(socket, options));
  };
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
    server.on("tlsClientError", (err: NodeJS.ErrnoException, socket: Socket) => {
      logger.debug(
        { kind: "tls", client: socket.remoteAddress, error: err.code ?? err.message },
        "TLS handshake failed",
      );
      socket.destroy();
    });
  }

  // One sweep for every connection's deadlines (Node's http server does the same): no timer per request.
  const sweepMs = Math.max(
    10,
    Math.min(
      1000,
      config.headersTimeoutMs / 4,
      config.upstreamTimeoutMs / 4,
      config.bodyTimeoutMs / 4,
      config.sendTimeoutMs / 4,
    ),
  );
  const sweep = setInterval(() => {
    const now = performance.now();
    for (const c of connections) c.checkDeadline(now);
  }, sweepMs).unref();

  let stopWatching = (): void => {};
  if (encrypted && !acme)
    stopWatching = watchKeyPair(server as tls.Server, config.tlsCert as string, config.tlsKey as string, logger);
  const proxyListener = acme ? acme.listenerFor(server as tls.Server) : server;
  const publicHttpsPort =
    config.publicOrigin?.protocol === "https:" ? Number(config.publicOrigin.port || 443) : undefined;
  const redirect = config.httpsRedirectListen
    ? createRedirectServer(() => publicHttpsPort ?? proxyAddress.port, acme?.http01)
    : undefined;
  const apps = config.appsListen
    ? net.createServer({ noDelay: true }, (socket) => accept(socket, appsConnectionOptions))
    : undefined;
  const admin = createAdminServer({ metrics, upstream: config.upstream, isDraining: () => draining, logger });

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
    clearInterval(sweep);
    for (const s of [proxyListener, admin, redirect, apps]) if (s?.listening) s.close();
    throw err;
  }
  acme?.start(server as tls.Server);
  // Plain listeners' connections read into reused buffers (socket-reads.ts); TLS ones cannot.
  const acceptError = (err: Error) =>
    logger.warn({ kind: "http", error: err.message }, "accepting a connection failed");
  const reusing =
    (!encrypted ? acceptReusingBuffers(server, (socket) => accept(socket), acceptError) : true) &&
    (apps ? acceptReusingBuffers(apps, (socket) => accept(socket, appsConnectionOptions), acceptError) : true);
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

  let drained: Promise<void> | undefined;
  async function drain(): Promise<void> {
    drained ??= (async () => {
      draining = true;
      logger.info({ inFlight, websockets: upgrades.tunnels.size, graceMs: config.drainTimeoutMs }, "draining");
      proxyListener.close();
      acme?.stop();
      redirect?.close();
      apps?.close();
      for (const c of connections) c.closeIfIdle();
      const deadline = Date.now() + config.drainTimeoutMs;
      // In-flight requests finish; WebSockets get the same grace period to close by themselves.
      const tunnels = () => [...upgrades.tunnels, ...(appsUpgrades?.tunnels ?? [])];
      await waitUntil(
        () => inFlight === 0 && tunnels().length === 0,
        deadline,
        (wake) => (idleWaiter = wake),
      );
      for (const tunnel of tunnels()) tunnel.goAway();
      await waitUntil(() => tunnels().length === 0, Date.now() + 1000);
      for (const tunnel of tunnels()) {
        tunnel.client.destroy();
        tunnel.upstream.destroy();
      }
      for (const c of connections) c.destroy();
      clearInterval(sweep);
      stopWatching();
      await new Promise<void>((resolve) => admin.close(() => resolve()));
      admin.closeAllConnections();
      logger.info("drained");
    })();
    return drained;
  }

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
