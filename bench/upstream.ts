// The one upstream every contestant forwards to, in its own process so it never shares an event loop with a proxy or
// a load generator: GET /1k and /1m (fixed bodies), POST /echo (the body streamed back), and a WebSocket echo on any
// path. Started by run.ts with an IPC channel; it reports its port, and exits when the channel closes (parent gone).
import http from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer } from "ws";

const BODY_1K = Buffer.alloc(1024, "a");
const BODY_1M = Buffer.alloc(1024 * 1024, "b");

const server = http.createServer({ keepAliveTimeout: 120_000, requestTimeout: 0 }, (req, res) => {
  if (req.method === "GET" && (req.url === "/1k" || req.url === "/1m")) {
    const body = req.url === "/1k" ? BODY_1K : BODY_1M;
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": body.length });
    res.end(body);
    return;
  }
  if (req.method === "POST" && req.url === "/echo") {
    const length = req.headers["content-length"];
    res.writeHead(200, { "content-type": "application/octet-stream", ...(length !== undefined ? { "content-length": length } : {}) });
    req.pipe(res);
    return;
  }
  res.writeHead(404, { "content-length": 0 });
  res.end();
});
// Keep-alive to every proxy for as long as it wants (nginx as hand-written closes after each request anyway).
server.maxRequestsPerSocket = 0;

const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 1024 * 1024 });
wss.on("connection", (ws) => {
  ws.on("message", (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
  ws.on("error", () => ws.terminate());
});

server.listen({ host: "127.0.0.1", port: 0, backlog: 4096 }, () => {
  process.send?.({ port: (server.address() as AddressInfo).port });
});
process.on("disconnect", () => process.exit(0));
