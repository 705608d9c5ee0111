// One client connection, speaking HTTP/1.1 on the sidecar's own framing code (http1.ts), paired with at most one
// keep-alive connection to the gateway. This is the hot path, and it is written the way nginx's proxy module works
// rather than on node:http: request heads are parsed once, rewritten, and written upstream as one string; body bytes
// are relayed as they arrive, untouched, with their framing followed only to know where each message ends; the
// response head is parsed, trimmed of hop-by-hop fields and relayed. No IncomingMessage, ServerResponse or
// ClientRequest per request, no agent, no stream pipeline: that machinery cost more than everything else the sidecar
// does (bench/README.md).
//
// One exchange at a time per connection. Pipelined requests wait in the buffer (bounded, then the socket is paused)
// until the response before them is complete, so responses can never be reordered and a refusal the sidecar writes
// itself is always in its place. Every exchange ends in exactly one call to `onDone`.
//
// Deadlines are checked by the owner's sweep (`checkDeadline`), not per-request timers: a head must be complete
// within headersTimeoutMs of its first byte (or of the connection's start), a request body may pause for at most
// bodyTimeoutMs between two reads (then 408), a client that reads nothing of its response for sendTimeoutMs is
// dropped, an idle keep-alive connection is closed after keepAliveTimeoutMs, and a response head must arrive within
// upstreamTimeoutMs of the request. The next pipelined request starts only once the previous response has drained to
// the client: a client that sends and never reads holds one response's worth of memory, not all of them.
import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import { TLSSocket } from "node:tls";
import {
  type BodyFraming,
  ChunkedScanner,
  HttpError,
  MAX_RESPONSE_HEAD_BYTES,
  type ParseLimits,
  type RequestHead,
  type ResponseHead,
  chunkedResponseError,
  findHeadEnd,
  hasToken,
  parseRequestHead,
  responseFraming,
  takeResponseHead,
} from "./http1.ts";
import { type Reply, refusalReply } from "./responses.ts";
import { setReader } from "./socket-reads.ts";
import { type UpstreamTarget, connectUpstream } from "./upstream-socket.ts";
import { UpstreamTimeoutError } from "./upstream-errors.ts";

export interface ConnectionOptions {
  limits: ParseLimits;
  headersTimeoutMs: number;
  keepAliveTimeoutMs: number;
  upstreamTimeoutMs: number;
  bodyTimeoutMs: number;
  sendTimeoutMs: number;
  upstream: UpstreamTarget;
  /** Trailer field names (lower case) a request body may not carry; such a request is refused with 400. */
  isForbiddenTrailer(name: string): boolean;
  /** Extra response header lines for every response ("Name: value\r\n"…), e.g. HSTS. */
  responseHeaderLines: string;
  /**
   * Called once per request head; calls exactly one of exchange.forward / reply / takeOver, before returning or later
   * (a verdict that needs the network). Until then the exchange waits in its place: pipelined bytes are buffered and,
   * past maxHeaderBytes, no longer read; nothing after it is parsed.
   */
  onRequest(exchange: Exchange): void;
  /** Called once per exchange when it is over (response complete, failed or abandoned). */
  onDone(exchange: Exchange): void;
  /** A request that could not be parsed; the connection answers it with `error.status` and closes. */
  onBadRequest(error: HttpError, connection: ClientConnection): void;
  /** A failure talking to the gateway, before any response byte reached the client (the caller answers it). */
  onUpstreamFailure(err: unknown, exchange: Exchange): Reply;
  /** The connection is gone (both sockets closed or handed over). */
  onClosed(connection: ClientConnection): void;
  isDraining(): boolean;
}

/** Bodies up to this size are copied behind their head into one buffer; larger ones go out as a two-part writev. */
const COALESCE_MAX = 16 * 1024;
/** Close a pooled gateway connection idle this long: under Node's default 5 s keep-alive, so the gateway never
 *  closes one under a request we just sent. */
export const UPSTREAM_IDLE_MS = 4000;
const NO_DEADLINE = Number.POSITIVE_INFINITY;
/** Methods safe to send again when a kept-alive gateway connection closed under them (nginx's default set). */
const RETRYABLE = new Set(["GET", "HEAD", "OPTIONS"]);
/** How long a last response may take to flush to a client that no longer makes progress reading it. */
const CLOSE_FLUSH_MS = 5000;

