// The sidecar's own HTTP/1.1 engine (src/http/client-connection.ts) end to end on real sockets: every behaviour users
// of a reverse proxy relied on node:http for. Clients are raw sockets, so every byte the sidecar sends is checked;
// upstreams are raw TCP servers writing exact bytes (framing under the test's control) or node:http servers.
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import net, { type AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { eventually, upgradeRequest } from "../helpers/net.ts";
import { startTestSidecar, type TestSidecar } from "../helpers/sidecar.ts";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

// ---- HTTP/1.1 framing, test side ------------------------------------------------------------------------------------

/** Index just past the chunked body starting at `start` (trailers included), or -1 when it is not complete yet. */
function chunkedEnd(buf: Buffer, start: number): number {
  let i = start;
  for (;;) {
    const eol = buf.indexOf("\r\n", i);
    if (eol === -1) return -1;
    const size = Number.parseInt(buf.toString("latin1", i, eol).split(";")[0] as string, 16);
    if (Number.isNaN(size))
      throw new Error(`bad chunk size line at ${i}: ${JSON.stringify(buf.toString("latin1", i, eol))}`);
    i = eol + 2;
    if (size === 0) {
      for (;;) {
        const e = buf.indexOf("\r\n", i);
        if (e === -1) return -1;
        if (e === i) return e + 2;
        i = e + 2;
      }
    }
    if (buf.length < i + size + 2) return -1;
    i += size + 2;
  }
}

/** The data of a complete chunked body, and its trailer lines. */
function dechunk(raw: Buffer): { data: Buffer; trailers: string[] } {
  const parts: Buffer[] = [];
  let i = 0;
  for (;;) {
    const eol = raw.indexOf("\r\n", i);
    const size = Number.parseInt(raw.toString("latin1", i, eol).split(";")[0] as string, 16);
    i = eol + 2;
    if (size === 0) break;
    parts.push(raw.subarray(i, i + size));
    i += size + 2;
  }
  const trailers: string[] = [];
  for (;;) {
    const e = raw.indexOf("\r\n", i);
    if (e === i) break;
    trailers.push(raw.toString("latin1", i, e));
    i = e + 2;
  }
  return { data: Buffer.concat(parts), trailers };
}

interface Res {
  status: number;
  /** Status line and header lines, without the blank line. */
  head: string;
  headers: Array<[string, string]>;
  header(name: string): string | undefined;
  /** Body bytes as received (chunked framing included). */
  rawBody: Buffer;
  /** Decoded body. */
  body: Buffer;
  trailers: string[];
  /** 1xx heads before the final one. */
  interim: string[];
  /** Every byte of the response, interim heads included, except the Date line the sidecar adds (see `date`). */
  raw: string;
  /** The Date header of the final head (the sidecar adds one when the gateway sent none). */
  date: string | undefined;
}

/** The HTTP date line a response head carries, and the head without it. */
const DATE_LINE = /\r\nDate: [A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT(?=\r\n|$)/;

/** One response at the front of `buf`, or undefined when more bytes are needed. */
function parseResponse(buf: Buffer, method: string, closed: boolean): { res: Res; used: number } | undefined {
  let at = 0;
  const interim: string[] = [];
  for (;;) {
    const end = buf.indexOf("\r\n\r\n", at);
    if (end === -1) return undefined;
    const fullHead = buf.toString("latin1", at, end);
    const status = Number(fullHead.slice(9, 12));
    const head = status >= 200 ? fullHead.replace(DATE_LINE, "") : fullHead;
    const bodyStart = end + 4;
    if (status >= 100 && status < 200) {
      interim.push(head);
      at = bodyStart;
      continue;
    }
    const headers = head
      .split("\r\n")
      .slice(1)
      .map((l): [string, string] => {
        const c = l.indexOf(":");
        return [l.slice(0, c).toLowerCase(), l.slice(c + 1).trim()];
      });
    const header = (name: string) => headers.find((h) => h[0] === name)?.[1];
    const chunked = /chunked\s*$/i.test(header("transfer-encoding") ?? "");
    let bodyEnd: number;
    if (method === "HEAD" || status === 204 || status === 304) bodyEnd = bodyStart;
    else if (chunked) {
      bodyEnd = chunkedEnd(buf, bodyStart);
      if (bodyEnd === -1) return undefined;
    } else if (header("content-length") !== undefined) {
      bodyEnd = bodyStart + Number(header("content-length"));
      if (buf.length < bodyEnd) return undefined;
    } else {
      if (!closed) return undefined;
      bodyEnd = buf.length;
    }
    const rawBody = buf.subarray(bodyStart, bodyEnd);
    const decoded = chunked && bodyEnd > bodyStart ? dechunk(rawBody) : { data: rawBody, trailers: [] };
    return {
      res: {
        status,
        head,
        headers,
        header,
        rawBody,
        body: decoded.data,
        trailers: decoded.trailers,
        interim,
        raw: buf.toString("latin1", 0, bodyEnd).replace(fullHead, head),
        date: DATE_LINE.exec(fullHead)?.[0].slice("\r\nDate: ".length),
      },
      used: bodyEnd,
    };
  }
}

// ---- a raw client ---------------------------------------------------------------------------------------------------

class Client {
  readonly socket: net.Socket;
  /** Received and not yet consumed by response(). */
  buf: Buffer = Buffer.alloc(0);
  received = 0;
  closed = false;
  /** True when the connection ended with an error (a reset) rather than a FIN. */
  reset = false;
  private wakers: Array<() => void> = [];

  constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on("data", (d: Buffer) => {
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      this.received += d.length;
      this.wake();
    });
    socket.on("error", () => (this.reset = true));
    socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
  }

  static connect(port: number): Promise<Client> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, "127.0.0.1");
      const client = new Client(socket);
      socket.once("connect", () => resolve(client));
      socket.once("error", reject);
    });
  }

  write(data: string | Buffer): void {
    this.socket.write(typeof data === "string" ? Buffer.from(data, "latin1") : data);
  }

  private wake(): void {
    const w = this.wakers;
    this.wakers = [];
    for (const f of w) f();
  }

  /** Resolves once `check()` holds, re-checked on every event of the socket; rejects after `ms`. */
  async until(check: () => boolean, what: string, ms = 4000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!check()) {
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `timed out waiting for ${what}; received so far: ${JSON.stringify(this.text().slice(0, 400))}, closed=${this.closed}`,
        );
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.wakers.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** The next complete response (its bytes are consumed); throws if the connection closes before it is complete. */
  async response(method = "GET", ms = 4000): Promise<Res> {
    let parsed: { res: Res; used: number } | undefined;
    await this.until(
      () => {
        parsed = parseResponse(this.buf, method, this.closed);
        if (parsed === undefined && this.closed)
          throw new Error(
            `connection closed before a complete response; received: ${JSON.stringify(this.text().slice(0, 400))}`,
          );
        return parsed !== undefined;
      },
      `a response to ${method}`,
      ms,
    );
    const { res, used } = parsed as { res: Res; used: number };
    this.buf = this.buf.subarray(used);
    return res;
  }

  /** What is buffered and not yet consumed, without the Date lines the sidecar adds to final heads. */
  text(): string {
    return this.buf.toString("latin1").replace(new RegExp(DATE_LINE.source, "g"), "");
  }

  async waitClosed(ms = 4000): Promise<void> {
    await this.until(() => this.closed, "the connection to close", ms);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

const get = (path: string, extra = "") => `GET ${path} HTTP/1.1\r\nHost: sidecar.test\r\n${extra}\r\n`;
/** A 200 with a Content-Length; `before`/`after` are header lines around it (the sidecar appends its own last). */
const ok = (body: string, before = "", after = "") =>
  `HTTP/1.1 200 OK\r\n${before}Content-Length: ${Buffer.byteLength(body)}\r\n${after}\r\n${body}`;

// ---- a raw upstream: parses requests, answers with whatever bytes the test writes -----------------------------------

interface UpConn {
  id: number;
  socket: net.Socket;
  requests: UpRequest[];
  closed: boolean;
  /** Once set (by a handler that switched protocols), every later byte goes here instead of the HTTP parser. */
  raw?: (data: Buffer) => void;
}

interface UpRequest {
  method: string;
  target: string;
  version: string;
  /** Header lines as received. */
  lines: string[];
  /** Lower-case name → value (repeats joined with ", "). */
  headers: Record<string, string>;
  /** Body bytes exactly as received (chunked framing included). */
  body: Buffer;
  conn: UpConn;
  /** 1-based position of this request on its connection. */
  nth: number;
}

type UpHandler = (req: UpRequest, socket: net.Socket) => void;

const echoHandler: UpHandler = (req, socket) => {
  socket.write(ok(`${req.method} ${req.target} ${req.body.toString("latin1")}`));
};

class RawUpstream {
  readonly server: net.Server;
  readonly conns: UpConn[] = [];
  readonly requests: UpRequest[] = [];
  /** Called with every complete request. */
  handler: UpHandler = echoHandler;
  /** Called with every request head, before its body has arrived. */
  onHead: UpHandler | undefined;
  port = 0;

  constructor() {
    this.server = net.createServer((socket) => this.accept(socket));
  }

  async listen(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  reset(): void {
    this.handler = echoHandler;
    this.onHead = undefined;
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.socket.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  /** Requests whose target is `target`. */
  seen(target: string): UpRequest[] {
    return this.requests.filter((r) => r.target === target);
  }

  private accept(socket: net.Socket): void {
    const conn: UpConn = { id: this.conns.length + 1, socket, requests: [], closed: false };
    this.conns.push(conn);
    socket.on("error", () => undefined);
    socket.on("close", () => (conn.closed = true));
    let buf: Buffer = Buffer.alloc(0);
    let current: UpRequest | undefined;
    socket.on("data", (d: Buffer) => {
      if (conn.raw !== undefined) return conn.raw(d);
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      for (;;) {
        if (socket.destroyed) return;
        // A handler may have switched protocols since the check above (TypeScript cannot know).
        const switched = conn.raw as ((data: Buffer) => void) | undefined;
        if (switched !== undefined) {
          if (buf.length > 0) switched(buf);
          return;
        }
        if (current === undefined) {
          const end = buf.indexOf("\r\n\r\n");
          if (end === -1) return;
          const [requestLine, ...lines] = buf.toString("latin1", 0, end).split("\r\n") as [string, ...string[]];
          buf = buf.subarray(end + 4);
          const [method = "", target = "", version = ""] = requestLine.split(" ");
          const headers: Record<string, string> = {};
          for (const line of lines) {
            const c = line.indexOf(":");
            const name = line.slice(0, c).toLowerCase();
            const value = line.slice(c + 1).trim();
            headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
          }
          current = {
            method,
            target,
            version,
            lines,
            headers,
            body: Buffer.alloc(0),
            conn,
            nth: conn.requests.length + 1,
          };
          this.onHead?.(current, socket);
        }
        let bodyLength = 0;
        if (/chunked/i.test(current.headers["transfer-encoding"] ?? "")) {
          bodyLength = chunkedEnd(buf, 0);
          if (bodyLength === -1) return;
        } else if (current.headers["content-length"] !== undefined) {
          bodyLength = Number(current.headers["content-length"]);
          if (buf.length < bodyLength) return;
        }
        const req = current;
        req.body = Buffer.from(buf.subarray(0, bodyLength));
        buf = buf.subarray(bodyLength);
        current = undefined;
        conn.requests.push(req);
        this.requests.push(req);
        this.handler(req, socket);
      }
    });
  }
}

// ---- a node:http upstream, for realistic peers and large bodies
// ------------------------------------------------------

const BIG = randomBytes(8 << 20);
const BIG_SHA = sha256(BIG);
const MIB = randomBytes(1 << 20);
const FLOOD_MIB = 64;

interface HttpUpstream {
  server: http.Server;
  url: string;
  /** TCP connections accepted. */
  connections: number;
  /** The 64 MiB /flood response has been entirely handed to the kernel. */
  floodFinished: boolean;
}

async function startHttpUpstream(): Promise<HttpUpstream> {
  const state: HttpUpstream = {
    server: undefined as unknown as http.Server,
    url: "",
    connections: 0,
    floodFinished: false,
  };
  const server = http.createServer((req, res) => {
    if (req.url?.startsWith("/download")) {
      // 8 MiB, streamed (chunked), honouring backpressure.
      res.writeHead(200, { "content-type": "application/octet-stream" });
      let at = 0;
      const pump = (): void => {
        while (at < BIG.length) {
          const slice = BIG.subarray(at, at + 65536);
          at += slice.length;
          if (!res.write(slice)) {
            res.once("drain", pump);
            return;
          }
        }
        res.end();
      };
      pump();
      return;
    }
    if (req.url === "/flood") {
      state.floodFinished = false;
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(FLOOD_MIB << 20) });
      let n = 0;
      const pump = (): void => {
        while (n < FLOOD_MIB) {
          n++;
          if (!res.write(MIB)) {
            res.once("drain", pump);
            return;
          }
        }
        res.end();
      };
      res.on("finish", () => (state.floodFinished = true));
      pump();
      return;
    }
    const hash = createHash("sha256");
    let bytes = 0;
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => {
      hash.update(c);
      bytes += c.length;
      if (bytes < 65536) chunks.push(c);
    });
    req.on("end", () => {
      if (req.url === "/upload") {
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ bytes, sha256: hash.digest("hex") }));
        return;
      }
      res.setHeader("content-type", "text/plain");
      res.end(`${req.method} ${req.url} HTTP/${req.httpVersion} ${Buffer.concat(chunks).toString()}`);
    });
  });
  server.on("connection", () => state.connections++);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  state.server = server;
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}

