// An upstream that parses with Node's llhttp — the parser the real gateway uses — and records every request it parses,
// exactly as parsed: raw header lines, body bytes, trailers, and for upgrades every byte that arrived in the tunnel.
// It is the witness of the security tests and of the end-to-end fuzzer: whatever it records is what a gateway behind
// the sidecar would have acted on. Never instead of the real gateway where that one can run (test/gateway/).
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";

export interface Parsed {
  /** Order of parsing across the whole upstream (0, 1, 2 …). */
  seq: number;
  /** Which upstream TCP connection it came on. */
  connection: number;
  method: string;
  url: string;
  /** Header lines as llhttp delivered them: [name, value, name, value …]. */
  rawHeaders: string[];
  headers: http.IncomingHttpHeaders;
  /** The body as llhttp decoded it (chunked framing removed); complete only when `complete`. */
  body: Buffer;
  rawTrailers: string[];
  /** llhttp saw the end of the message. */
  complete: boolean;
  upgrade: boolean;
  /** Upgrades only: bytes received after the 101. */
  tunnel: Buffer;
}

export interface RecordingUpstream {
  url: string;
  port: number;
  parsed: Parsed[];
  /** Headers named `name` (any case) in one parsed request, in order. */
  values(p: Parsed, name: string): string[];
  close(): Promise<void>;
}

export interface RecordingOptions {
  /** Delay before answering an upgrade with 101 (to test bytes a client sends before it). */
  upgradeDelayMs?: number;
  /** Response body size for ordinary requests (bytes). */
  responseBytes?: number;
}

export async function startRecordingUpstream(opts: RecordingOptions = {}): Promise<RecordingUpstream> {
  const parsed: Parsed[] = [];
  let seq = 0;
  let connections = 0;
  const connectionIds = new WeakMap<Socket, number>();
  const sockets = new Set<Socket>();
  const body = Buffer.alloc(opts.responseBytes ?? 2, 0x61);
  // Lenient only where Node itself is by default; keep-alive long enough that it never closes under a test.
  const server = http.createServer({ keepAliveTimeout: 60_000, requestTimeout: 0, headersTimeout: 60_000 });
  server.on("connection", (socket: Socket) => {
    connectionIds.set(socket, connections++);
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  const record = (req: http.IncomingMessage, upgrade: boolean): Parsed => {
    const p: Parsed = {
      seq: seq++,
      connection: connectionIds.get(req.socket) ?? -1,
      method: req.method ?? "",
      url: req.url ?? "",
      rawHeaders: req.rawHeaders,
      headers: req.headers,
      body: Buffer.alloc(0),
      rawTrailers: [],
      complete: false,
      upgrade,
      tunnel: Buffer.alloc(0),
    };
    parsed.push(p);
    return p;
  };
  server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    const p = record(req, false);
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      p.body = Buffer.concat(chunks);
      p.rawTrailers = req.rawTrailers;
      p.complete = true;
      res.writeHead(200, { "content-type": "text/plain", "x-upstream-seq": String(p.seq) }).end(body);
    });
    req.on("error", () => {});
    res.on("error", () => {});
  });
  server.on("upgrade", (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
    const p = record(req, true);
    p.complete = true;
    p.tunnel = Buffer.from(head);
    socket.on("data", (c: Buffer) => (p.tunnel = Buffer.concat([p.tunnel, c])));
    socket.on("error", () => socket.destroy());
    socket.on("end", () => socket.end());
    const answer = () => {
      if (socket.destroyed) return;
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\nx-upstream-seq: ${p.seq}\r\n\r\n`,
      );
    };
    if (opts.upgradeDelayMs) setTimeout(answer, opts.upgradeDelayMs);
    else answer();
  });
  server.on("clientError", (_err, socket: Socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    parsed,
    values(p, name) {
      const out: string[] = [];
      for (let i = 0; i < p.rawHeaders.length; i += 2)
        if ((p.rawHeaders[i] as string).toLowerCase() === name) out.push(p.rawHeaders[i + 1] as string);
      return out;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