type DeadlineKind = "headers" | "idle" | "body" | "response" | "send" | "closing";

const Phase = {
  /** Waiting for (the rest of) a request head. */
  Head: 0,
  /** Forwarding a request body. */
  Body: 1,
  /** The request is complete; its response is not. */
  Awaiting: 2,
  /** Writing a last response; nothing more is read. */
  Closing: 3,
  /** Handed over (WebSocket) or destroyed. */
  Gone: 4,
} as const;
type Phase = (typeof Phase)[keyof typeof Phase];

export const Outcome = { Pending: 0, Ok: 1, Aborted: 2, Failed: 3 } as const;
export type Outcome = (typeof Outcome)[keyof typeof Outcome];

/** One request and its response. */
export class Exchange {
  readonly connection: ClientConnection;
  readonly head: RequestHead;
  readonly startedAt = performance.now();
  status = 0;
  outcome: Outcome = Outcome.Pending;
  /** A stable error code for the access log (upstream failure, client abort). */
  error: string | undefined;
  /** The client address as resolved by the router, for logs. */
  client = "";
  /** How many times the head was written to the gateway: 0 when the sidecar answered itself, 2 after a retry. */
  sentUpstream = 0;
  constructor(connection: ClientConnection, head: RequestHead) {
    this.connection = connection;
    this.head = head;
  }
  /** Sends the request upstream with this head ("METHOD target HTTP/1.1\r\n…\r\n\r\n") and relays the answer. */
  forward(upstreamHead: string): void {
    this.connection.forward(this, upstreamHead);
  }
  /** Answers the request without the gateway. */
  reply(reply: Reply): void {
    this.connection.reply(this, reply);
  }
  /** Takes the socket (and any bytes after the head) out of HTTP handling, for a WebSocket tunnel. */
  takeOver(): { socket: Socket; rest: Buffer } {
    return this.connection.takeOver(this);
  }
}

const EMPTY = Buffer.alloc(0);

export class ClientConnection {
  readonly socket: Socket;
  readonly remoteAddress: string;
  private readonly opts: ConnectionOptions;
  private phase: Phase = Phase.Head;
  /** Client bytes not yet consumed (a partial head, or pipelined requests). */
  private buf: Buffer | undefined;
  private exchange: Exchange | undefined;
  /** Deadline (performance.now()) and what happens when it passes. */
  private deadline: number;
  private deadlineKind: DeadlineKind = "headers";
  /** Bytes still queued for the client when the closing deadline was last checked. */
  private closingBacklog = 0;
  private reqFraming: BodyFraming = { kind: "none" };
  private reqRemaining = 0;
  private reqChunks: ChunkedScanner | undefined;
  private readingPaused = false;
  private readingHeads = false;
  private upstreamBlocked = false;
  /** The next request waits for the client to take in what was already written to it. */
  private waitingForDrain = false;
  private sentUpstreamHead = "";
  /** takeOver() handed bytes after the head (a part of the last read) to the socket's next owner. */
  private restHandedOver = false;

  // The gateway side.
  private up: Socket | undefined;
  private upUsed = 0;
  private upIdleSince = 0;
  private upError: unknown;
  private upBuf: Buffer | undefined;
  private res: ResponseHead | undefined;
  private resFraming: BodyFraming = { kind: "none" };
  private resRemaining = 0;
  private resChunks: ChunkedScanner | undefined;
  private resBytes = 0;
  private keepClient = true;
  /** A response head not written yet (it goes out with the first body bytes). */
  private headOut: string | undefined;

  constructor(socket: Socket, opts: ConnectionOptions) {
    this.socket = socket;
    this.opts = opts;
    this.remoteAddress = socket.remoteAddress ?? "";
    this.deadline = performance.now() + opts.headersTimeoutMs;
    setReader(socket, this.onClientRead);
    socket.on("end", this.onClientEnd);
    socket.on("error", this.onClientError);
    socket.on("close", this.onClientClose);
    socket.on("drain", this.onClientDrain);
  }