// ---- fixtures
// ---------------------------------------------------------------------------------------------------------

let up: RawUpstream;
let sc: TestSidecar;
let hup: HttpUpstream;
let hsc: TestSidecar;
const clients: Client[] = [];
const connect = async (s: TestSidecar = sc): Promise<Client> => {
  const c = await Client.connect(s.sidecar.proxyAddress.port);
  clients.push(c);
  return c;
};

beforeAll(async () => {
  up = new RawUpstream();
  await up.listen();
  sc = await startTestSidecar({ "--upstream": `http://127.0.0.1:${up.port}`, "--upstream-timeout-ms": "3000" });
  hup = await startHttpUpstream();
  hsc = await startTestSidecar({ "--upstream": hup.url, "--upstream-timeout-ms": "3000" });
});
afterAll(async () => {
  for (const c of clients) c.destroy();
  await sc?.close();
  await hsc?.close();
  await up?.close();
  hup?.server.closeAllConnections();
  await new Promise<void>((r) => (hup ? hup.server.close(() => r()) : r()));
});
beforeEach(() => {
  up.reset();
  for (const c of clients.splice(0)) c.destroy();
});

/** Upstream connections accepted from now on. */
const upConnsSince = () => {
  const start = up.conns.length;
  return () => up.conns.slice(start);
};
const accessLines = (s: TestSidecar, url: string) => s.logs.filter((l) => l.kind === "http" && l.url === url);
const errorType = (res: Res) => (JSON.parse(res.body.toString()) as { error: { type: string } }).error.type;

