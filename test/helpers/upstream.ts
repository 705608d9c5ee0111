// A fake gateway for fast loopback tests (never instead of the real one): it reflects what it received, so header
// hygiene is one expect, streams on request, and speaks WebSocket with the close codes the real gateway uses.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer, type WebSocket } from "ws";

export interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  peer: string;
}

export interface FakeGateway {
  url: string;
  port: number;
  /** Every request and upgrade request seen, in order. */
  received: Received[];
  /** Open server-side WebSockets. */
  sockets: Set<WebSocket>;
  close(): Promise<void>;
}

/** 2026.9.6's close reason for a paired device asking for the node role, as it arrives: cut to 120 bytes. */
export const ROLE_UPGRADE_CLOSE =
  "pairing required: device is asking for a higher role than currently approved (requestId: c7157971-6778-4fed-9495-2dc6479";

/**
 * Routes:
 *   any HTTP         → 200 JSON {method,url,headers,body}
 *   /stream?n=K      → K chunks of 64 KiB, flushed one by one (streaming responses)
 *   /upload          → reads the body as a stream, answers {bytes, sha256-ish sum}
 *   /slow            → never answers (upstream timeout)
 *   WS /echo (any)   → echoes every message; text "close:<code>:<reason>" makes the server close with that code
 *   WS /close-1008   → closes at once with 1008 "pairing required: device is not approved yet (requestId: x)"
 *   WS /close-1008-cut → the same with the gateway's role-upgrade reason, whose request id the gateway cuts (120 bytes)
 *   WS /refuse-403   → the real gateway's 403 proxy_attribution_required answer to the upgrade
 */
export async function startFakeGateway(listenPort = 0): Promise<FakeGateway> {
  const received: Received[] = [];
  const sockets = new Set<WebSocket>();
  const server = http.createServer((req, res) => {
    if (req.url?.startsWith("/slow")) return;
    if (req.url?.startsWith("/stream")) {
      const n = Number(new URL(req.url, "http://x").searchParams.get("n") ?? "4");
      res.writeHead(200, { "content-type": "application/octet-stream" });
      let i = 0;
      const chunk = Buffer.alloc(65536, 0x61);
      const next = () => {
        if (i++ >= n) return res.end();
        res.write(chunk, () => setTimeout(next, 5));
      };
      next();
      return;
    }
    const chunks: Buffer[] = [];
    let bytes = 0;
    req.on("data", (c: Buffer) => {
      bytes += c.length;
      if (!req.url?.startsWith("/upload")) chunks.push(c);
    });
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString();
      received.push({
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        body,
        peer: req.socket.remoteAddress ?? "",
      });
      const text = JSON.stringify(
        req.url?.startsWith("/upload") ? { bytes } : { method: req.method, url: req.url, headers: req.headers, body },
      );
      res.writeHead(200, { "content-type": "application/json", "x-upstream": "fake" }).end(text);
    });
  });
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: true });
  server.on("upgrade", (req, socket, head) => {
    received.push({
      method: req.method ?? "",
      url: req.url ?? "",
      headers: req.headers,
      body: "",
      peer: req.socket.remoteAddress ?? "",
    });
    if (req.url?.startsWith("/refuse-403")) {
      const body = JSON.stringify({
        error: { message: "Proxy client attribution is required.", type: "proxy_attribution_required" },
      });
      socket.end(
        `HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
      );
      return;
    }
    if (req.url?.startsWith("/hang")) {
      // Accepts TCP, never answers the upgrade; lets go once the proxy gives up (upgraded sockets are half-open).
      socket.on("end", () => socket.destroy());
      socket.on("error", () => socket.destroy());
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.add(ws);
      ws.on("close", () => sockets.delete(ws));
      ws.on("error", () => {});
      if (req.url?.startsWith("/flood")) {
        // Sends 1 MiB messages for as long as the connection lives, keeping up to 256 MiB queued in this process:
        // what piles up here instead of in the proxy shows the proxy applying backpressure.
        const chunk = Buffer.alloc(1 << 20, 0x42);
        const pump = () => {
          if (ws.readyState !== ws.OPEN) return;
          while (ws.bufferedAmount < 256 << 20) ws.send(chunk);
          setTimeout(pump, 10);
        };
        pump();
        return;
      }
      if (req.url?.startsWith("/close-1008-cut")) {
        // The real gateway's role-upgrade close (2026.9.6), cut to 120 bytes in the middle of the request id.
        ws.close(1008, ROLE_UPGRADE_CLOSE);
        return;
      }
      if (req.url?.startsWith("/close-1008")) {
        ws.close(1008, "pairing required: device is not approved yet (requestId: 0000)");
        return;
      }
      ws.send(
        JSON.stringify({
          type: "event",
          event: "connect.challenge",
          protocol: req.headers["sec-websocket-protocol"] ?? null,
        }),
      );
      ws.on("message", (data, isBinary) => {
        const text = isBinary ? "" : data.toString();
        const m = /^close:(\d+):(.*)$/.exec(text);
        if (m) ws.close(Number(m[1]), m[2]);
        else ws.send(data, { binary: isBinary });
      });
    });
  });
  // Every raw connection, upgraded ones included (closeAllConnections does not know those).
  const connections = new Set<import("node:net").Socket>();
  server.on("connection", (socket) => {
    connections.add(socket);
    socket.once("close", () => connections.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(listenPort, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    received,
    sockets,
    async close() {
      for (const ws of sockets) ws.terminate();
      wss.close();
      server.closeAllConnections();
      for (const socket of connections) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
