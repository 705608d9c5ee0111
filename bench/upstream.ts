// The one upstream every contestant forwards to, in its own process so it never shares an event loop with a proxy or
// a load generator: GET /1k and /1m (fixed bodies), POST /echo (the body streamed back), a WebSocket echo on any
// path, and every other GET is the Control UI from the pinned openclaw package, with the headers the gateway sends
// (see controlUi below). Started by run.ts with an IPC channel; it reports its port, and exits when the channel
// closes (parent gone).
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { brotliCompressSync, constants as zlib } from "node:zlib";
import { WebSocketServer } from "ws";
import { CONTROL_UI_ROOT, controlUiAvailable } from "./control-ui.ts";

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
    res.writeHead(200, {
      "content-type": "application/octet-stream",
      ...(length !== undefined ? { "content-length": length } : {}),
    });
    req.pipe(res);
    return;
  }
  if ((req.method === "GET" || req.method === "HEAD") && controlUiAvailable() && controlUi(req, res)) return;
  res.writeHead(404, { "content-length": 0 });
  res.end();
});

// The Control UI as the gateway serves it (openclaw dist/control-ui-*.mjs: classifyControlUiRequest,
// serveControlUiAsset, serveResolvedIndexHtml, applyControlUiSecurityHeaders). Every response carries the security
// headers; fingerprinted files under assets/ are immutable and sent as their precompressed .br (or .gz) when the
// client accepts it and the type is compressible; other files are no-cache with Last-Modified; index.html gets a CSP
// with the hashes of its inline scripts and is compressed on the fly with brotli quality 4 (the gateway caches that
// result, so we compress once). Files are read once and kept in memory, as the OS page cache would have them.
const COMPRESSIBLE = new Set([".css", ".html", ".js", ".json", ".svg", ".txt", ".wasm", ".webmanifest"]);
const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "application/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".webp": "image/webp",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
  ".webmanifest": "application/manifest+json; charset=utf-8",
  ".woff2": "font/woff2",
};
function csp(scriptHashes: string[], host: string | undefined): string {
  const connect = ["'self'", "ws:", "wss:", "data:", "https://api.openai.com", "https://tweakcn.com"];
  if (host) {
    const hostname = new URL(`http://${host}`).hostname;
    connect.push(`http://${hostname}:*`, `https://${hostname}:*`);
  }
  return [
    "default-src 'self'",
    "base-uri 'none'",
    "object-src 'none'",
    "frame-ancestors 'none'",
    "frame-src 'self' http: https:",
    `script-src ${["'self'", ...scriptHashes.map((h) => `'${h}'`)].join(" ")}`,
    "style-src 'self' 'unsafe-inline' https://fonts.googleapis.com",
    "img-src 'self' data: blob: https:",
    "media-src 'self' data: blob:",
    "font-src 'self' https://fonts.gstatic.com",
    "worker-src 'self'",
    `connect-src ${connect.join(" ")}`,
  ].join("; ");
}
const SECURITY: Record<string, string> = {
  "X-Frame-Options": "DENY",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "Permissions-Policy": "camera=(self), microphone=*, geolocation=*, clipboard-write=*",
};
const files = new Map<string, Buffer | null>();
function file(rel: string): Buffer | null {
  let body = files.get(rel);
  if (body === undefined) {
    const p = path.join(CONTROL_UI_ROOT, rel);
    body = p.startsWith(`${CONTROL_UI_ROOT}/`) && existsSync(p) && statSync(p).isFile() ? readFileSync(p) : null;
    files.set(rel, body);
  }
  return body;
}
const modified = new Map<string, string>();
function lastModified(rel: string): string {
  let text = modified.get(rel);
  if (text === undefined) {
    text = new Date(Math.floor(statSync(path.join(CONTROL_UI_ROOT, rel)).mtimeMs / 1000) * 1000).toUTCString();
    modified.set(rel, text);
  }
  return text;
}
let index: { html: string; br: Buffer; hashes: string[] } | undefined;
function indexHtml(): NonNullable<typeof index> {
  if (index) return index;
  const html = (file("index.html") as Buffer)
    .toString("utf8")
    .replaceAll('src="./assets/', 'src="/assets/')
    .replaceAll('href="./assets/', 'href="/assets/')
    .replace("<html", '<html data-openclaw-control-ui-base-path="" data-openclaw-control-ui-terminal-enabled="false"');
  const hashes = [...html.matchAll(/<script(?:\s[^>]*)?>([^]*?)<\/script>/gi)]
    .filter((m) => !/\ssrc=/.test((m[0] as string).slice(0, (m[0] as string).indexOf(">"))) && m[1])
    .map(
      (m) =>
        `sha256-${createHash("sha256")
          .update(m[1] as string)
          .digest("base64")}`,
    );
  index = { html, br: brotliCompressSync(Buffer.from(html), { params: { [zlib.BROTLI_PARAM_QUALITY]: 4 } }), hashes };
  return index;
}
function acceptsBr(req: http.IncomingMessage): boolean {
  return /(?:^|,)\s*br\s*(?:,|;(?!\s*q=0(?:\.0*)?\s*(?:,|$))|$)/.test(req.headers["accept-encoding"] ?? "");
}
function controlUi(req: http.IncomingMessage, res: http.ServerResponse): boolean {
  const pathname = (req.url ?? "/").split("?")[0] as string;
  for (const [k, v] of Object.entries(SECURITY)) res.setHeader(k, v);
  if (pathname === "/") {
    const idx = indexHtml();
    const br = acceptsBr(req);
    res.setHeader("Content-Security-Policy", csp(idx.hashes, req.headers.host));
    res.setHeader("Content-Type", TYPES[".html"] as string);
    res.setHeader("Cache-Control", "no-cache");
    res.setHeader("Vary", "Accept-Encoding");
    if (br) res.setHeader("Content-Encoding", "br");
    res.end(req.method === "HEAD" ? undefined : br ? idx.br : idx.html);
    return true;
  }
  const rel = decodeURIComponent(pathname.slice(1));
  if (rel.includes("..") || rel.endsWith(".br") || rel.endsWith(".gz")) return false;
  const source = file(rel);
  if (source === null) return false;
  const ext = path.extname(rel).toLowerCase();
  const fingerprinted = rel.startsWith("assets/");
  let body = source;
  let encoding: string | undefined;
  if (fingerprinted && COMPRESSIBLE.has(ext)) {
    const accept = req.headers["accept-encoding"] ?? "";
    const br = acceptsBr(req) ? file(`${rel}.br`) : null;
    const gz = br === null && /\bgzip\b/.test(accept) ? file(`${rel}.gz`) : null;
    if (br !== null) [body, encoding] = [br, "br"];
    else if (gz !== null) [body, encoding] = [gz, "gzip"];
  }
  res.setHeader("Content-Security-Policy", csp([], undefined));
  res.setHeader("Content-Type", TYPES[ext] ?? "application/octet-stream");
  res.setHeader("Cache-Control", fingerprinted ? "public, max-age=31536000, immutable" : "no-cache");
  res.setHeader("Last-Modified", lastModified(rel));
  res.setHeader("Vary", "Accept-Encoding");
  if (encoding !== undefined && COMPRESSIBLE.has(ext)) res.setHeader("Content-Encoding", encoding);
  res.setHeader("Content-Length", body.length);
  res.end(req.method === "HEAD" ? undefined : body);
  return true;
}
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