// ---- the tests
// ----------------------------------------------------------------------------------------------------------

describe("keep-alive", () => {
  it("serves many sequential requests on one client connection over ONE upstream connection, byte for byte", async () => {
    const conns = upConnsSince();
    up.handler = (req, socket) => socket.write(ok(`answer ${req.target}`, "Content-Type: text/plain\r\n"));
    const c = await connect();
    for (let i = 0; i < 25; i++) {
      c.write(get(`/ka/${i}`));
      const res = await c.response();
      expect(res.raw).toBe(ok(`answer /ka/${i}`, "Content-Type: text/plain\r\n"));
    }
    expect(c.closed).toBe(false);
    expect(conns()).toHaveLength(1);
    expect(conns()[0]?.requests.map((r) => r.target)).toEqual(Array.from({ length: 25 }, (_, i) => `/ka/${i}`));
  });

  it("keeps one connection to a node:http upstream across methods and bodies", async () => {
    const before = hup.connections;
    const c = await connect(hsc);
    const methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "GET", "POST"];
    for (const [i, method] of methods.entries()) {
      const body = method === "POST" || method === "PUT" || method === "PATCH" ? `body-${i}` : "";
      c.write(
        `${method} /m/${i} HTTP/1.1\r\nHost: x\r\n${body ? `Content-Length: ${body.length}\r\n` : ""}\r\n${body}`,
      );
      const res = await c.response(method);
      expect(res.status).toBe(200);
      expect(res.body.toString()).toBe(`${method} /m/${i} HTTP/1.1 ${body}`);
    }
    expect(hup.connections - before).toBe(1);
  });

  it("a client's Connection: close gets Connection: close back, the connection closes, and pipelined requests after it are never forwarded", async () => {
    const c = await connect();
    c.write(get("/last", "Connection: close\r\n") + get("/never"));
    const res = await c.response();
    expect(res.raw).toBe(ok("GET /last ", "", "Connection: close\r\n"));
    await c.waitClosed();
    expect(c.text()).toBe("");
    expect(up.seen("/never")).toHaveLength(0);
  });
});

