// A reference contestant, not a product: the least a Node proxy can do — node:http server, one keep-alive
// http.Agent, request and response piped, no header rewriting, no logs, no metrics; WebSockets relayed by a raw
// net.connect and two pipes. Its CPU per op is the floor the sidecar is compared with: what the sidecar spends above
// it is the sidecar's own code, what it spends at it is node:http and the kernel.
// Usage (run.ts does this with --floor): node bench/node-floor.ts <listenPort> <upstreamPort>
import http from "node:http";
import net from "node:net";

const [listenPort, upstreamPort] = process.argv.slice(2).map(Number);
const agent = new http.Agent({ keepAlive: true, maxFreeSockets: 256, scheduling: "lifo" });

const server = http.createServer({ keepAliveTimeout: 65_000, requestTimeout: 0 }, (req, res) => {
  const proxyReq = http.request(
    { host: "127.0.0.1", port: upstreamPort, method: req.method, path: req.url, headers: req.headers, agent },
    (proxyRes) => {
      res.writeHead(proxyRes.statusCode ?? 502, proxyRes.headers);
      proxyRes.pipe(res);
    },
  );
  proxyReq.on("error", () => res.destroy());
  req.pipe(proxyReq);
});

server.on("upgrade", (req, socket, head) => {
  const upstream = net.connect(upstreamPort as number, "127.0.0.1");
  const lines = [`${req.method} ${req.url} HTTP/1.1`];
  for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
  upstream.write(`${lines.join("\r\n")}\r\n\r\n`);
  if (head.length) upstream.write(head);
  // The upstream's 101 and everything after it pass through untouched.
  upstream.pipe(socket).pipe(upstream);
  upstream.on("error", () => socket.destroy());
  socket.on("error", () => upstream.destroy());
  upstream.on("close", () => socket.destroy());
  socket.on("close", () => upstream.destroy());
});

server.listen({ host: "127.0.0.1", port: listenPort, backlog: 4096 });