  /** True when no exchange is in flight (drain closes such connections at once). */
  get idle(): boolean {
    return this.phase === Phase.Head && this.buf === undefined;
  }

  /** Drain: close now if idle; otherwise the exchange in flight is the last one. */
  closeIfIdle(): void {
    if (this.idle) this.destroy();
  }

  destroy(): void {
    this.socket.destroy();
    this.up?.destroy();
  }

  // ---- the client side -------------------------------------------------------------------------------------------

  /**
   * The chunk lives in the socket's read buffer (socket-reads.ts), which the next read overwrites: say whether anything
   * still refers to it — buffered bytes (a partial head, pipelined requests), a body write the gateway's socket has
   * not finished (Node finishes it later from these bytes), or bytes handed over with the socket. Everything else
   * derived from it (head strings, counters) is a copy.
   */
  private readonly onClientRead = (chunk: Buffer): boolean => {
    this.onClientData(chunk);
    return (
      this.restHandedOver ||
      (this.buf !== undefined && this.buf.buffer === chunk.buffer) ||
      (this.up !== undefined && this.up.writableLength > 0)
    );
  };

  private onClientData(chunk: Buffer): void {
    if (this.phase === Phase.Body) {
      if (this.deadlineKind === "body") this.deadline = performance.now() + this.opts.bodyTimeoutMs;
      const rest = this.feedBody(chunk);
      if (rest.length === 0) return;
      chunk = rest;
    }
    if (this.phase === Phase.Closing || this.phase === Phase.Gone) return;
    this.buf = this.buf === undefined ? chunk : Buffer.concat([this.buf, chunk]);
    if (this.phase === Phase.Head) {
      if (this.deadlineKind === "idle") this.setDeadline("headers", this.opts.headersTimeoutMs);
      this.readHeads();
    } else {
      this.updateReading();
    }
  }

  /** Parses and starts every complete request head in the buffer, one exchange at a time. */
  private readHeads(): void {
    // Re-entered when an exchange ends synchronously (a refusal): the loop below already goes on.
    if (this.readingHeads) return;
    this.readingHeads = true;
    try {
      this.readHeadsLoop();
    } finally {
      this.readingHeads = false;
    }
    this.updateReading();
  }

  private readHeadsLoop(): void {
    while (this.phase === Phase.Head && this.buf !== undefined) {
      const buf = this.buf;
      let head: RequestHead;
      let end: number;
      try {
        end = findHeadEnd(buf, this.opts.limits.maxHeaderBytes);
        if (end === -1) return;
        head = parseRequestHead(buf.toString("latin1", 0, end - 4), this.opts.limits);
      } catch (err) {
        this.badRequest(err as HttpError);
        return;
      }
      this.buf = end === buf.length ? undefined : buf.subarray(end);
      this.deadline = NO_DEADLINE;
      const exchange = new Exchange(this, head);
      this.exchange = exchange;
      this.phase = Phase.Awaiting;
      this.opts.onRequest(exchange);
    }
  }

  private badRequest(err: HttpError): void {
    if (!(err instanceof HttpError)) throw err;
    this.phase = Phase.Closing;
    this.buf = undefined;
    this.opts.onBadRequest(err, this);
  }

  private readonly onClientEnd = (): void => {
    // Our last response is being written (the socket ends itself once it is flushed), or the client simply left.
    if (this.phase === Phase.Closing || this.idle) return;
    // A client that half-closes mid-exchange is gone for our purposes (nginx's view too): the request in flight is
    // abandoned (499) rather than left running against the gateway.
    this.socket.destroy();
  };

  private readonly onClientError = (): void => {
    this.socket.destroy();
  };

  private readonly onClientClose = (): void => {
    const ex = this.exchange;
    if (ex !== undefined && ex.outcome === Outcome.Pending) {
      ex.outcome = Outcome.Aborted;
      ex.status = 499;
      ex.error ??= "client_aborted";
      this.exchange = undefined;
      this.opts.onDone(ex);
    }
    if (this.phase !== Phase.Gone) {
      this.phase = Phase.Gone;
      this.up?.destroy();
      this.buf = undefined;
      this.opts.onClosed(this);
    }
  };