describe("WebSocket upgrade on a kept-alive connection", () => {
  // A browser may reuse an idle keep-alive connection for a WebSocket handshake.
  const SWITCH =
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
  const serverFrame = (text: string) => Buffer.concat([Buffer.from([0x81, text.length]), Buffer.from(text)]);
  const clientFrame = (text: string) => {
    const mask = Buffer.from([1, 2, 3, 4]);
    return Buffer.concat([
      Buffer.from([0x81, 0x80 | text.length]),
      mask,
      Buffer.from(Buffer.from(text).map((b, i) => b ^ (mask[i & 3] as number))),
    ]);
  };
  const unmask = (frame: Buffer) => {
    const mask = frame.subarray(2, 6);
    return Buffer.from(
      frame.subarray(6, 6 + (frame[1] as number & 0x7f)).map((b, i) => b ^ (mask[i & 3] as number)),
    ).toString();
  };

  it("a GET, then (in the same write) an upgrade and a first frame: 200, then 101, then the tunnel works", async () => {
    const conns = upConnsSince();
    up.handler = (req, socket) => {
      if (req.target !== "/ws-after-ka") return echoHandler(req, socket);
      req.conn.raw = (d) => socket.write(serverFrame(`echo:${unmask(d)}`));
      socket.write(SWITCH);
    };
    const c = await connect();
    c.write(Buffer.concat([Buffer.from(get("/before-ws") + upgradeRequest("/ws-after-ka")), clientFrame("hi")]));
    expect((await c.response()).raw).toBe(ok("GET /before-ws "));
    const expected = Buffer.concat([Buffer.from(SWITCH), serverFrame("echo:hi")]);
    await c.until(() => c.buf.length >= expected.length, "the 101 and the echoed frame");
    expect(c.buf.toString("latin1")).toBe(expected.toString("latin1"));
    const [first, second] = conns();
    expect(first?.requests.map((r) => r.target)).toEqual(["/before-ws"]);
    expect(second?.requests.map((r) => r.target)).toEqual(["/ws-after-ka"]);
    expect(second?.requests[0]?.headers.upgrade).toBe("websocket");
    // The kept-alive HTTP connection to the upstream is not left behind.
    await eventually(() => first?.closed === true, 2000, "the pooled upstream connection to be closed");
  });

  it("a gateway answering an upgrade with a head larger than 64 KiB: 502, nothing of it forwarded", async () => {
    up.handler = (req, socket) => {
      if (req.target !== "/ws-big-head") return echoHandler(req, socket);
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Big: ${"a".repeat(80 * 1024)}\r\n\r\n`,
      );
    };
    const c = await connect();
    c.write(upgradeRequest("/ws-big-head"));
    const res = await c.response();
    expect(res.status).toBe(502);
    expect(res.raw).not.toContain("X-Big");
    expect(res.raw).not.toContain("101");
  });

  it("a frame the gateway sends together with its 101 (its connect.challenge) reaches the client right after the 101", async () => {
    up.handler = (req, socket) => {
      if (req.target !== "/ws-challenge") return echoHandler(req, socket);
      req.conn.raw = (d) => socket.write(serverFrame(`echo:${unmask(d)}`));
      socket.write(Buffer.concat([Buffer.from(SWITCH), serverFrame("challenge")]));
    };
    const c = await connect();
    c.write(upgradeRequest("/ws-challenge"));
    const first = Buffer.concat([Buffer.from(SWITCH), serverFrame("challenge")]);
    await c.until(() => c.buf.length >= first.length, "the 101 and the challenge frame");
    expect(c.buf.toString("latin1")).toBe(first.toString("latin1"));
    c.write(clientFrame("ok"));
    const both = Buffer.concat([first, serverFrame("echo:ok")]);
    await c.until(() => c.buf.length >= both.length, "the echo");
    expect(c.buf.toString("latin1")).toBe(both.toString("latin1"));
  });
});

describe("pipelining", () => {
  it("answers three pipelined requests (GET, POST with a body, GET) completely and in order", async () => {
    const conns = upConnsSince();
    up.handler = (req, socket) => {
      const answer = ok(`${req.method} ${req.target} ${req.body.toString()}`);
      // The first answer is slow: a reordering engine would let the others overtake it.
      if (req.target === "/p1") setTimeout(() => socket.write(answer), 100);
      else socket.write(answer);
    };
    const c = await connect();
    c.write(get("/p1") + "POST /p2 HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world" + get("/p3"));
    const r1 = await c.response();
    const r2 = await c.response();
    const r3 = await c.response();
    expect([r1.raw, r2.raw, r3.raw]).toEqual([ok("GET /p1 "), ok("POST /p2 hello world"), ok("GET /p3 ")]);
    expect(conns()).toHaveLength(1);
    expect(conns()[0]?.requests.map((r) => [r.method, r.target, r.body.toString()])).toEqual([
      ["GET", "/p1", ""],
      ["POST", "/p2", "hello world"],
      ["GET", "/p3", ""],
    ]);
    await sleep(50);
    expect(c.text()).toBe("");
    expect(c.closed).toBe(false);
  });

  it("GET, POST with Content-Length, POST chunked with a trailer, HEAD, GET: pipelined in one write, or one byte per write", async () => {
    up.handler = (req, socket) => {
      if (req.method === "HEAD") socket.write("HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n");
      else echoHandler(req, socket);
    };
    const chunked = "3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n";
    const requests =
      get("/q1") +
      "POST /q2 HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody" +
      `POST /q3 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${chunked}` +
      "HEAD /q4 HTTP/1.1\r\nHost: x\r\n\r\n" +
      get("/q5");
    const expected = [
      ok("GET /q1 "),
      ok("POST /q2 body"),
      ok(`POST /q3 ${chunked}`),
      "HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n",
      ok("GET /q5 "),
    ];
    for (const byteByByte of [false, true]) {
      const conns = upConnsSince();
      const c = await connect();
      if (!byteByByte) c.write(requests);
      else {
        for (const ch of requests) {
          c.write(ch);
          await new Promise((r) => setImmediate(r));
        }
      }
      const got: string[] = [];
      for (const method of ["GET", "POST", "POST", "HEAD", "GET"]) got.push((await c.response(method)).raw);
      expect(got).toEqual(expected);
      expect(conns()).toHaveLength(1);
      expect(conns()[0]?.requests.map((r) => `${r.method} ${r.target} ${r.body.toString()}`)).toEqual([
        "GET /q1 ",
        "POST /q2 body",
        `POST /q3 ${chunked}`,
        "HEAD /q4 ",
        "GET /q5 ",
      ]);
    }
  });

  it("answers 1,000 requests pipelined in one write (more than a head's worth of bytes: reading pauses and resumes) in order", async () => {
    const conns = upConnsSince();
    const c = await connect();
    c.write(Array.from({ length: 1000 }, (_, i) => get(`/batch/${i}`)).join(""));
    for (let i = 0; i < 1000; i++) expect((await c.response()).raw).toBe(ok(`GET /batch/${i} `));
    expect(conns()).toHaveLength(1);
    expect(c.closed).toBe(false);
  });
});

describe("chunked bodies", () => {
  it("relays a chunked request body exactly as sent, trailers included", async () => {
    const body = "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Checksum: abc\r\n\r\n";
    const c = await connect();
    c.write(`POST /chunked-up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n${body}`);
    const res = await c.response();
    expect(res.status).toBe(200);
    const [seen] = up.seen("/chunked-up");
    expect(seen?.headers["transfer-encoding"]).toBe("chunked");
    // End to end (RFC 9110 §6.6.2): the announcement travels with the trailer fields it announces.
    expect(seen?.headers.trailer).toBe("X-Checksum");
    expect(seen?.headers["content-length"]).toBeUndefined();
    expect(seen?.body.toString("latin1")).toBe(body);
  });

  it("relays a chunked request body that arrives in pieces cut anywhere", async () => {
    const body = "3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n";
    const c = await connect();
    c.write("POST /chunked-pieces HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (const piece of [body.slice(0, 2), body.slice(2, 9), body.slice(9, 14), body.slice(14, 30), body.slice(30)]) {
      await sleep(15);
      c.write(piece);
    }
    expect((await c.response()).body.toString()).toBe(`POST /chunked-pieces ${body}`);
    c.write(get("/after-chunked-pieces"));
    expect((await c.response()).raw).toBe(ok("GET /after-chunked-pieces "));
  });

  it("relays a chunked response with a trailer intact (even cut mid-size-line), and the connection stays usable", async () => {
    const conns = upConnsSince();
    const head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n";
    const pieces = ["4\r\nab", "cd\r\n1", "0\r\n0123456789abcdef\r\n", "0\r\nX-Sum: 7\r", "\n\r\n"];
    up.handler = (req, socket) => {
      if (req.target !== "/chunked-down") return echoHandler(req, socket);
      socket.write(head);
      let i = 0;
      const next = () => {
        if (i < pieces.length) socket.write(pieces[i++] as string, () => setTimeout(next, 10));
      };
      next();
    };
    const c = await connect();
    c.write(get("/chunked-down"));
    const res = await c.response();
    expect(res.raw).toBe(head + pieces.join(""));
    expect(res.body.toString()).toBe("abcd0123456789abcdef");
    expect(res.trailers).toEqual(["X-Sum: 7"]);
    c.write(get("/after-chunked"));
    expect((await c.response()).raw).toBe(ok("GET /after-chunked "));
    expect(conns()).toHaveLength(1);
  });
});

describe("responses trickling in", () => {
  it("responses written one byte at a time (Content-Length, chunked with a trailer, after a 100 Continue) are relayed intact", async () => {
    const answers: Record<string, string> = {
      "/drip-length": ok("drip drop", "Content-Type: text/plain\r\n"),
      "/drip-chunked":
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\ndrip\r\n5\r\n drop\r\n0\r\nX-T: 1\r\n\r\n",
      "/drip-continue": `HTTP/1.1 100 Continue\r\n\r\n${ok("after continue")}`,
    };
    up.handler = (req, socket) => {
      const bytes = answers[req.target] ?? ok("?");
      let i = 0;
      const next = () => {
        if (i < bytes.length && !socket.destroyed) socket.write(bytes[i++] as string, () => setImmediate(next));
      };
      next();
    };
    const c = await connect();
    for (const path of Object.keys(answers)) {
      c.write(get(path));
      expect((await c.response()).raw).toBe(answers[path]);
    }
    expect(c.closed).toBe(false);
  });
});

describe("responses without a body", () => {
  it("HEAD (Content-Length or chunked), 204 and 304 carry no body, and keep-alive continues after each", async () => {
    const conns = upConnsSince();
    const answers: Record<string, string> = {
      "/head": "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1234\r\n\r\n",
      "/head-chunked": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
      "/204": "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n",
      "/304": 'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\nContent-Length: 99\r\n\r\n',
    };
    up.handler = (req, socket) => socket.write(answers[req.target] ?? ok(`${req.method} ${req.target}`));
    const c = await connect();
    const steps: Array<[string, string]> = [
      ["HEAD", "/head"],
      ["GET", "/x1"],
      ["HEAD", "/head-chunked"],
      ["GET", "/x2"],
      ["GET", "/204"],
      ["GET", "/x3"],
      ["GET", "/304"],
      ["GET", "/x4"],
    ];
    for (const [method, path] of steps) {
      c.write(`${method} ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
      const res = await c.response(method);
      expect(res.raw).toBe(answers[path] ?? ok(`${method} ${path}`));
    }
    await sleep(30);
    expect(c.text()).toBe("");
    expect(c.closed).toBe(false);
    expect(conns()).toHaveLength(1);
  });
});

