// The WebSocket path, owned end to end (not httpxy's ws pass): it needs its own handshake deadline, a complete HTTP
// answer for every refusal (the gateway's 403 proxy_attribution_required is relayed as-is), exactly one recorded
// outcome per upgrade, and close-code accounting that never re-frames the stream.
//
// After the 101 the sidecar is a byte relay with backpressure. Two FrameReaders watch the bytes as they pass, one per
// direction, only to learn which close frame came first; nothing is parsed into messages, buffered or re-encoded, so
// subprotocols, extensions and permessage-deflate pass through untouched. There is no idle timeout: TCP keep-alive
// finds dead peers, and a quiet dashboard socket lives as long as both ends want it.
import http from "node:http";
import https from "node:https";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { FrameReader, type CloseReasonClass } from "./close-frames.ts";
import type { Logger } from "./log.ts";
import { redactUrl } from "./log.ts";
import { type CloseInitiator, type Metrics, type UpgradeResult, closeCodeLabel } from "./metrics.ts";
import { type Refusal, refuseSocket } from "./responses.ts";
import { UpstreamTimeoutError, describeUpstreamFailure } from "./upstream-errors.ts";

export interface UpgradeForwarderOptions {
  upstream: URL;
  /** Time allowed for the gateway to answer the upgrade; then 504. */
  upgradeTimeoutMs: number;
  metrics: Metrics;
  logger: Logger;
}

/** What one upgrade is known by in logs. */
export interface UpgradeContext { client: string; url: string }

const KEEPALIVE_PROBE_MS = 30_000;
/** After one side closed cleanly, how long the other may take to flush and close before it is destroyed. */
const CLOSE_LINGER_MS = 5_000;
/** Refusal bodies from the gateway are small JSON; anything larger is cut (the status alone still gets through). */
const MAX_REFUSAL_BODY = 64 * 1024;

/** Checks an upgrade request before anything is sent upstream (RFC 6455 §4.2.1). */
export function checkUpgradeRequest(req: http.IncomingMessage): Refusal | undefined {
  const bad = (message: string): Refusal => ({ status: 400, type: "bad_upgrade_request", message });
  if (req.method !== "GET") return bad("a WebSocket upgrade must use GET");
  if (!/(^|,)\s*websocket\s*(,|$)/i.test(req.headers.upgrade ?? "")) return bad("only WebSocket upgrades are supported");
  const version = req.headers["sec-websocket-version"];
  if (version !== "13") {
    return { status: 426, type: "unsupported_websocket_version", message: "Sec-WebSocket-Version must be 13", headers: { "Sec-WebSocket-Version": "13" } };
  }
  const key = req.headers["sec-websocket-key"] ?? "";
  if (!/^[A-Za-z0-9+/]{22}==$/.test(key.trim())) return bad("Sec-WebSocket-Key must be 16 bytes in base64");
  return undefined;
}

/**
 * Long-lived sockets get this module-level listener, never a closure: a closure made during the handshake would keep
 * the whole handshake (request, response, parser objects) reachable for the life of the WebSocket.
 */
export function destroySelf(this: Duplex): void {
  this.destroy();
}

export class Tunnel {
  readonly ctx: UpgradeContext;
  readonly client: Duplex;
  readonly upstream: Socket;
  readonly fromUpstream = new FrameReader({ masked: false });
  readonly fromClient = new FrameReader({ masked: true });
  readonly openedAt = Date.now();
  private done = false;
  /**
   * Which side's close frame passed through first; "sidecar" when the sidecar itself closed the tunnel (shutdown),
   * "none" when the gateway vanished without one (a 1014 frame the sidecar wrote to the client does not count).
   */
  private firstClose: CloseInitiator | undefined;
  private readonly onDone: (t: Tunnel) => void;

  /**
   * `upstreamHead` and `clientHead` are bytes that arrived together with the handshake (the gateway's
   * connect.challenge, or a close frame sent at once, may be among them): they pass first, and are watched too.
   */
  constructor(ctx: UpgradeContext, client: Duplex, upstream: Socket, upstreamHead: Buffer, clientHead: Buffer, onDone: (t: Tunnel) => void) {
    this.ctx = ctx;
    this.client = client;
    this.upstream = upstream;
    this.onDone = onDone;
    // The gateway vanished (crash, kill -9, restart) without a close frame: tell the browser in a proper close frame
    // (1014, bad gateway) rather than a bare TCP end or reset, so it reconnects instead of reporting a broken socket.
    // Only at a frame boundary, or the frame would land inside a message.
    const lostGateway = (): Buffer | undefined => {
      if (this.fromUpstream.close !== undefined) return undefined;
      this.firstClose ??= "none";
      return this.fromUpstream.atFrameBoundary ? closeFrame(1014, "gateway connection lost", false) : undefined;
    };
    const toClient = relay(upstream, client, this.fromUpstream, () => (this.firstClose ??= "upstream"), lostGateway);
    const toUpstream = relay(client, upstream, this.fromClient, () => (this.firstClose ??= "client"), () => undefined);
    if (upstreamHead.length > 0) toClient(upstreamHead);
    if (clientHead.length > 0) toUpstream(clientHead);
    client.on("close", (hadError: boolean | undefined) => {
      if (hadError || upstream.writableEnded) upstream.destroy();
      else linger(upstream);
      this.closedOne();
    });
    upstream.on("close", (hadError) => {
      const last = hadError && client.writable && !client.writableEnded ? lostGateway() : undefined;
      if (last !== undefined) client.end(last);
      else if (hadError && !client.writableEnded) client.destroy();
      linger(client);
      this.closedOne();
    });
  }