  private readonly onClientDrain = (): void => {
    this.up?.resume();
    if (this.deadlineKind === "send") this.deadline = NO_DEADLINE;
    if (this.waitingForDrain) {
      this.waitingForDrain = false;
      this.nextRequest();
    }
  };

  /** The client is not reading what we write: it has sendTimeoutMs to take some of it in. */
  private clientBlocked(): void {
    this.up?.pause();
    if (this.deadline === NO_DEADLINE) this.setDeadline("send", this.opts.sendTimeoutMs);
  }

  /** Reads from the client unless the gateway is not keeping up or pipelined bytes pile up behind an exchange. */
  private updateReading(): void {
    const shouldPause =
      this.upstreamBlocked ||
      (this.phase !== Phase.Head &&
        this.phase !== Phase.Body &&
        this.buf !== undefined &&
        this.buf.length > this.opts.limits.maxHeaderBytes);
    if (shouldPause === this.readingPaused) return;
    this.readingPaused = shouldPause;
    if (shouldPause) this.socket.pause();
    else this.socket.resume();
  }

  private setDeadline(kind: DeadlineKind, ms: number): void {
    this.deadlineKind = kind;
    this.deadline = performance.now() + ms;
  }

  /** Called by the owner's periodic sweep. */
  checkDeadline(now: number): void {
    if (this.up !== undefined && this.exchange === undefined && now - this.upIdleSince > UPSTREAM_IDLE_MS) {
      this.up.destroy();
      this.up = undefined;
    }
    if (now < this.deadline) return;
    this.deadline = NO_DEADLINE;
    if (this.deadlineKind === "idle") {
      this.destroy();
    } else if (this.deadlineKind === "send") {
      if (this.exchange !== undefined) this.exchange.error = "send_timeout";
      this.destroy();
    } else if (this.deadlineKind === "body") {
      this.bodyTimedOut();
    } else if (this.deadlineKind === "closing") {
      // Still flushing and making progress: more time. Stalled, or flushed and the client never closed: gone.
      const backlog = this.socket.writableLength;
      if (backlog > 0 && backlog < this.closingBacklog) {
        this.closingBacklog = backlog;
        this.setDeadline("closing", CLOSE_FLUSH_MS);
      } else {
        this.destroy();
      }
    } else if (this.deadlineKind === "headers") {
      if (this.buf === undefined)
        this.destroy(); // connected and said nothing
      else this.badRequest(new HttpError(408, "ERR_HTTP_REQUEST_TIMEOUT", "request headers not received in time"));
    } else {
      this.upstreamFailed(new UpstreamTimeoutError(this.opts.upstreamTimeoutMs));
    }
  }

  /** No request body byte for bodyTimeoutMs (nginx's client_body_timeout). */
  private bodyTimedOut(): void {
    if (this.readingPaused) {
      // We stopped reading (the gateway is not keeping up): the client is not the one stalling.
      this.setDeadline("body", this.opts.bodyTimeoutMs);
      return;
    }
    const ex = this.exchange;
    // The gateway holds a partial body: that connection can never be used again.
    this.up?.destroy();
    this.up = undefined;
    if (ex !== undefined) ex.error = "request_body_timeout";
    if (ex !== undefined && this.res === undefined) {
      this.reply(
        ex,
        refusalReply(
          {
            status: 408,
            type: "request_body_timeout",
            message: `no request body bytes for ${this.opts.bodyTimeoutMs} ms`,
          },
          false,
        ),
      );
    } else {
      abort(this.socket);
    }
  }

  // ---- an exchange ----------------------------------------------------------------------------------------------