describe("close-delimited and Connection: close responses", () => {
  it("a response delimited by the upstream closing reaches the client whole, with Connection: close, then the connection closes", async () => {
    up.handler = (_req, socket) => {
      socket.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\npart one, ");
      setTimeout(() => socket.end("part two"), 30);
    };
    const c = await connect();
    c.write(get("/close-delimited"));
    await c.waitClosed();
    expect(c.text()).toBe("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\npart one, part two");
    expect(c.reset).toBe(false);
    expect(accessLines(sc, "/close-delimited")).toMatchObject([{ status: 200 }]);
    expect(accessLines(sc, "/close-delimited")[0]?.error).toBeUndefined();
  });

  it("upstream Connection: close: the client connection stays open and the next request goes over a fresh upstream connection", async () => {
    const conns = upConnsSince();
    up.handler = (req, socket) => {
      if (req.target === "/upstream-closes") socket.end(ok("bye", "Connection: close\r\n"));
      // Says close but leaves the connection open: must not be reused either.
      else if (req.target === "/upstream-says-close") socket.write(ok("bye", "Connection: close\r\n"));
      else echoHandler(req, socket);
    };
    const c = await connect();
    c.write(get("/upstream-closes"));
    expect((await c.response()).raw).toBe(ok("bye"));
    c.write(get("/after-1"));
    expect((await c.response()).raw).toBe(ok("GET /after-1 "));
    c.write(get("/upstream-says-close"));
    expect((await c.response()).raw).toBe(ok("bye"));
    c.write(get("/after-2"));
    expect((await c.response()).raw).toBe(ok("GET /after-2 "));
    expect(c.closed).toBe(false);
    expect(conns().map((conn) => conn.requests.map((r) => r.target))).toEqual([
      ["/upstream-closes"],
      ["/after-1", "/upstream-says-close"],
      ["/after-2"],
    ]);
    await eventually(
      () => conns()[1]?.closed === true,
      2000,
      "the sidecar to close the connection the upstream asked to close",
    );
  });
});

describe("the keep-alive race", () => {
  it("an upstream that closed an idle kept-alive connection: the next GET and the next POST go over a fresh connection", async () => {
    const conns = upConnsSince();
    up.handler = (req, socket) => {
      echoHandler(req, socket);
      if (req.target.startsWith("/idle-close")) setTimeout(() => socket.destroy(), 50);
    };
    const c = await connect();
    c.write(get("/idle-close-1"));
    expect((await c.response()).status).toBe(200);
    await sleep(250);
    c.write(get("/after-idle-close"));
    expect((await c.response()).raw).toBe(ok("GET /after-idle-close "));
    // The same for a request with a body: the close was seen before anything was sent, nothing is lost.
    c.write(get("/idle-close-2"));
    expect((await c.response()).status).toBe(200);
    await sleep(250);
    c.write("POST /post-after-idle-close HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\npayload");
    expect((await c.response()).raw).toBe(ok("POST /post-after-idle-close payload"));
    expect(conns()).toHaveLength(3);
  });

  it("a kept-alive connection that closes as a GET arrives: the GET is retried once on a fresh connection", async () => {
    up.handler = (req, socket) => {
      if (req.target === "/race-get" && req.nth > 1)
        socket.destroy(); // received, then gone without an answer
      else echoHandler(req, socket);
    };
    const c = await connect();
    c.write(get("/race-warm"));
    expect((await c.response()).status).toBe(200);
    c.write(get("/race-get"));
    expect((await c.response()).raw).toBe(ok("GET /race-get "));
    const seen = up.seen("/race-get");
    expect(seen.map((r) => r.nth)).toEqual([2, 1]);
    expect(seen[0]?.conn).not.toBe(seen[1]?.conn);
    expect(accessLines(sc, "/race-get")).toMatchObject([{ status: 200 }]);
  });

  // POST is not idempotent (RFC 9110 §9.2.2): with a body or without, it is never replayed.
  it.each([
    ["with a body", "race-post", "Content-Length: 7\r\n\r\npayload"],
    ["without a body", "race-bodyless-post", "Content-Length: 0\r\n\r\n"],
  ])(
    "…but a POST %s in the same race is never replayed: a clean 502, the upstream sees it once",
    async (_what, name, rest) => {
      up.handler = (req, socket) => {
        if (req.target === `/${name}` && req.nth > 1) socket.destroy();
        else echoHandler(req, socket);
      };
      const c = await connect();
      c.write(get(`/${name}-warm`));
      expect((await c.response()).status).toBe(200);
      c.write(`POST /${name} HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n${rest}`);
      const res = await c.response();
      expect(res.status).toBe(502);
      expect(errorType(res)).toBe("upstream_reset");
      await sleep(100);
      expect(up.seen(`/${name}`)).toHaveLength(1);
      expect(accessLines(sc, `/${name}`)).toMatchObject([{ status: 502, error: "ECONNRESET" }]);
    },
  );

  it("a GET is retried at most once, and never when the connection was fresh", async () => {
    up.handler = (req, socket) => {
      if (req.target === "/always-drop") socket.destroy();
      else echoHandler(req, socket);
    };
    const c = await connect();
    c.write(get("/race-warm-2"));
    expect((await c.response()).status).toBe(200);
    c.write(get("/always-drop"));
    expect((await c.response()).status).toBe(502);
    expect(up.seen("/always-drop")).toHaveLength(2); // the original and one retry
    const fresh = await connect();
    fresh.write(get("/always-drop"));
    expect((await fresh.response()).status).toBe(502);
    await sleep(50);
    expect(up.seen("/always-drop")).toHaveLength(3); // a fresh connection closing is a failure, not the race
  });
});

