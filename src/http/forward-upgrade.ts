// The WebSocket path, owned end to end (no proxy library): it needs its own handshake deadline, a complete HTTP
// answer for every refusal (the gateway's 403 proxy_attribution_required is relayed as-is), exactly one recorded
// outcome per upgrade, and close-code accounting that never re-frames the stream.
//
// After the 101 the sidecar is a byte relay with backpressure. Two FrameReaders watch the bytes as they pass, one per
// direction, only to learn which close frame came first; nothing is parsed into messages, buffered or re-encoded, so
// subprotocols, extensions and permessage-deflate pass through untouched. There is no idle timeout: TCP keep-alive
// finds dead peers, and a quiet dashboard socket lives as long as both ends want it. The one deadline is a held
// upgrade's (heldUpgradeTimeoutMs): until its first message proves a credential it holds two sockets for nobody.
// After a credential reload, revoke() closes the tunnels whose stillValid() check (given by the caller) now fails.
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { FrameReader, type CloseReasonClass, classifyCloseReason } from "./close-frames.ts";
import { type ConnectRequest, FirstMessageHold, connectRefusal } from "./connect-frame.ts";
import {
  ChunkedScanner,
  type RequestHead,
  type ResponseHead,
  responseFraming,
  responseHeader,
  takeResponseHead,
} from "./http1.ts";
import type { Logger } from "../ops/log.ts";
import { createLineWriter, redactUrl } from "../ops/log.ts";
import { type CloseInitiator, type Metrics, type UpgradeResult, closeCodeLabel } from "../ops/metrics.ts";
import { type Refusal, refuseSocket } from "./responses.ts";
import { setReader } from "./socket-reads.ts";
import { UpstreamTimeoutError, describeUpstreamFailure } from "./upstream-errors.ts";
import { connectUpstream, upstreamTarget } from "./upstream-socket.ts";

export interface UpgradeForwarderOptions {
  upstream: URL;
  /** Time allowed for the gateway to answer the upgrade; then 504. */
  upgradeTimeoutMs: number;
  /** Time a held upgrade's first message may take after the 101; then close 1008 (Tunnel.expireHold). */
  heldUpgradeTimeoutMs: number;
  metrics: Metrics;
  logger: Logger;
}

/**
 * What one upgrade is known by in logs; `hold` when its first message must prove a credential (connect-frame.ts);
 * `stillValid` when the credential that admitted it can be withdrawn while it is open (a reload: revoke()).
 */
export interface UpgradeContext {
  client: string;
  url: string;
  hold?: ConnectCheck;
  stillValid?: () => boolean;
}

/** The reason of the close a revoked WebSocket gets (code 1008, policy violation). */
export const REVOKED_REASON = "credentials revoked: sign in again";

/** Decides a held upgrade's first message (identity mode: the gate checks the token, and counts failures). */
export type ConnectCheck = (request: ConnectRequest) => ConnectDecision;
export type ConnectDecision =
  | { ok: true }
  // `after`: the refusal is sent once it settles (a wrong token from a locked-out address is answered late).
  | {
      ok: false;
      result: "unauthenticated" | "rate_limited";
      message: string;
      detailCode: string;
      authReason: string;
      after?: Promise<void>;
    };

const KEEPALIVE_PROBE_MS = 30_000;
/** After one side closed cleanly, how long the other may take to flush and close before it is destroyed. */
const CLOSE_LINGER_MS = 5_000;
/** Refusal bodies from the gateway are small JSON; anything larger is cut (the status alone still gets through). */
const MAX_REFUSAL_BODY = 64 * 1024;
/**
 * Client bytes held while the gateway has not answered the upgrade (the gateway's own pre-auth frame limit); past
 * this the client socket is paused, so TCP holds the rest.
 */
const MAX_EARLY_CLIENT_BYTES = 64 * 1024;