  forward(ex: Exchange, upstreamHead: string): void {
    this.sentUpstreamHead = upstreamHead;
    this.reqFraming = ex.head.body;
    this.upError = undefined;
    this.resBytes = 0;
    this.res = undefined;
    this.upBuf = undefined;
    this.keepClient = ex.head.keepAlive;
    const up = this.upstream();
    this.upUsed++;
    ex.sentUpstream++;
    // Head and buffered body bytes leave in one write.
    const cork = this.reqFraming.kind !== "none" && this.buf !== undefined;
    if (cork) up.cork();
    this.write(up, upstreamHead, "latin1");
    // The response deadline runs from the end of the request: an upload may take as long as it takes.
    if (this.reqFraming.kind === "none") this.setDeadline("response", this.opts.upstreamTimeoutMs);
    else if (this.reqFraming.kind === "length") {
      this.reqRemaining = this.reqFraming.length;
      this.phase = Phase.Body;
    } else if (this.reqFraming.kind === "chunked") {
      this.reqChunks = new ChunkedScanner(this.opts.limits.maxHeaderBytes, undefined, this.opts.isForbiddenTrailer);
      this.phase = Phase.Body;
    }
    if (this.phase === Phase.Body) this.setDeadline("body", this.opts.bodyTimeoutMs);
    if (this.phase === Phase.Body && this.buf !== undefined) {
      const buffered = this.buf;
      this.buf = undefined;
      const rest = this.feedBody(buffered);
      if (rest.length > 0) this.buf = rest;
    }
    if (cork) up.uncork();
    // Forwarded later than its head arrived (an asynchronous verdict), reading may have paused on the buffered body.
    this.updateReading();
  }

  /** Forwards the part of `chunk` that belongs to the request body; returns the rest (the next request's bytes). */
  private feedBody(chunk: Buffer): Buffer {
    let take: number;
    if (this.reqFraming.kind === "length") {
      take = Math.min(this.reqRemaining, chunk.length);
      this.reqRemaining -= take;
    } else {
      try {
        take = (this.reqChunks as ChunkedScanner).scan(chunk);
      } catch (err) {
        // Framing we cannot follow: the gateway has a partial body; neither connection can be trusted again.
        this.up?.destroy();
        this.up = undefined;
        const ex = this.exchange;
        if (ex !== undefined && this.res === undefined) {
          this.exchange = undefined;
          ex.outcome = Outcome.Failed;
          ex.status = (err as HttpError).status ?? 400;
          ex.error = "bad_request_body";
          this.opts.onDone(ex);
          this.badRequest(err as HttpError);
        } else {
          this.socket.destroy();
        }
        return EMPTY;
      }
    }
    if (take > 0 && this.up !== undefined) this.write(this.up, take === chunk.length ? chunk : chunk.subarray(0, take));
    const bodyDone =
      this.reqFraming.kind === "length" ? this.reqRemaining === 0 : (this.reqChunks as ChunkedScanner).done;
    if (bodyDone) {
      this.reqChunks = undefined;
      if (this.deadlineKind === "body") this.deadline = NO_DEADLINE;
      if (this.phase === Phase.Body) this.phase = Phase.Awaiting;
      if (this.exchange !== undefined && this.res === undefined)
        this.setDeadline("response", this.opts.upstreamTimeoutMs);
      // The response may already be complete (the gateway answered before reading the whole body).
      if (this.exchange === undefined) this.afterExchange();
    }
    return take === chunk.length ? EMPTY : chunk.subarray(take);
  }

  reply(ex: Exchange, reply: Reply): void {
    const head = ex.head;
    // A body we did not read would be taken for the next request: close after answering instead.
    const keep = head.keepAlive && head.body.kind === "none" && !this.opts.isDraining();
    let text = `HTTP/1.1 ${reply.status} ${STATUS_CODES[reply.status] ?? ""}\r\nDate: ${httpDate()}\r\n`;
    for (const name in reply.headers) text += `${name}: ${reply.headers[name]}\r\n`;
    const body = head.method === "HEAD" ? "" : reply.body;
    text += `Content-Length: ${Buffer.byteLength(reply.body)}\r\n${this.opts.responseHeaderLines}${keep ? (head.minor === 0 ? "Connection: keep-alive\r\n" : "") : "Connection: close\r\n"}\r\n${body}`;
    this.socket.write(text);
    ex.status = reply.status;
    ex.outcome = Outcome.Ok;
    this.exchange = undefined;
    this.opts.onDone(ex);
    if (keep) this.nextRequest();
    else this.closeAfterWrite();
  }