describe("Expect: 100-continue", () => {
  it("the client receives the upstream's 100 Continue before the final response, and its body reaches the upstream (node:http upstream)", async () => {
    const c = await connect(hsc);
    c.write("POST /expect HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    await c.until(() => c.text().includes("\r\n\r\n"), "the interim response");
    expect(c.text()).toBe("HTTP/1.1 100 Continue\r\n\r\n");
    c.write("hello");
    const res = await c.response("POST");
    expect(res.interim).toEqual(["HTTP/1.1 100 Continue"]);
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe("POST /expect HTTP/1.1 hello");
  });

  it("the 100 Continue is relayed byte for byte (raw upstream), then the final response", async () => {
    up.onHead = (req, socket) => {
      if (req.headers.expect === "100-continue") socket.write("HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n");
    };
    const c = await connect();
    c.write("POST /expect-raw HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    await c.until(() => c.text().includes("\r\n\r\n"), "the interim response");
    c.write("hello");
    const res = await c.response("POST");
    expect(res.raw).toBe(`HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n${ok("POST /expect-raw hello")}`);
    expect(up.seen("/expect-raw")[0]?.headers.expect).toBe("100-continue");
  });

  it("a final answer instead of 100 Continue is relayed and the connection is closed (the unsent body cannot be told from a next request)", async () => {
    up.onHead = (req, socket) => {
      if (req.target === "/expect-refused")
        socket.write("HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n");
    };
    const c = await connect();
    c.write("POST /expect-refused HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    const res = await c.response("POST");
    expect(res.raw).toBe("HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    await c.waitClosed();
  });
});

describe("interim responses and early answers", () => {
  it("103 Early Hints is relayed to an HTTP/1.1 client before the final response, and not to an HTTP/1.0 client", async () => {
    const hints = "HTTP/1.1 103 Early Hints\r\nLink: </app.css>; rel=preload\r\n\r\n";
    up.handler = (req, socket) => socket.write(hints + ok(`${req.method} ${req.target} `));
    const c = await connect();
    c.write(get("/hints"));
    expect((await c.response()).raw).toBe(hints + ok("GET /hints "));
    const old = await connect();
    old.write("GET /hints-10 HTTP/1.0\r\n\r\n");
    await old.waitClosed();
    expect(old.text()).toBe(ok("GET /hints-10 ", "", "Connection: close\r\n"));
  });

  it("an upstream that answers before the request body is complete (413): the answer is relayed with Connection: close", async () => {
    up.onHead = (req, socket) => {
      if (req.target === "/early-413") socket.write("HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n");
    };
    up.handler = () => undefined;
    const c = await connect();
    c.write("POST /early-413 HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n");
    c.write("a".repeat(1000));
    const res = await c.response("POST");
    expect(res.raw).toBe("HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    await c.waitClosed();
    expect(accessLines(sc, "/early-413")).toMatchObject([{ status: 413 }]);
  });
});

describe("HTTP/1.0 clients", () => {
  it("without keep-alive: the response, then the connection closes; the request went upstream as HTTP/1.0", async () => {
    const c = await connect();
    c.write("GET /ten HTTP/1.0\r\n\r\n");
    await c.waitClosed();
    expect(c.text()).toBe(ok("GET /ten ", "", "Connection: close\r\n"));
    expect(up.seen("/ten")[0]?.version).toBe("HTTP/1.0");
  });

  it("with Connection: keep-alive: gets Connection: keep-alive back and can send a second request", async () => {
    const c = await connect();
    c.write("GET /ten-ka-1 HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n");
    expect((await c.response()).raw).toBe(ok("GET /ten-ka-1 ", "", "Connection: keep-alive\r\n"));
    c.write("GET /ten-ka-2 HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n");
    expect((await c.response()).raw).toBe(ok("GET /ten-ka-2 ", "", "Connection: keep-alive\r\n"));
    expect(c.closed).toBe(false);
    expect(up.seen("/ten-ka-2")[0]?.version).toBe("HTTP/1.0");
  });

  it("with Connection: keep-alive in front of a node:http upstream (which answers HTTP/1.0 close-delimited): complete responses, and a connection that says close does close", async () => {
    for (const path of ["/ten-node-1", "/ten-node-2"]) {
      const c = await connect(hsc);
      c.write(`GET ${path} HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n`);
      const res = await c.response();
      expect(res.status).toBe(200);
      expect(res.body.toString()).toBe(`GET ${path} HTTP/1.0 `);
      // No Content-Length from the gateway: the body ends with the connection, which must then say so.
      if (res.header("content-length") === undefined) {
        expect(res.header("connection")).toBe("close");
        await c.waitClosed();
      } else {
        expect(res.header("connection")).toBe("keep-alive");
      }
    }
  });
});

describe("absolute-form request targets", () => {
  it("GET http://example.test/path?q=1 arrives upstream as /path?q=1, with the target's authority as Host (RFC 9112 §3.2.2)", async () => {
    const c = await connect();
    c.write("GET http://example.test/path?q=1 HTTP/1.1\r\nHost: example.test\r\n\r\n");
    expect((await c.response()).status).toBe(200);
    c.write("GET http://example.test/other HTTP/1.1\r\nHost: sidecar.test:8443\r\n\r\n");
    expect((await c.response()).status).toBe(200);
    c.write("GET HTTP://EXAMPLE.TEST HTTP/1.1\r\nHost: example.test\r\n\r\n");
    expect((await c.response()).status).toBe(200);
    const [a, b, d] = up.requests.slice(-3);
    expect([a?.target, a?.headers.host]).toEqual(["/path?q=1", "example.test"]);
    expect([b?.target, b?.headers.host]).toEqual(["/other", "example.test"]);
    expect([d?.target, d?.headers.host]).toEqual(["/", "EXAMPLE.TEST"]);
  });

  it("an absolute-form target with a query but no path keeps its query (http://example.test?q=1 → /?q=1)", async () => {
    const c = await connect();
    c.write("GET http://example.test?q=1 HTTP/1.1\r\nHost: example.test\r\n\r\n");
    expect((await c.response()).status).toBe(200);
    c.write("GET http://example.test?next=/elsewhere HTTP/1.1\r\nHost: example.test\r\n\r\n");
    expect((await c.response()).status).toBe(200);
    expect(up.requests.slice(-2).map((r) => r.target)).toEqual(["/?q=1", "/?next=/elsewhere"]);
  });
});

describe("bad upstream responses", () => {
  const bigHeader = (kib: number) =>
    `HTTP/1.1 200 OK\r\nX-Big: ${"a".repeat(kib * 1024)}\r\nContent-Length: 6\r\n\r\nSECRET`;
  it.each([
    ["a malformed status line", "HTTP/1.1 2OO OK\r\nContent-Length: 6\r\n\r\nSECRET"],
    ["a non-HTTP status line", "ICY 200 OK\r\nContent-Length: 6\r\n\r\nSECRET"],
    ["a malformed header line", "HTTP/1.1 200 OK\r\nBad Header: 1\r\nContent-Length: 6\r\n\r\nSECRET"],
    [
      "Content-Length and Transfer-Encoding together",
      "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nSECRET\r\n0\r\n\r\n",
    ],
    ["a malformed Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 6x\r\n\r\nSECRET"],
    ["a head larger than 64 KiB (200 KiB)", bigHeader(200)],
    ["a head larger than 64 KiB (80 KiB)", bigHeader(80)],
    [
      "101 to a plain request",
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nSECRET",
    ],
  ])("%s: 502 with a JSON body, nothing of it forwarded, and the next request works", async (_name, answer) => {
    const conns = upConnsSince();
    up.handler = (req, socket) => {
      if (req.target === "/bad") socket.write(answer);
      else echoHandler(req, socket);
    };
    const c = await connect();
    c.write(get("/bad", "Accept: application/json\r\n"));
    const res = await c.response();
    expect(res.status).toBe(502);
    expect(res.header("content-type")).toBe("application/json; charset=utf-8");
    expect(errorType(res)).toBe("bad_upstream_response");
    expect(res.raw).not.toContain("SECRET");
    expect(res.raw).not.toContain("X-Big");
    expect(accessLines(sc, "/bad").at(-1)).toMatchObject({ status: 502, error: "BAD_RESPONSE" });
    c.write(get("/after-bad"));
    expect((await c.response()).raw).toBe(ok("GET /after-bad "));
    expect(conns()).toHaveLength(2); // the connection that misbehaved is never reused
    await eventually(() => conns()[0]?.closed === true, 2000, "the bad upstream connection to be closed");
    expect(c.text()).toBe("");
  });

  it("bytes after a complete response (same write or later) never reach the client, and the next request works", async () => {
    const conns = upConnsSince();
    const smuggled = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL";
    up.handler = (req, socket) => {
      if (req.target === "/extra-same-write") socket.write(ok("fine") + smuggled);
      else if (req.target === "/extra-later") {
        socket.write(ok("fine"));
        setTimeout(() => socket.write(smuggled), 30);
      } else echoHandler(req, socket);
    };
    const c = await connect();
    c.write(get("/extra-same-write"));
    expect((await c.response()).raw).toBe(ok("fine"));
    c.write(get("/next-1"));
    expect((await c.response()).raw).toBe(ok("GET /next-1 "));
    c.write(get("/extra-later"));
    expect((await c.response()).raw).toBe(ok("fine"));
    await sleep(150);
    c.write(get("/next-2"));
    expect((await c.response()).raw).toBe(ok("GET /next-2 "));
    await sleep(50);
    expect(c.text()).toBe("");
    expect(conns().map((conn) => conn.requests.map((r) => r.target))).toEqual([
      ["/extra-same-write"],
      ["/next-1", "/extra-later"],
      ["/next-2"],
    ]);
  });
});

describe("an upstream that fails mid-response", () => {
  it("dies after the head and half the body (Content-Length): the client connection is aborted, logged as 200 with an error", async () => {
    const head = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
    up.handler = (_req, socket) => {
      socket.write(head + "x".repeat(500));
      setTimeout(() => socket.destroy(), 30);
    };
    const c = await connect();
    c.write(get("/die-mid"));
    await expect(c.response()).rejects.toThrow(/closed before a complete response/);
    expect(c.text()).toBe(head + "x".repeat(500));
    const line = accessLines(sc, "/die-mid")[0];
    expect(line).toMatchObject({ status: 200, error: "upstream_failed_mid_response" });
  });

  it("dies mid-way through a chunked body: the client never sees the last chunk, and the connection is aborted", async () => {
    const head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    up.handler = (_req, socket) => {
      socket.write(`${head}5\r\nhello\r\n`);
      setTimeout(() => socket.destroy(), 30);
    };
    const c = await connect();
    c.write(get("/die-mid-chunked"));
    await expect(c.response()).rejects.toThrow(/closed before a complete response/);
    expect(c.text()).toBe(`${head}5\r\nhello\r\n`);
    expect(accessLines(sc, "/die-mid-chunked")[0]).toMatchObject({
      status: 200,
      error: "upstream_failed_mid_response",
    });
  });

  it("a close-delimited body cut by a reset (not a clean close) is recorded as a failure, not as a complete response", async () => {
    up.handler = (_req, socket) => {
      socket.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\npartial");
      setTimeout(() => socket.resetAndDestroy(), 30);
    };
    const c = await connect();
    c.write(get("/reset-close-delimited"));
    await c.waitClosed();
    expect(c.text()).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\npartial$/);
    const line = accessLines(sc, "/reset-close-delimited")[0];
    expect(line?.status).toBe(200);
    expect(line?.error, "the access-log line of a response cut by ECONNRESET has no error").toBeDefined();
  });
});

describe("deadlines", () => {
  let dsc: TestSidecar;
  beforeAll(async () => {
    dsc = await startTestSidecar({ "--upstream": `http://127.0.0.1:${up.port}`, "--headers-timeout-ms": "300" });
  });
  afterAll(() => dsc?.close());

  it("a client that connects and sends nothing is closed after headersTimeoutMs, not before", async () => {
    const started = performance.now();
    const c = await connect(dsc);
    await c.waitClosed(3000);
    expect(performance.now() - started).toBeGreaterThanOrEqual(280);
    expect(c.received).toBe(0);
  });

  it("a head that does not complete in time (even trickling in) gets 408 and the connection closes", async () => {
    const c = await connect(dsc);
    c.write("GET /trickle HTTP/1.1\r\nHost: x\r\n");
    let i = 0;
    const timer = setInterval(() => !c.closed && c.write(`X-${i++}: a\r\n`), 50);
    try {
      await c.waitClosed(3000);
    } finally {
      clearInterval(timer);
    }
    expect(c.text()).toMatch(/^HTTP\/1\.1 408 /);
    expect(up.seen("/trickle")).toHaveLength(0);
  });

  it("a slow request body and a slow upstream answer are not cut by headersTimeoutMs", async () => {
    up.handler = (req, socket) => {
      if (req.target === "/slow-both") setTimeout(() => echoHandler(req, socket), 700);
      else echoHandler(req, socket);
    };
    const c = await connect(dsc);
    c.write("POST /slow-both HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nfirst");
    await sleep(700);
    c.write("-last");
    expect((await c.response("POST")).raw).toBe(ok("POST /slow-both first-last"));
    // A request pipelined behind the slow answer gets its own full headersTimeoutMs once its turn comes.
    c.write(get("/behind-slow"));
    expect((await c.response()).raw).toBe(ok("GET /behind-slow "));
  });

  it("an idle keep-alive connection is not closed before the keep-alive timeout (still usable after 1 s, > 3× headersTimeoutMs)", async () => {
    const c = await connect(dsc);
    c.write(get("/before-idle"));
    expect((await c.response()).raw).toBe(ok("GET /before-idle "));
    await sleep(1000);
    expect(c.closed).toBe(false);
    c.write(get("/after-idle"));
    expect((await c.response()).raw).toBe(ok("GET /after-idle "));
  });
});

describe("client aborts", () => {
  it("a client that half-closes right after its request to a slow upstream: 499 in the access log, the upstream connection closed", async () => {
    const conns = upConnsSince();
    up.handler = (req, socket) => {
      const t = setTimeout(() => !socket.destroyed && echoHandler(req, socket), 2000);
      t.unref();
    };
    const c = await connect();
    c.write(get("/slow-answer"));
    await eventually(() => up.seen("/slow-answer").length === 1, 2000, "the request to reach the upstream");
    c.socket.end();
    await eventually(() => accessLines(sc, "/slow-answer").length === 1, 2000, "the access log line");
    expect(accessLines(sc, "/slow-answer")[0]).toMatchObject({ status: 499, error: "client_aborted" });
    expect(conns()).toHaveLength(1);
    await eventually(() => conns()[0]?.closed === true, 1500, "the upstream connection to be closed by the sidecar");
    await c.waitClosed();
    expect(c.received).toBe(0);
  });
});

describe("hop-by-hop hygiene", () => {
  it("response: Connection and the fields it names, Keep-Alive and Proxy-Connection are dropped; end-to-end fields pass in order", async () => {
    up.handler = (_req, socket) =>
      socket.write(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: x-private, keep-alive\r\nKeep-Alive: timeout=5\r\n" +
          "Set-Cookie: a=1; Path=/\r\nX-Private: 1\r\nProxy-Connection: x\r\nSet-Cookie: b=2; Path=/\r\nX-End: e\r\nContent-Length: 2\r\n\r\nok",
      );
    const c = await connect();
    c.write(get("/hop"));
    expect((await c.response()).raw).toBe(
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nSet-Cookie: a=1; Path=/\r\nSet-Cookie: b=2; Path=/\r\nX-End: e\r\nContent-Length: 2\r\n\r\nok",
    );
  });

  it("request: Connection and the fields it names, Keep-Alive, Proxy-Connection, TE and Upgrade never reach the upstream", async () => {
    const c = await connect();
    c.write(
      get(
        "/hop-req",
        "Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: 300\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\nUpgrade: h2c\r\nX-End: e\r\n",
      ),
    );
    expect((await c.response()).status).toBe(200);
    const seen = up.seen("/hop-req")[0];
    for (const name of ["connection", "x-hop", "keep-alive", "proxy-connection", "te", "upgrade"])
      expect(seen?.headers[name], name).toBeUndefined();
    expect(seen?.headers["x-end"]).toBe("e");
    expect(seen?.headers.host).toBe("sidecar.test");
  });
});

describe("metrics and access log", () => {
  it("N exchanges on one connection (sequential and pipelined) make exactly N request metrics and N access-log lines", async () => {
    const msc = await startTestSidecar({ "--upstream": hup.url });
    try {
      const before = await msc.metric("openclaw_sidecar_http_requests_total");
      const c = await connect(msc);
      const urls: string[] = [];
      for (let i = 0; i < 6; i++) {
        const method = ["GET", "HEAD", "POST"][i % 3] as string;
        urls.push(`/n/${i}`);
        c.write(
          `${method} /n/${i} HTTP/1.1\r\nHost: x\r\n${method === "POST" ? "Content-Length: 3\r\n\r\nabc" : "\r\n"}`,
        );
        expect((await c.response(method)).status).toBe(200);
      }
      c.write([6, 7, 8, 9].map((i) => get(`/n/${i}`)).join(""));
      for (const i of [6, 7, 8, 9]) {
        urls.push(`/n/${i}`);
        expect((await c.response()).body.toString()).toBe(`GET /n/${i} HTTP/1.1 `);
      }
      expect(await msc.metric("openclaw_sidecar_http_requests_total")).toBe(before + 10);
      expect(await msc.metric("openclaw_sidecar_http_requests_total", { method: "POST", status_class: "2xx" })).toBe(2);
      const lines = msc.logs.filter((l) => l.kind === "http");
      expect(lines.map((l) => l.url)).toEqual(urls);
      expect(lines.every((l) => l.status === 200 && l.error === undefined)).toBe(true);
    } finally {
      await msc.close();
    }
  });
});

describe("large bodies", () => {
  it("an 8 MiB upload with Content-Length reaches the upstream intact", async () => {
    const c = await connect(hsc);
    c.write(`POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: ${BIG.length}\r\n\r\n`);
    c.write(BIG);
    const res = await c.response("POST", 15_000);
    expect(JSON.parse(res.body.toString())).toEqual({ bytes: BIG.length, sha256: BIG_SHA });
    // The connection is still good after such a body.
    c.write(get("/after-upload"));
    expect((await c.response()).body.toString()).toBe("GET /after-upload HTTP/1.1 ");
  });

  it("an 8 MiB chunked upload reaches the upstream intact", async () => {
    const c = await connect(hsc);
    c.write("POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (let at = 0; at < BIG.length; at += 100_000) {
      const slice = BIG.subarray(at, at + 100_000);
      c.write(`${slice.length.toString(16)}\r\n`);
      c.write(slice);
      c.write("\r\n");
    }
    c.write("0\r\n\r\n");
    const res = await c.response("POST", 15_000);
    expect(JSON.parse(res.body.toString())).toEqual({ bytes: BIG.length, sha256: BIG_SHA });
  });

  it("an 8 MiB streamed (chunked) response reaches a slowly reading client intact", async () => {
    const socket = net.connect(hsc.sidecar.proxyAddress.port, "127.0.0.1");
    const chunks: Buffer[] = [];
    let sinceBreak = 0;
    const done = new Promise<void>((resolve, reject) => {
      socket.on("error", reject);
      socket.on("close", () => resolve());
    });
    socket.on("data", (d: Buffer) => {
      chunks.push(d);
      sinceBreak += d.length;
      if (sinceBreak > 1 << 20) {
        // A slow reader: a break every MiB.
        sinceBreak = 0;
        socket.pause();
        setTimeout(() => socket.resume(), 20);
      }
    });
    socket.write(get("/download", "Connection: close\r\n"));
    socket.pause();
    await sleep(200);
    socket.resume();
    await done;
    const parsed = parseResponse(Buffer.concat(chunks), "GET", true);
    expect(parsed?.res.status).toBe(200);
    expect(parsed?.res.header("transfer-encoding")).toBe("chunked");
    expect(parsed?.res.body.length).toBe(BIG.length);
    expect(sha256(parsed?.res.body ?? Buffer.alloc(0))).toBe(BIG_SHA);
  });

  it("a client that stops reading holds the upstream back (64 MiB are not buffered in the sidecar), and gets every byte when it resumes", async () => {
    const socket = net.connect(hsc.sidecar.proxyAddress.port, "127.0.0.1");
    socket.on("error", () => undefined);
    const hash = createHash("sha256");
    const expected = createHash("sha256");
    for (let i = 0; i < FLOOD_MIB; i++) expected.update(MIB);
    let head: Buffer | undefined = Buffer.alloc(0);
    let bodyBytes = 0;
    socket.on("data", (d: Buffer) => {
      if (head !== undefined) {
        head = Buffer.concat([head, d]);
        const end = head.indexOf("\r\n\r\n");
        if (end === -1) return;
        d = head.subarray(end + 4);
        head = undefined;
      }
      bodyBytes += d.length;
      hash.update(d);
    });
    const closed = new Promise<void>((r) => socket.on("close", () => r()));
    socket.write(get("/flood", "Connection: close\r\n"));
    socket.pause();
    await sleep(600);
    // Kernel buffers on the two loopback hops hold a few MiB at most; the rest must still be waiting at the upstream.
    expect(hup.floodFinished).toBe(false);
    socket.resume();
    await closed;
    expect(bodyBytes).toBe(FLOOD_MIB << 20);
    expect(hash.digest("hex")).toBe(expected.digest("hex"));
    expect(hup.floodFinished).toBe(true);
  });

  it("an upstream that stops reading holds a large upload back at the client", async () => {
    let paused: http.IncomingMessage | undefined;
    const slow = http.createServer((req, res) => {
      paused = req;
      req.pause();
      let n = 0;
      req.on("data", (c: Buffer) => (n += c.length));
      req.on("end", () => res.end(String(n)));
    });
    await new Promise<void>((r) => slow.listen(0, "127.0.0.1", r));
    const ssc = await startTestSidecar({ "--upstream": `http://127.0.0.1:${(slow.address() as AddressInfo).port}` });
    try {
      const c = await connect(ssc);
      const total = 64 << 20;
      c.write(`POST /slow-reader HTTP/1.1\r\nHost: x\r\nContent-Length: ${total}\r\n\r\n`);
      for (let i = 0; i < FLOOD_MIB; i++) c.write(MIB);
      await eventually(() => paused !== undefined, 2000, "the upstream to receive the request");
      await sleep(600);
      // Most of the 64 MiB is still queued in the client: the sidecar stopped reading.
      expect(c.socket.writableLength).toBeGreaterThan(16 << 20);
      paused?.resume();
      const res = await c.response("POST", 15_000);
      expect(res.body.toString()).toBe(String(total));
    } finally {
      await ssc.close();
      slow.closeAllConnections();
      slow.close();
    }
  });
});

describe("the Date header (RFC 9110 §6.6.1)", () => {
  it("is added to a forwarded response that has none, kept when the gateway sent one, and on the sidecar's own answers", async () => {
    const gatewayDate = "Tue, 01 Jan 2030 00:00:00 GMT";
    up.handler = (req, socket) => {
      if (req.target === "/dated")
        socket.write(`HTTP/1.1 200 OK\r\nDate: ${gatewayDate}\r\nContent-Length: 2\r\n\r\nok`);
      else if (req.target === "/broken") socket.write("HTTP/1.1 2000 What\r\n\r\n");
      else socket.write(ok("undated"));
    };
    const c = await connect();
    const httpDate = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/;
    c.write(get("/undated"));
    const undated = await c.response();
    expect(undated.date).toMatch(httpDate);
    expect(Math.abs(Date.parse(undated.date as string) - Date.now())).toBeLessThan(5000);
    expect(undated.raw, "exactly one Date line").not.toMatch(/\r\ndate:/i);
    c.write(get("/dated"));
    const dated = await c.response();
    expect(dated.date).toBe(gatewayDate);
    expect(dated.raw, "exactly one Date line").not.toMatch(/\r\ndate:/i);
    c.write(get("/broken"));
    const refused = await c.response();
    expect(refused.status).toBe(502);
    expect(refused.date).toMatch(httpDate);
  });
});