  private closedOne(): void {
    if (this.client.destroyed && this.upstream.destroyed) this.finish();
  }

  /** The first close frame seen, in either direction; none means the TCP stream simply ended (1006). */
  outcome(): { code: number; initiator: CloseInitiator; reasonClass: CloseReasonClass } {
    const frame = this.firstClose === "upstream" ? this.fromUpstream.close : this.firstClose === "client" ? this.fromClient.close : undefined;
    if (frame !== undefined && this.firstClose !== undefined) return { code: frame.code, initiator: this.firstClose, reasonClass: frame.reasonClass };
    if (this.firstClose === "sidecar") return { code: 1001, initiator: "sidecar", reasonClass: "going_away" };
    return { code: 1006, initiator: "none", reasonClass: "none" };
  }

  /**
   * Shutdown: tell both ends the sidecar is going away (1001), at a frame boundary only — a close frame dropped into
   * the middle of a frame would corrupt the stream — and end the sockets; whatever is not closed later is destroyed.
   */
  goAway(): void {
    this.firstClose ??= "sidecar";
    if (this.fromUpstream.atFrameBoundary && this.fromUpstream.close === undefined) this.client.write(closeFrame(1001, "sidecar shutting down", false));
    if (this.fromClient.atFrameBoundary && this.fromClient.close === undefined) this.upstream.write(closeFrame(1001, "", true));
    this.client.end();
    this.upstream.end();
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.onDone(this);
  }
}

/**
 * Pipes `from` into `to` with backpressure, showing every chunk to `reader`; returns the per-chunk step. When `from`
 * ends, `to` is ended too, after the bytes `lastWords()` may supply.
 */
function relay(from: Duplex, to: Duplex, reader: FrameReader, onCloseFrame: () => void, lastWords: () => Buffer | undefined): (chunk: Buffer) => void {
  const pass = (chunk: Buffer) => {
    reader.feed(chunk);
    if (reader.close !== undefined) onCloseFrame();
    if (!to.write(chunk)) from.pause();
  };
  from.on("data", pass);
  to.on("drain", () => from.resume());
  from.on("end", () => {
    const last = lastWords();
    if (last !== undefined) to.end(last);
    else to.end();
  });
  // Attached at once: an error on either socket must never become an uncaught exception.
  from.on("error", destroySelf);
  return pass;
}

/** A socket whose peer is done: give it time to flush what it was handed, then make sure it is gone. */
function linger(socket: Duplex): void {
  if (socket.destroyed) return;
  const timer = setTimeout(() => socket.destroy(), CLOSE_LINGER_MS).unref();
  // A pending timer would keep the socket (and its tunnel) reachable long after it closed.
  socket.once("close", () => clearTimeout(timer));
}

/** A close frame; masked (client → server) frames get a random mask as RFC 6455 §5.3 requires. */
export function closeFrame(code: number, reason: string, masked: boolean): Buffer {
  const payload = Buffer.concat([Buffer.from([code >> 8, code & 0xff]), Buffer.from(reason.slice(0, 120))]);
  if (!masked) return Buffer.concat([Buffer.from([0x88, payload.length]), payload]);
  const mask = Buffer.from([Math.random() * 256, Math.random() * 256, Math.random() * 256, Math.random() * 256]);
  const body = Buffer.from(payload.map((b, i) => b ^ (mask[i & 3] as number)));
  return Buffer.concat([Buffer.from([0x88, 0x80 | payload.length]), mask, body]);
}

export interface UpgradeForwarder {
  forward(req: http.IncomingMessage, socket: Duplex, head: Buffer, ctx: UpgradeContext): void;
  readonly tunnels: ReadonlySet<Tunnel>;
}

