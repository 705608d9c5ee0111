// The client side of the parity suite: one HTTPS request or one WebSocket, sent the same way to nginx and to the
// sidecar. Both terminate TLS with the same test certificate, so one CA file trusts both.
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import https from "node:https";
import { WebSocket } from "ws";

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface RequestSpec {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  /** One buffer: sent with Content-Length. Several: sent chunked, one write each (Node omits Content-Length). */
  body?: Buffer | Buffer[];
}

export function httpsRequest(port: number, ca: Buffer, spec: RequestSpec): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { host: "openclaw.example.com", ...spec.headers };
    if (Buffer.isBuffer(spec.body)) headers["content-length"] = String(spec.body.length);
    // A keep-alive agent, as browsers: the client sends "Connection: keep-alive", not Node's agent-less "close".
    const agent = new https.Agent({ keepAlive: true });
    // servername: the certificate names localhost; without it Node would check it against the Host header.
    const req = https.request(
      {
        host: "127.0.0.1",
        port,
        method: spec.method ?? "GET",
        path: spec.path,
        headers,
        ca,
        servername: "localhost",
        agent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          agent.destroy();
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
        });
        res.on("error", reject);
      },
    );
    req.on("error", (err) => {
      agent.destroy();
      reject(err);
    });
    req.setTimeout(5000, () => req.destroy(new Error(`${spec.method ?? "GET"} ${spec.path}: no response within 5 s`)));
    if (Array.isArray(spec.body)) writeChunks(req, spec.body);
    else req.end(spec.body);
  });
}

/** Each chunk in its own write, a tick apart, so they leave as separate chunks of a chunked body. */
function writeChunks(req: import("node:http").ClientRequest, chunks: Buffer[]): void {
  const next = (i: number): void => {
    if (i >= chunks.length) {
      req.end();
      return;
    }
    req.write(chunks[i], () => setTimeout(() => next(i + 1), 2));
  };
  next(0);
}

export interface Message {
  data: Buffer;
  isBinary: boolean;
}

export interface OpenWebSocket {
  ws: WebSocket;
  /** The 101 response as the client received it. */
  upgrade: IncomingMessage;
  next(ms?: number): Promise<Message>;
  /** Resolves with the close code and reason the client saw (1006 and "" when the TCP stream just ended). */
  closed: Promise<{ code: number; reason: string }>;
}

export function openWebSocket(
  port: number,
  ca: Buffer,
  path: string,
  protocol: string,
  headers: Record<string, string> = {},
): Promise<OpenWebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`wss://127.0.0.1:${port}${path}`, protocol, { ca, headers, handshakeTimeout: 5000 });
    const queue: Message[] = [];
    const waiting: Array<(m: Message) => void> = [];
    ws.on("message", (data: Buffer, isBinary) => {
      const m = { data, isBinary };
      const waiter = waiting.shift();
      if (waiter) waiter(m);
      else queue.push(m);
    });
    const closed = new Promise<{ code: number; reason: string }>((r) =>
      ws.once("close", (code, reason) => r({ code, reason: reason.toString() })),
    );
    ws.once("upgrade", (upgrade) => {
      ws.once("open", () =>
        resolve({
          ws,
          upgrade,
          closed,
          next(ms = 3000) {
            const queued = queue.shift();
            if (queued) return Promise.resolve(queued);
            return new Promise((res, rej) => {
              const timer = setTimeout(() => rej(new Error(`no WebSocket message within ${ms} ms`)), ms);
              waiting.push((m) => {
                clearTimeout(timer);
                res(m);
              });
            });
          },
        }),
      );
    });
    ws.on("error", reject); // after open a no-op: the close event carries the outcome
  });
}
