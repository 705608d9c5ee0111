// The request path, top to bottom: the client is resolved (forwarding/), the gate decides (gate/), the headers are
// rewritten and the head serialized under the wire invariant (forwarding/, http/http1.ts), and the exchange is
// forwarded or refused — every request ending in exactly one access line and one metric. A client outside
// allowedClients is refused first, before the gate. Two origins: the main one (the gateway's dashboard and control
// WebSocket, behind the gate) and the MCP Apps sandbox origin (attribution-mode hygiene, no gate, its own gateway
// listener: gate/apps-origin.ts).
import { stripMainOriginCredentials } from "../gate/apps-origin.ts";
import type { AuthGate } from "../gate/auth-gate.ts";
import { outsideBasePath, upgradeOutsideBasePath } from "../gate/base-path.ts";
import {
  type ClientView,
  type Identity,
  type TrustPolicy,
  isForbiddenTrailerField,
  resolveClient,
  rewriteHeaders,
} from "../forwarding/forwarded-headers.ts";
import { type ClientConnection, type ConnectionOptions, type Exchange, Outcome } from "../http/client-connection.ts";
import { type UpgradeForwarder, checkUpgradeRequest, destroySelf } from "../http/forward-upgrade.ts";
import { HttpError, type RequestHead, serializeRequestHead } from "../http/http1.ts";
import { type Refusal, type Reply, refusalReply, refuseSocket, wantsHtml } from "../http/responses.ts";
import { describeUpstreamFailure } from "../http/upstream-errors.ts";
import { upstreamTarget } from "../http/upstream-socket.ts";
import { type Logger, createLineWriter, redactUrl } from "../ops/log.ts";
import { type Metrics, type UpgradeResult, methodLabel, statusClass } from "../ops/metrics.ts";
import type { Traffic } from "./drain.ts";

/** More header lines than any browser sends; refused with 431. */
const MAX_HEADER_COUNT = 200;
/** How long an idle keep-alive client connection is kept (longer than browsers keep theirs). */
const KEEP_ALIVE_TIMEOUT_MS = 65_000;

/** The options the request path reads: the engine's limits and deadlines, and where the gateway is. */
export interface RouterOptions {
  upstream: URL;
  /** publicBasePath: nothing outside it is forwarded, in any mode ("" = the root, everything). */
  publicBasePath: string;
  appsUpstream: URL;
  maxHeaderBytes: number;
  headersTimeoutMs: number;
  upstreamTimeoutMs: number;
  bodyTimeoutMs: number;
  sendTimeoutMs: number;
}

export interface RouterParts {
  config: RouterOptions;
  /** Identity and local modes; none in attribution mode (the gateway authenticates). */
  gate: AuthGate | undefined;
  policy: TrustPolicy;
  appsPolicy: TrustPolicy;
  upgrades: UpgradeForwarder;
  /** The MCP Apps origin's forwarder, when appsListen is set. */
  appsUpgrades: UpgradeForwarder | undefined;
  /** The client connection is TLS (the scheme the client used). */
  encrypted: boolean;
  /** Added to every response head (HSTS), or "". */
  hstsLine: string;
  traffic: Traffic;
  metrics: Metrics;
  logger: Logger;
  onClosed(connection: ClientConnection): void;
}