export function createUpgradeForwarder(opts: UpgradeForwarderOptions): UpgradeForwarder {
  const { upstream, upgradeTimeoutMs, metrics, logger } = opts;
  const tunnels = new Set<Tunnel>();
  const request = upstream.protocol === "https:" ? https.request : http.request;
  const port = Number(upstream.port) || (upstream.protocol === "https:" ? 443 : 80);
  const hostname = upstream.hostname.replace(/^\[|\]$/g, "");

  const logRefused = (ctx: UpgradeContext, result: UpgradeResult, status: number, started: number, extra?: object) => {
    metrics.upgrades.inc({ result });
    logger.info({ kind: "websocket", client: ctx.client, url: redactUrl(ctx.url), result, status, durationMs: Date.now() - started, ...extra }, "websocket refused");
  };

  function onTunnelDone(t: Tunnel): void {
    tunnels.delete(t);
    const { code, initiator, reasonClass } = t.outcome();
    const seconds = (Date.now() - t.openedAt) / 1000;
    metrics.activeConnections.dec({ kind: "websocket" });
    metrics.wsCloses.inc({ code: closeCodeLabel(code), initiator, reason_class: reasonClass });
    metrics.wsDuration.observe(seconds);
    logger.info({
      kind: "websocket", client: t.ctx.client, url: redactUrl(t.ctx.url), result: "ok", status: 101, code, initiator,
      reasonClass, durationMs: Date.now() - t.openedAt, bytesFromClient: t.fromClient.bytes, bytesToClient: t.fromUpstream.bytes,
    }, "websocket closed");
  }

  function forward(req: http.IncomingMessage, socket: Duplex, head: Buffer, ctx: UpgradeContext): void {
    const started = Date.now();
    let settled = false;
    const settle = () => {
      const first = !settled;
      settled = true;
      return first;
    };
    socket.on("error", destroySelf);

    const proxyReq = request({ hostname, port, method: "GET", path: req.url, headers: req.headers, agent: false, setHost: false });
    const timer = setTimeout(() => proxyReq.destroy(new UpstreamTimeoutError(upgradeTimeoutMs)), upgradeTimeoutMs);
    const clear = () => clearTimeout(timer);

    // The client gave up (or reset) before the gateway answered.
    const onClientGone = () => {
      clear();
      proxyReq.destroy();
      if (settle()) logRefused(ctx, "client_aborted", 499, started);
    };
    socket.once("close", onClientGone);

    proxyReq.on("error", (err) => {
      clear();
      if (!settle()) return;
      socket.removeListener("close", onClientGone);
      const failure = describeUpstreamFailure(err, upstream);
      metrics.upstreamErrors.inc({ code: failure.code });
      logRefused(ctx, failure.result, failure.status, started, { error: failure.code });
      refuseSocket(socket, failure);
    });

    proxyReq.on("response", (res) => {
      clear();
      // The gateway refused the upgrade with an ordinary HTTP response: relay it whole and record why.
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        if (size < MAX_REFUSAL_BODY) chunks.push(c);
        size += c.length;
      });
      res.on("error", () => proxyReq.destroy());
      res.on("end", () => {
        if (!settle()) return;
        socket.removeListener("close", onClientGone);
        const body = Buffer.concat(chunks).subarray(0, MAX_REFUSAL_BODY);
        const status = res.statusCode ?? 502;
        const result: UpgradeResult =
          status === 403 && body.includes("proxy_attribution_required") ? "proxy_attribution_required" : status >= 500 ? "upstream_5xx" : "upstream_4xx";
        logRefused(ctx, result, status, started);
        writeHead(socket, status, res.statusMessage, res.rawHeaders, { "content-length": String(body.length), connection: "close" });
        socket.end(body);
        socket.once("finish", () => socket.destroy());
      });
    });

    proxyReq.on("upgrade", (res, proxySocket, proxyHead) => {
      clear();
      socket.removeListener("close", onClientGone);
      if (!settle() || socket.destroyed) {
        proxySocket.destroy();
        if (socket.destroyed) logRefused(ctx, "client_aborted", 499, started);
        return;
      }
      metrics.upgrades.inc({ result: "ok" });
      metrics.activeConnections.inc({ kind: "websocket" });
      for (const s of [socket as Socket, proxySocket]) {
        s.setTimeout?.(0);
        s.setNoDelay?.(true);
        s.setKeepAlive?.(true, KEEPALIVE_PROBE_MS);
      }
      writeHead(socket, 101, res.statusMessage, res.rawHeaders);
      const tunnel = new Tunnel(ctx, socket, proxySocket, proxyHead, head, onTunnelDone);
      // The handshake is over: drop its listeners (closures over this request) so nothing keeps them alive.
      proxyReq.removeAllListeners();
      proxyReq.on("error", destroySelf);
      tunnels.add(tunnel);
    });

    // A request body on an upgrade is not a thing; end the upstream request so the handshake is sent.
    proxyReq.end();
  }

  return { forward, tunnels };
}

function writeHead(socket: Duplex, status: number, message: string | undefined, rawHeaders: string[], override: Record<string, string> = {}): void {
  let head = `HTTP/1.1 ${status} ${message ?? http.STATUS_CODES[status] ?? ""}\r\n`;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    const lower = name.toLowerCase();
    if (lower in override || lower === "transfer-encoding") continue;
    head += `${name}: ${rawHeaders[i + 1]}\r\n`;
  }
  for (const [name, value] of Object.entries(override)) head += `${name}: ${value}\r\n`;
  socket.write(`${head}\r\n`);
}