/** Checks an upgrade request before anything is sent upstream (RFC 6455 §4.2.1). */
export function checkUpgradeRequest(req: RequestHead): Refusal | undefined {
  const bad = (message: string): Refusal => ({ status: 400, type: "bad_upgrade_request", message });
  if (req.method !== "GET") return bad("a WebSocket upgrade must use GET");
  // Bytes after the head are the tunnel's: a body would reach the gateway as WebSocket frames.
  if (req.body.kind !== "none") return bad("a WebSocket upgrade must not have a body");
  if (!/(^|,)\s*websocket\s*(,|$)/i.test(req.headers.upgrade ?? ""))
    return bad("only WebSocket upgrades are supported");
  const version = req.headers["sec-websocket-version"];
  if (version !== "13") {
    return {
      status: 426,
      type: "unsupported_websocket_version",
      message: "Sec-WebSocket-Version must be 13",
      headers: { "Sec-WebSocket-Version": "13" },
    };
  }
  const key = (req.headers["sec-websocket-key"] as string | undefined) ?? "";
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
  /** The upgrade's outcome: "ok" once relaying; for a held upgrade, how its first message was judged. */
  result: UpgradeResult = "ok";
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
  /** A held upgrade's first client message, until it is complete and judged. */
  private holding: FirstMessageHold | undefined;
  /** The first message was refused: nothing more from the client goes upstream, even while the answer waits. */
  private refused = false;
  /** The close the sidecar itself sent (a refused first message). */
  private refusal: { code: number; reason: string } | undefined;
  /** A held upgrade's deadline: cleared once its first message is judged or either side closes. */
  private holdTimer: NodeJS.Timeout | undefined;
  private readonly heldTimeoutMs: number;

  /**
   * `upstreamHead` and `clientHead` are bytes that arrived together with the handshake (the gateway's
   * connect.challenge, or a close frame sent at once, may be among them): they pass first, and are watched too.
   */
  constructor(
    ctx: UpgradeContext,
    client: Duplex,
    upstream: Socket,
    upstreamHead: Buffer,
    clientHead: Buffer,
    onDone: (t: Tunnel) => void,
    opts: { deflate: boolean; heldTimeoutMs: number; onReleased?: () => void },
  ) {
    this.ctx = ctx;
    this.client = client;
    this.upstream = upstream;
    this.onDone = onDone;
    this.heldTimeoutMs = opts.heldTimeoutMs;
    if (ctx.hold !== undefined) {
      this.holding = new FirstMessageHold({ deflate: opts.deflate });
      this.result = "client_aborted"; // until the first message is judged
      // A module-level callback with the tunnel as its argument: a closure here would keep the constructor's scope.
      this.holdTimer = setTimeout(expireHold, this.heldTimeoutMs, this);
    }
    const onReleased = opts.onReleased;
    // The gateway vanished (crash, kill -9, restart) without a close frame: tell the browser in a proper close frame
    // (1014, bad gateway) rather than a bare TCP end or reset, so it reconnects instead of reporting a broken socket.
    // Only at a frame boundary, or the frame would land inside a message.
    const lostGateway = (): Buffer | undefined => {
      if (this.fromUpstream.close !== undefined) return undefined;
      this.firstClose ??= "none";
      return this.fromUpstream.atFrameBoundary ? closeFrame(1014, "gateway connection lost", false) : undefined;
    };
    const toClient = relay(upstream, client, this.fromUpstream, () => (this.firstClose ??= "upstream"), lostGateway);
    const holdStep = (chunk: Buffer): Buffer | undefined => {
      if (this.refused) return undefined;
      const hold = this.holding;
      if (hold === undefined) return chunk;
      const step = hold.feed(chunk);
      if (step.state === "holding") return undefined;
      if (step.state === "invalid") {
        this.refuse(step.code, step.reason, undefined, "unauthenticated");
        return undefined;
      }
      const decision = (ctx.hold as ConnectCheck)(step.request);
      if (!decision.ok) {
        this.refused = true;
        const refuse = () =>
          this.refuse(
            1008,
            decision.message,
            connectRefusal(step.request.id, decision.message, decision.detailCode, decision.authReason),
            decision.result,
          );
        if (decision.after === undefined) refuse();
        else void decision.after.then(refuse);
        return undefined;
      }
      this.stopHolding();
      this.result = "ok";
      onReleased?.();
      return step.bytes;
    };
    const toUpstream = relay(
      client,
      upstream,
      this.fromClient,
      () => (this.firstClose ??= "client"),
      () => undefined,
      holdStep,
    );
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

  /**
   * Ends a held upgrade whose first message did not prove a credential: the gateway's connection is dropped before it
   * saw a connect, and the client gets the gateway's answer shape (a `res` error, then the close frame).
   */
  private refuse(code: number, reason: string, reply: Buffer | undefined, result: UpgradeResult): void {
    this.stopHolding();
    this.result = result;
    this.refusal = { code, reason };
    this.firstClose ??= "sidecar";
    this.upstream.destroy();
    if (!this.fromUpstream.atFrameBoundary || !this.client.writable) {
      this.client.destroy();
      return;
    }
    const close = closeFrame(code, reason, false);
    this.client.end(reply === undefined ? close : Buffer.concat([reply, close]));
  }

  /**
   * heldUpgradeTimeoutMs passed and the first message is still incomplete: close 1008 and drop the gateway's socket.
   * Only the close frame: with no request there is no id for a `res` answer (the gateway's own pre-auth timeout sends
   * none either).
   */
  expireHold(): void {
    this.holdTimer = undefined;
    if (this.holding === undefined) return;
    this.refuse(1008, `handshake timeout: no connect frame within ${this.heldTimeoutMs} ms`, undefined, "held_timeout");
  }

  /** The first message is judged (or will never be): nothing is held any more and the deadline is off. */
  private stopHolding(): void {
    this.holding = undefined;
    clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
  }

  private closedOne(): void {
    // Either side gone: a held upgrade's deadline has nothing left to end.
    clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
    if (this.client.destroyed && this.upstream.destroyed) this.finish();
  }

  /** The first close frame seen, in either direction; none means the TCP stream simply ended (1006). */
  outcome(): { code: number; initiator: CloseInitiator; reasonClass: CloseReasonClass } {
    const frame =
      this.firstClose === "upstream"
        ? this.fromUpstream.close
        : this.firstClose === "client"
          ? this.fromClient.close
          : undefined;
    if (frame !== undefined && this.firstClose !== undefined)
      return { code: frame.code, initiator: this.firstClose, reasonClass: frame.reasonClass };
    if (this.refusal !== undefined)
      return {
        code: this.refusal.code,
        initiator: "sidecar",
        reasonClass: classifyCloseReason(this.refusal.code, this.refusal.reason),
      };
    if (this.firstClose === "sidecar") return { code: 1001, initiator: "sidecar", reasonClass: "going_away" };
    return { code: 1006, initiator: "none", reasonClass: "none" };
  }

  /**
   * The credential that admitted this tunnel is gone (a reload): the gateway's socket is dropped at once — nothing
   * more of this client reaches it — and the client gets a 1008 close with REVOKED_REASON, at a frame boundary only
   * (else the socket is destroyed: a close frame inside a frame would corrupt the stream).
   */
  revoke(): void {
    if (this.client.destroyed && this.upstream.destroyed) return;
    this.stopHolding();
    this.refused = true;
    this.refusal = { code: 1008, reason: REVOKED_REASON };
    this.firstClose ??= "sidecar";
    this.upstream.destroy();
    if (!this.fromUpstream.atFrameBoundary || this.fromUpstream.close !== undefined || !this.client.writable) {
      this.client.destroy();
      return;
    }
    this.client.end(closeFrame(1008, REVOKED_REASON, false));
    linger(this.client);
  }

  /**
   * Shutdown: tell both ends the sidecar is going away (1001), at a frame boundary only — a close frame dropped into
   * the middle of a frame would corrupt the stream — and end the sockets; whatever is not closed later is destroyed.
   */
  goAway(): void {
    this.firstClose ??= "sidecar";
    if (this.fromUpstream.atFrameBoundary && this.fromUpstream.close === undefined)
      this.client.write(closeFrame(1001, "sidecar shutting down", false));
    if (this.fromClient.atFrameBoundary && this.fromClient.close === undefined)
      this.upstream.write(closeFrame(1001, "", true));
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
 * ends, `to` is ended too, after the bytes `lastWords()` may supply. `hold`, when given, sees each chunk first and
 * returns what to pass on (undefined: nothing yet).
 */
function relay(
  from: Duplex,
  to: Duplex,
  reader: FrameReader,
  onCloseFrame: () => void,
  lastWords: () => Buffer | undefined,
  hold?: (chunk: Buffer) => Buffer | undefined,
): (chunk: Buffer) => boolean {
  // True when something still refers to the chunk afterwards (socket-reads.ts): held, or a write to `to` that the
  // kernel did not take in full (Node finishes it later from these very bytes).
  const pass = (chunk: Buffer): boolean => {
    if (hold !== undefined) {
      const released = hold(chunk);
      if (released === undefined) return true;
      chunk = released;
    }
    reader.feed(chunk);
    if (reader.close !== undefined) onCloseFrame();
    // Paused only while `to` can still drain: a paused socket stops reading altogether (socket-reads.ts), so pausing it
    // for a destination that is gone would keep it from ever seeing its own peer's end.
    if (!to.write(chunk) && to.writable) from.pause();
    return to.writableLength > 0;
  };
  setReader(from, pass);
  from.resume(); // the handshake may have paused it (bytes held before the 101)
  to.on("drain", () => from.resume());
  from.on("end", () => {
    if (to.writableEnded || to.destroyed) return;
    const last = lastWords();
    if (last !== undefined) to.end(last);
    else to.end();
  });
  // Attached at once: an error on either socket must never become an uncaught exception.
  from.on("error", destroySelf);
  return pass;
}

function expireHold(t: Tunnel): void {
  t.expireHold();
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
  /** `upstreamHead` is the complete request head to send; `clientRest` the client's bytes after its head. */
  forward(upstreamHead: string, socket: Socket, clientRest: Buffer, ctx: UpgradeContext): void;
  /**
   * Closes every open tunnel whose `stillValid()` now fails (Tunnel.revoke), and every handshake still waiting for
   * the gateway is checked again when its 101 arrives; returns how many tunnels were closed. Called after a reload.
   */
  revoke(): number;
  readonly tunnels: ReadonlySet<Tunnel>;
}

export function createUpgradeForwarder(opts: UpgradeForwarderOptions): UpgradeForwarder {
  const { upstream, upgradeTimeoutMs, heldUpgradeTimeoutMs, metrics, logger } = opts;
  const tunnels = new Set<Tunnel>();
  const target = upstreamTarget(upstream);
  // Counts revoke() calls: a handshake started before the latest one is checked again when it opens (one comparison).
  let revocations = 0;
  // Label children resolved once (prom-client hashes a label object on every call otherwise).
  const upgradedOk = metrics.upgrades.labels("ok");
  const openTunnels = metrics.activeConnections.labels("websocket");

  const line = createLineWriter(logger);
  const logRefused = (ctx: UpgradeContext, result: UpgradeResult, status: number, started: number, error?: string) => {
    metrics.upgrades.inc({ result });
    line(
      {
        kind: "websocket",
        client: ctx.client,
        url: redactUrl(ctx.url),
        result,
        status,
        durationMs: Date.now() - started,
        error,
        sentUpstream: 1,
      },
      "websocket refused",
    );
  };

  function onTunnelDone(t: Tunnel): void {
    tunnels.delete(t);
    const { code, initiator, reasonClass } = t.outcome();
    const seconds = (Date.now() - t.openedAt) / 1000;
    openTunnels.dec();
    // "ok" was counted when relaying began; a held upgrade that never got there is counted by how it ended.
    if (t.result !== "ok") metrics.upgrades.inc({ result: t.result });
    metrics.wsCloses.inc({ code: closeCodeLabel(code), initiator, reason_class: reasonClass });
    metrics.wsDuration.observe(seconds);
    // "pairing required … (requestId: …)": the one close a person must act on; the line says how (never a label).
    // The gateway cuts close reasons to 120 bytes: its longer ones ("… asking for a higher role than currently approved
    // (requestId: …") lose the id's end, so only an id closed by its ")" is named; a cut one is never printed.
    const pairing = reasonClass === "pairing_required";
    const requestId = pairing
      ? /\(requestId: ([A-Za-z0-9-]+)\)/.exec(t.fromUpstream.close?.reason ?? "")?.[1]
      : undefined;
    line(
      {
        kind: "websocket",
        client: t.ctx.client,
        url: redactUrl(t.ctx.url),
        result: t.result,
        status: 101,
        sentUpstream: 1,
        code,
        initiator,
        reasonClass,
        durationMs: Date.now() - t.openedAt,
        bytesFromClient: t.fromClient.bytes,
        bytesToClient: t.fromUpstream.bytes,
        ...(requestId !== undefined
          ? { requestId, approve: `openclaw devices approve ${requestId}` }
          : pairing
            ? { approve: "openclaw devices list" }
            : {}),
      },
      requestId !== undefined
        ? `websocket closed: pairing required; approve the device on the gateway with: openclaw devices approve ${requestId}`
        : pairing
          ? "websocket closed: pairing required; find the request with openclaw devices list, then openclaw devices approve <requestId>"
          : t.result === "held_timeout"
            ? `websocket closed: no connect frame within heldUpgradeTimeoutMs (${heldUpgradeTimeoutMs} ms)`
            : "websocket closed",
    );
  }

  function forward(upstreamHead: string, socket: Socket, clientRest: Buffer, ctx: UpgradeContext): void {
    new Handshake(upstreamHead, socket, clientRest, ctx).start();
  }

  /** One upgrade from request to tunnel (or refusal); its listeners are removed once it is decided. */
  class Handshake {
    private readonly started = Date.now();
    private readonly up: Socket;
    private settled = false;
    private timer: NodeJS.Timeout | undefined;
    private buf: Buffer | undefined;
    private head: ResponseHead | undefined;
    /** A refusal's body, collected whole (bounded) before it is relayed. */
    private body: Buffer[] = [];
    private bodySize = 0;
    private remaining = 0;
    private chunks: ChunkedScanner | undefined;
    private closeDelimited = false;
    /**
     * What the client sent after its head, before the gateway's answer: relayed behind the 101 (issue 11, finding 9).
     */
    private early: Buffer[] = [];
    private earlyBytes = 0;

    private readonly upstreamHead: string;
    private readonly socket: Socket;
    private readonly clientRest: Buffer;
    private readonly ctx: UpgradeContext;
    private readonly revocationsAtStart = revocations;

    constructor(upstreamHead: string, socket: Socket, clientRest: Buffer, ctx: UpgradeContext) {
      this.upstreamHead = upstreamHead;
      this.socket = socket;
      this.clientRest = clientRest;
      this.ctx = ctx;
      this.up = connectUpstream(target, "upgrade");
    }

    start(): void {
      const { socket, up } = this;
      socket.on("error", destroySelf);
      socket.once("close", this.onClientGone);
      setReader(socket, this.onEarlyClientData);
      setReader(up, (chunk) => {
        this.onData(chunk);
        // Kept (socket-reads.ts): a partial head, a refusal's body being gathered, or the bytes behind the 101 still
        // queued toward the client.
        return this.buf !== undefined || this.body.length > 0 || this.socket.writableLength > 0;
      });
      up.on("error", this.onError);
      up.on("end", this.onEnd);
      up.on("close", this.onClose);
      this.timer = setTimeout(() => this.fail(new UpstreamTimeoutError(upgradeTimeoutMs)), upgradeTimeoutMs);
      up.write(this.upstreamHead, "latin1");
    }

    /** Ends the handshake phase: true only the first time. */
    private settle(): boolean {
      if (this.settled) return false;
      this.settled = true;
      clearTimeout(this.timer);
      this.socket.removeListener("close", this.onClientGone);
      setReader(this.socket, undefined);
      setReader(this.up, undefined);
      this.up.removeListener("error", this.onError);
      this.up.removeListener("end", this.onEnd);
      this.up.removeListener("close", this.onClose);
      return true;
    }

    private readonly onEarlyClientData = (chunk: Buffer): boolean => {
      this.early.push(chunk);
      this.earlyBytes += chunk.length;
      if (this.earlyBytes > MAX_EARLY_CLIENT_BYTES) this.socket.pause();
      return true; // kept until the 101
    };

    // The client gave up (or reset) before the gateway answered.
    private readonly onClientGone = (): void => {
      if (!this.settle()) return;
      this.up.destroy();
      logRefused(this.ctx, "client_aborted", 499, this.started);
    };

    private readonly onError = (err: Error): void => this.fail(err);
    private readonly onEnd = (): void => {
      if (this.head !== undefined && this.closeDelimited) this.relayRefusal();
      else this.fail(Object.assign(new Error("the gateway closed the connection"), { code: "ECONNRESET" }));
    };
    private readonly onClose = (): void =>
      this.fail(Object.assign(new Error("the gateway closed the connection"), { code: "ECONNRESET" }));

    private fail(err: unknown): void {
      if (!this.settle()) return;
      this.up.on("error", destroySelf);
      this.up.destroy();
      const failure = describeUpstreamFailure(err, upstream);
      metrics.upstreamErrors.inc({ code: failure.code });
      logRefused(this.ctx, failure.result, failure.status, this.started, failure.code);
      refuseSocket(this.socket, failure);
    }

    private readonly onData = (chunk: Buffer): void => {
      try {
        if (this.head === undefined) {
          const buf = this.buf === undefined ? chunk : Buffer.concat([this.buf, chunk]);
          const taken = takeResponseHead(buf);
          if (taken === undefined) {
            this.buf = buf;
            return;
          }
          this.buf = undefined;
          const { head, rest } = taken;
          if (head.status === 101) return this.open(head, rest);
          if (head.status < 200) {
            if (rest.length > 0) this.onData(rest);
            return;
          }
          this.head = head;
          const framing = responseFraming(head, "GET");
          if (framing.kind === "length") this.remaining = framing.length;
          else if (framing.kind === "chunked") this.chunks = new ChunkedScanner(MAX_REFUSAL_BODY);
          else if (framing.kind === "close") this.closeDelimited = true;
          else return this.relayRefusal();
          chunk = rest;
        }
        this.collect(chunk);
      } catch (err) {
        this.fail(err);
      }
    };

    /** Gathers a refusal's body; relays it when complete (or when enough of it is here). */
    private collect(chunk: Buffer): void {
      let take = chunk.length;
      if (this.chunks !== undefined) take = this.chunks.scan(chunk);
      else if (!this.closeDelimited) take = Math.min(this.remaining, chunk.length);
      this.remaining -= take;
      if (this.bodySize < MAX_REFUSAL_BODY) this.body.push(take === chunk.length ? chunk : chunk.subarray(0, take));
      this.bodySize += take;
      const complete = this.chunks !== undefined ? this.chunks.done : !this.closeDelimited && this.remaining === 0;
      if (complete || this.bodySize >= MAX_REFUSAL_BODY) this.relayRefusal();
    }

    /** The gateway refused the upgrade with an ordinary HTTP response: relay it whole and record why. */
    private relayRefusal(): void {
      if (!this.settle()) return;
      const head = this.head as ResponseHead;
      this.up.on("error", destroySelf);
      this.up.destroy();
      let body: Buffer = Buffer.concat(this.body).subarray(0, MAX_REFUSAL_BODY);
      // A chunked body is relayed as its data alone, with a length: the client gets a plain, complete response.
      if (this.chunks !== undefined) body = dechunk(body);
      const status = head.status;
      const result: UpgradeResult =
        status === 403 && body.includes("proxy_attribution_required")
          ? "proxy_attribution_required"
          : status >= 500
            ? "upstream_5xx"
            : "upstream_4xx";
      logRefused(this.ctx, result, status, this.started);
      const socket = this.socket;
      if (socket.destroyed) return;
      writeHead(socket, head, { "content-length": String(body.length), connection: "close" });
      socket.end(body);
      socket.once("finish", () => socket.destroy());
    }

    private open(head: ResponseHead, upstreamRest: Buffer): void {
      if (!this.settle()) return;
      const { socket, up } = this;
      if (socket.destroyed) {
        up.destroy();
        logRefused(this.ctx, "client_aborted", 499, this.started);
        return;
      }
      // A held upgrade counts as "ok" only once its first message has proved a credential.
      if (this.ctx.hold === undefined) upgradedOk.inc();
      openTunnels.inc();
      // Both sockets are already no-delay (the listener and connectUpstream set it); keep-alive finds dead peers.
      socket.setKeepAlive(true, KEEPALIVE_PROBE_MS);
      up.setKeepAlive(true, KEEPALIVE_PROBE_MS);
      // Corked: the 101 and whatever the gateway sent right behind it (its connect.challenge) leave in one send.
      socket.cork();
      writeHead(socket, head);
      const clientRest = this.early.length === 0 ? this.clientRest : Buffer.concat([this.clientRest, ...this.early]);
      this.early = [];
      const deflate = /permessage-deflate/i.test(responseHeader(head, "sec-websocket-extensions") ?? "");
      const onReleased = () => upgradedOk.inc();
      const tunnel = new Tunnel(this.ctx, socket, up, upstreamRest, clientRest, onTunnelDone, {
        deflate,
        onReleased,
        heldTimeoutMs: heldUpgradeTimeoutMs,
      });
      tunnels.add(tunnel);
      socket.uncork();
      // Admitted before a reload that withdrew its credential, while the gateway was still answering.
      if (this.revocationsAtStart !== revocations && this.ctx.stillValid?.() === false) tunnel.revoke();
    }
  }

  function revoke(): number {
    revocations++;
    let closed = 0;
    for (const t of [...tunnels]) {
      if (t.ctx.stillValid === undefined || t.ctx.stillValid()) continue;
      t.revoke();
      closed++;
    }
    return closed;
  }

  return { forward, revoke, tunnels };
}

/** The response head as the gateway sent it, minus framing fields, plus `override`. */
function writeHead(socket: Duplex, head: ResponseHead, override: Record<string, string> = {}): void {
  let text = `HTTP/1.1 ${head.status} ${head.reason}\r\n`;
  for (let i = 0; i < head.lines.length; i++) {
    const name = head.names[i] as string;
    if (name in override || name === "transfer-encoding") continue;
    text += `${head.lines[i]}\r\n`;
  }
  for (const [name, value] of Object.entries(override)) text += `${name}: ${value}\r\n`;
  socket.write(`${text}\r\n`, "latin1");
}

/** The data of a complete (or truncated) chunked body. */
function dechunk(raw: Buffer): Buffer {
  const parts: Uint8Array[] = [];
  let i = 0;
  while (i < raw.length) {
    const eol = raw.indexOf("\r\n", i);
    if (eol === -1) break;
    const size = Number.parseInt(raw.toString("latin1", i, eol).split(";")[0] as string, 16);
    if (!(size > 0)) break;
    parts.push(raw.subarray(eol + 2, Math.min(raw.length, eol + 2 + size)));
    i = eol + 2 + size + 2;
  }
  return Buffer.concat(parts);
}