  takeOver(ex: Exchange): { socket: Socket; rest: Buffer } {
    const socket = this.socket;
    setReader(socket, undefined);
    socket.removeListener("end", this.onClientEnd);
    socket.removeListener("error", this.onClientError);
    socket.removeListener("close", this.onClientClose);
    socket.removeListener("drain", this.onClientDrain);
    if (this.readingPaused) socket.resume();
    const rest = this.buf ?? EMPTY;
    this.restHandedOver = rest.length > 0;
    this.buf = undefined;
    this.phase = Phase.Gone;
    this.deadline = NO_DEADLINE;
    this.up?.destroy();
    this.up = undefined;
    ex.outcome = Outcome.Ok;
    this.exchange = undefined;
    this.opts.onClosed(this);
    return { socket, rest };
  }

  /** The exchange is over on both sides: wait for the next request, or close. */
  private afterExchange(): void {
    if (this.phase === Phase.Body) {
      // Answered before the client finished its body: the rest of it cannot be told from a next request.
      this.closeAfterWrite();
      return;
    }
    if (this.phase !== Phase.Awaiting) return;
    if (!this.keepClient || this.opts.isDraining()) this.closeAfterWrite();
    else this.nextRequest();
  }

  private nextRequest(): void {
    if (this.socket.writableNeedDrain) {
      // Issue 11, finding 8: without this, a client pipelining requests it never reads the answers to would have
      // every answer queued in this process. Until the drain, pipelined bytes stay in the (bounded) buffer.
      this.waitingForDrain = true;
      this.phase = Phase.Awaiting;
      this.setDeadline("send", this.opts.sendTimeoutMs);
      this.updateReading();
      return;
    }
    this.phase = Phase.Head;
    if (this.buf === undefined) this.setDeadline("idle", this.opts.keepAliveTimeoutMs);
    else this.setDeadline("headers", this.opts.headersTimeoutMs);
    this.readHeads();
  }

  private closeAfterWrite(): void {
    this.phase = Phase.Closing;
    this.buf = undefined;
    this.socket.end();
    // A client that never reads must not hold the socket: it is destroyed when the flush stops making progress.
    this.closingBacklog = Number.POSITIVE_INFINITY;
    this.setDeadline("closing", CLOSE_FLUSH_MS);
  }

  // ---- the gateway side -----------------------------------------------------------------------------------------

  private upstream(): Socket {
    if (this.up !== undefined && !this.up.destroyed && this.up.writable) return this.up;
    const up = connectUpstream(this.opts.upstream, "http");
    setReader(up, (chunk) => {
      this.onUpstreamData(up, chunk);
      // The chunk lives in the connection's read buffer (socket-reads.ts), which the next read overwrites: say
      // whether anything still refers to it — a write to the client the kernel did not take in full (Node finishes it
      // later from these bytes), or a partial head. Everything else derived from it (head strings, counters) is a copy.
      return this.socket.writableLength > 0 || this.upBuf !== undefined;
    });
    this.up = up;
    this.upUsed = 0;
    this.upstreamBlocked = false;
    up.on("drain", () => {
      if (up !== this.up) return;
      this.upstreamBlocked = false;
      this.updateReading();
    });
    up.on("error", (err) => {
      if (up === this.up) this.upError = err;
    });
    up.on("end", () => up.destroy());
    up.on("close", () => this.onUpstreamClose(up));
    return up;
  }

  private write(to: Socket, data: Buffer | string, encoding?: BufferEncoding): void {
    const ok = encoding === undefined ? to.write(data) : to.write(data as string, encoding);
    if (!ok && to === this.up && !this.upstreamBlocked) {
      this.upstreamBlocked = true;
      this.updateReading();
    }
  }

  private onUpstreamData(up: Socket, chunk: Buffer): void {
    if (up !== this.up) return;
    const ex = this.exchange;
    if (ex === undefined) {
      // Bytes with no request outstanding: the gateway broke framing. Never relay them.
      up.destroy();
      this.up = undefined;
      return;
    }
    this.resBytes += chunk.length;
    try {
      if (this.res === undefined) {
        chunk = this.readResponseHead(ex, chunk);
        if (this.res === undefined) return;
        if (chunk.length === 0) {
          this.flushHead();
          return;
        }
      }
      this.relayBody(chunk);
    } catch (err) {
      this.upstreamFailed(err);
    }
  }