/** The client connections' options and callbacks for the main origin and the MCP Apps origin. */
export function createRouter(parts: RouterParts): { main: ConnectionOptions; apps: ConnectionOptions } {
  const { config, gate, policy, appsPolicy, upgrades, appsUpgrades, encrypted, hstsLine, traffic, metrics, logger } =
    parts;
  const line = createLineWriter(logger);
  /** Where the pages' links lead: the dashboard's root, under publicBasePath. */
  const home = `${config.publicBasePath}/`;

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
    if (isUpgrade) traffic.begin();
    const settle = (then: () => void) => {
      if (ex.outcome !== Outcome.Pending) return; // the client left: onDone has counted it
      if (isUpgrade) traffic.end();
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

  /** An upgrade refused before the 101: counted, one access line, the answer written whole and the socket closed. */
  const refuseUpgrade = (ex: Exchange, view: ClientView, result: UpgradeResult, refusal: Refusal): void => {
    metrics.upgrades.inc({ result });
    line(
      {
        kind: "websocket",
        client: view.clientAddress,
        url: redactUrl(ex.head.url),
        result,
        status: refusal.status,
        sentUpstream: 0,
      },
      "websocket refused",
    );
    refuseSocket(ex.takeOver().socket, refusal);
  };

  /**
   * allowedClients: a client outside it is refused before anything else looks at the request — no login, no limiter,
   * no single sign-on, nothing sent upstream. The access line (onDone) names the cause.
   */
  const clientNotAllowed = (view: ClientView): Refusal => ({
    status: 403,
    type: "client_not_allowed",
    message: `the client address ${view.clientAddress} is not in the sidecar's allowedClients`,
  });
  const refuseClient = (ex: Exchange, view: ClientView): void => {
    metrics.clientsRefused.inc();
    ex.error = "client_not_allowed";
    ex.reply(refusalReply(clientNotAllowed(view), wantsHtml(ex.head.headers)));
  };

  const upgrade = (
    ex: Exchange,
    view: ClientView,
    settled?: { verdict: Awaited<ReturnType<AuthGate["checkUpgrade"]>> },
  ): void => {
    const head = ex.head;
    const refuse = (result: UpgradeResult, refusal: Refusal) => refuseUpgrade(ex, view, result, refusal);
    if (!view.allowed) return refuse("client_not_allowed", clientNotAllowed(view));
    if (traffic.draining)
      return refuse("draining", { status: 503, type: "draining", message: "the sidecar is shutting down" });
    const bad = checkUpgradeRequest(head);
    if (bad) return refuse("bad_request", bad);
    // The prefix first, before any credential is looked at: outside it nothing is forwarded, whoever asks.
    const outside = settled === undefined ? upgradeOutsideBasePath(head, config.publicBasePath) : undefined;
    if (outside) return refuse("bad_request", outside);
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
    // A held upgrade goes on with the one user's identity; its first message must still prove the token. A held or
    // admitted one stays open while its credential stands (a reload may withdraw it: forwarder.revoke()).
    const held = verdict !== undefined && "held" in verdict ? verdict : undefined;
    const admitted = verdict !== undefined && "stillValid" in verdict && !("held" in verdict) ? verdict : undefined;
    const identity = held !== undefined ? held.held : admitted !== undefined ? admitted.identity : verdict;
    rewriteHeaders(head.headers, view, policy, identity as Identity | undefined, true);
    const out = outgoingHead(head, view.clientAddress);
    if (typeof out !== "string") return refuse("unsafe_request_head", out);
    const { socket, rest } = ex.takeOver();
    socket.on("error", destroySelf);
    const stillValid = (held ?? admitted)?.stillValid;
    upgrades.forward(out, socket, rest, {
      client: view.clientAddress,
      url: head.url,
      ...(held !== undefined ? { hold: held.check } : {}),
      ...(stillValid !== undefined ? { stillValid } : {}),
    });
  };

  const proceed = (ex: Exchange, view: ClientView, verdict: Awaited<ReturnType<AuthGate["checkRequest"]>>): void => {
    if (verdict !== undefined && "status" in verdict) return ex.reply(verdict);
    rewriteHeaders(ex.head.headers, view, policy, verdict);
    const out = outgoingHead(ex.head, view.clientAddress);
    if (typeof out !== "string") return ex.reply(refusalReply({ ...out, home }, wantsHtml(ex.head.headers)));
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
    isDraining: () => traffic.draining,
    onRequest(ex) {
      const head = ex.head;
      const view = resolveClient({ address: ex.connection.remoteAddress, encrypted }, head.headers, policy);
      ex.client = view.clientAddress;
      if (head.upgrade) return upgrade(ex, view);
      traffic.begin();
      if (!view.allowed) return refuseClient(ex, view);
      const outside = outsideBasePath(head, config.publicBasePath);
      if (outside) return ex.reply(outside);
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
      traffic.end();
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
      return refusalReply({ ...failure, home }, wantsHtml(ex.head.headers));
    },
    onClosed: parts.onClosed,
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
        if (!view.allowed) return refuseUpgrade(ex, view, "client_not_allowed", clientNotAllowed(view));
        const bad = checkUpgradeRequest(head);
        if (bad || traffic.draining)
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
      traffic.begin();
      if (!view.allowed) return refuseClient(ex, view);
      rewriteHeaders(head.headers, view, appsPolicy);
      const out = outgoingHead(head, view.clientAddress);
      if (typeof out !== "string") return ex.reply(refusalReply(out, false));
      ex.forward(out);
    },
  };

  return { main: connectionOptions, apps: appsConnectionOptions };
}