  /** Accumulates and parses response heads (skipping 1xx interim ones, which are relayed); returns the body bytes. */
  private readResponseHead(ex: Exchange, chunk: Buffer): Buffer {
    let buf = this.upBuf === undefined ? chunk : Buffer.concat([this.upBuf, chunk]);
    for (;;) {
      const taken = takeResponseHead(buf);
      if (taken === undefined) {
        this.upBuf = buf;
        return EMPTY;
      }
      const head = taken.head;
      buf = taken.rest;
      if (head.status >= 200) {
        this.upBuf = undefined;
        this.startResponse(ex, head);
        if (this.resFraming.kind !== "none") return buf;
        this.responseDone(buf);
        return EMPTY;
      }
      if (head.status === 101)
        throw chunkedResponseError("101 Switching Protocols to a request that did not ask for it");
      // 100 Continue, 103 Early Hints: pass them on (HTTP/1.0 clients do not know them).
      if (ex.head.minor === 1)
        this.socket.write(
          `HTTP/1.1 ${head.status} ${head.reason}\r\n${head.lines.map((l) => `${l}\r\n`).join("")}\r\n`,
          "latin1",
        );
    }
  }

  private startResponse(ex: Exchange, head: ResponseHead): void {
    // Framing first: a response whose length is ambiguous is a 502, and nothing of it may reach the client.
    this.resFraming = responseFraming(head, ex.head.method);
    this.res = head;
    if (this.deadlineKind === "response") this.deadline = NO_DEADLINE;
    ex.status = head.status;
    if (!head.keepAlive) this.upUsed = Number.POSITIVE_INFINITY; // not reusable
    if (this.resFraming.kind === "close" || this.phase === Phase.Body) this.keepClient = false;
    if (ex.head.minor === 0 && this.resFraming.kind === "chunked") this.keepClient = false;
    const keep = this.keepClient && !this.opts.isDraining();
    let text = `HTTP/1.1 ${head.status} ${head.reason}\r\n`;
    // Hop-by-hop fields describe the gateway's connection to us; the client's connection gets its own.
    let connectionNamed: string | undefined;
    for (let i = 0; i < head.names.length; i++) {
      const name = head.names[i] as string;
      if (name === "connection") {
        const line = head.lines[i] as string;
        connectionNamed = `${connectionNamed ?? ""},${line.slice(line.indexOf(":") + 1).toLowerCase()}`;
      }
    }
    for (let i = 0; i < head.names.length; i++) {
      const name = head.names[i] as string;
      if (name === "connection" || name === "keep-alive" || name === "proxy-connection") continue;
      if (connectionNamed !== undefined && hasToken(connectionNamed, name)) continue;
      text += `${head.lines[i]}\r\n`;
    }
    // A proxy forwarding a response without Date adds one (RFC 9110 §6.6.1).
    if (!head.names.includes("date")) text += `Date: ${httpDate()}\r\n`;
    text += `${this.opts.responseHeaderLines}${keep ? (ex.head.minor === 0 ? "Connection: keep-alive\r\n" : "") : "Connection: close\r\n"}\r\n`;
    if (!keep) this.keepClient = false;
    // Held back to leave together with the first body bytes (one send instead of two; on loopback each send also
    // pays for the receiver's wake-up).
    this.headOut = text;
    if (this.resFraming.kind === "length") this.resRemaining = this.resFraming.length;
    else if (this.resFraming.kind === "chunked")
      this.resChunks = new ChunkedScanner(MAX_RESPONSE_HEAD_BYTES, chunkedResponseError);
  }

  /** Writes a held-back response head on its own (no body bytes came with it). */
  private flushHead(): void {
    const head = this.headOut;
    if (head === undefined) return;
    this.headOut = undefined;
    this.socket.write(head, "latin1");
  }

  private relayBody(chunk: Buffer): void {
    let take: number;
    switch (this.resFraming.kind) {
      case "length":
        take = Math.min(this.resRemaining, chunk.length);
        this.resRemaining -= take;
        break;
      case "chunked":
        take = (this.resChunks as ChunkedScanner).scan(chunk);
        break;
      case "close":
        take = chunk.length;
        break;
      default:
        take = 0;
    }
    const body = take === chunk.length ? chunk : chunk.subarray(0, take);
    const head = this.headOut;
    let ok: boolean;
    if (head === undefined) {
      ok = take === 0 || this.socket.write(body);
    } else {
      this.headOut = undefined;
      if (take === 0) {
        ok = this.socket.write(head, "latin1");
      } else if (take <= COALESCE_MAX) {
        const out = Buffer.allocUnsafe(head.length + take);
        out.write(head, 0, "latin1");
        body.copy(out, head.length);
        ok = this.socket.write(out);
      } else {
        this.socket.cork();
        this.socket.write(head, "latin1");
        ok = this.socket.write(body);
        this.socket.uncork();
      }
    }
    if (!ok) this.clientBlocked();
    const done =
      this.resFraming.kind === "length"
        ? this.resRemaining === 0
        : this.resFraming.kind === "chunked"
          ? (this.resChunks as ChunkedScanner).done
          : false;
    if (done) this.responseDone(chunk.subarray(take));
  }

  /** The response is complete; `extra` is whatever the gateway sent after it (must be nothing). */
  private responseDone(extra: Buffer): void {
    this.flushHead();
    const ex = this.exchange as Exchange;
    this.res = undefined;
    this.resChunks = undefined;
    const up = this.up;
    if (up !== undefined) {
      const reusable = extra.length === 0 && this.upUsed !== Number.POSITIVE_INFINITY && this.phase !== Phase.Body;
      if (reusable) {
        this.upIdleSince = performance.now();
        if (up.isPaused()) up.resume();
      } else {
        up.destroy();
        this.up = undefined;
      }
    }
    ex.outcome = Outcome.Ok;
    this.exchange = undefined;
    this.opts.onDone(ex);
    this.afterExchange();
  }

  private onUpstreamClose(up: Socket): void {
    if (up !== this.up) return;
    this.up = undefined;
    const ex = this.exchange;
    if (ex === undefined) return; // an idle pooled connection closed
    if (this.res !== undefined && this.resFraming.kind === "close" && this.upError === undefined) {
      this.responseDone(EMPTY);
      return;
    }
    // A reused connection that closed before answering an idempotent request without a body: the gateway closed it
    // as we sent (the keep-alive race). Send it again on a fresh connection, once — never a POST (RFC 9110 §9.2.2).
    if (
      this.resBytes === 0 &&
      this.upUsed > 1 &&
      this.upUsed !== Number.POSITIVE_INFINITY &&
      ex.head.body.kind === "none" &&
      RETRYABLE.has(ex.head.method)
    ) {
      const up2 = this.upstream();
      this.upUsed = 1; // a retried request is not retried twice
      ex.sentUpstream++;
      this.write(up2, this.sentUpstreamHead, "latin1");
      return;
    }
    this.upstreamFailed(
      this.upError ?? Object.assign(new Error("the gateway closed the connection"), { code: "ECONNRESET" }),
    );
  }

  /** The gateway failed this exchange: answer it if nothing was sent yet, otherwise abort the client. */
  private upstreamFailed(err: unknown): void {
    const ex = this.exchange;
    this.up?.destroy();
    this.up = undefined;
    if (ex === undefined) return;
    this.deadline = NO_DEADLINE;
    if (this.res !== undefined && this.headOut !== undefined) {
      // The head never left: the client can still get a proper answer.
      this.headOut = undefined;
      this.res = undefined;
    }
    if (this.res !== undefined) {
      // Mid-response: the status is already on the wire; the only honest signal left is an abort.
      ex.outcome = Outcome.Failed;
      ex.error ??= "upstream_failed_mid_response";
      this.exchange = undefined;
      this.opts.onDone(ex);
      // A reset, not a FIN: a close-delimited body must not look complete to the client.
      abort(this.socket);
      return;
    }
    const reply = this.opts.onUpstreamFailure(err, ex);
    ex.error ??= "upstream_failed";
    this.reply(ex, reply);
  }
}

/** Ends a connection so the peer sees a failure (RST), not a clean end; TLS sockets cannot be reset, only closed. */
function abort(socket: Socket): void {
  if (socket instanceof TLSSocket || socket.destroyed) socket.destroy();
  else socket.resetAndDestroy();
}

let dateSecond = 0;
let dateText = "";
/** The current time as an HTTP date, formatted once per second. */
export function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(second * 1000).toUTCString();
  }
  return dateText;
}
