// Parity with real nginx: Debian's nginx runs nginx-compat/reference.nginx.conf (rewritten only in ports, paths and
// certificates: parity/reference.ts), the sidecar runs what `import-nginx` made of the same file, and both sit in front
// of the SAME fake gateway, which records what it received. The same request goes through each; what the gateway saw
// must match, except for the differences listed in DOCUMENTED below, each of which has a test asserting both sides.
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestCa } from "../test/helpers/certs.ts";
import { describeTier } from "../test/helpers/tier.ts";
import { type FakeGateway, type Received, startFakeGateway } from "../test/helpers/upstream.ts";
import { type RequestSpec, type Reply, httpsRequest, openWebSocket } from "./parity/clients.ts";
import { NGINX, type RunningNginx, startNginx } from "./parity/nginx.ts";
import { knowsHttp2Directive, placeReference, replaceLine } from "./parity/reference.ts";
import { type ImportedSidecar, startImportedSidecar } from "./parity/sidecar.ts";
import { importNginx } from "./import.ts";

const REFERENCE = path.join(import.meta.dirname, "reference.nginx.conf");
const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** Request headers the gateway receives differently through the two, on purpose; each is asserted below. */
const DOCUMENTED = [
  "x-forwarded-for", // nginx appends to the client's chain; the sidecar overwrites it with the real peer
  "x-real-ip", // nginx sets it; the sidecar strips it (the gateway counts it as proxy evidence)
  "forwarded",
  "x-forwarded-user", // nginx passes what the client sent; the sidecar strips it
  "x-forwarded-host", // nginx passes the client's; the sidecar sets it to the Host it received
  "host", // nginx's $host: lower-cased, port dropped; the sidecar keeps Host as sent
  "connection", // the reference's map sends "close" on plain requests; the sidecar keeps upstream connections alive
  "content-length",
  "transfer-encoding", // nginx buffers a chunked upload and sends Content-Length; the sidecar streams it
];

const missing: string[] = [];
if (!existsSync(NGINX)) missing.push(`${NGINX} is missing: install the Debian package nginx-light`);
if (!existsSync("/usr/bin/openssl"))
  missing.push("openssl is missing (test certificates): install the Debian package openssl");

interface Observed {
  reply: Reply;
  seen: Received;
}

// Without nginx: the rewrite of the reference changes only what it must, and fails loudly when the reference moves.
describe("nginx parity: the reference rewrite", () => {
  const reference = readFileSync(REFERENCE, "utf8");
  const placement = {
    port: 40001,
    redirectPort: 40002,
    upstreamPort: 40003,
    prefix: "/tmp/p",
    cert: "/tmp/c.pem",
    key: "/tmp/k.pem",
    http2Directive: false,
  };

  it("moves listeners to loopback, the upstream to the fake gateway, files into the prefix; keeps every proxy directive", () => {
    const placed = placeReference(reference, placement);
    const directives = placed
      .split("\n")
      .filter((l) => !l.trim().startsWith("#"))
      .join("\n");
    expect(directives).not.toMatch(
      /\/var\/|\/etc\/nginx\/certs|openclaw-gateway|\[::\]|listen 80;|listen 443|http2 on/,
    );
    expect(placed.match(/^\s*listen .*$/gm)?.map((l) => l.trim())).toEqual([
      "listen 127.0.0.1:40002;",
      "listen 127.0.0.1:40001 ssl;",
    ]);
    const proxyLines = (text: string) =>
      text.split("\n").filter((l) => /^\s*(proxy_(?!temp_path)|map|add_header|return|location|client_max)/.test(l));
    expect(proxyLines(placed)).toEqual(proxyLines(reference));
    expect(placeReference(reference, { ...placement, http2Directive: true })).toMatch(/^\s*http2 on;$/m);
    expect(placeReference(reference, { ...placement, proxyReadTimeout: "2s" })).toMatch(/^\s*proxy_read_timeout 2s;$/m);
  });

  it("refuses to guess when a line to rewrite is missing or repeated", () => {
    expect(() => replaceLine("listen 80;\nlisten 80;", "listen 80;", "x")).toThrow(
      /exactly one line "listen 80;", found 2/,
    );
    expect(() => replaceLine("", "listen 80;", "x")).toThrow(/found 0/);
  });

  it("keeps `http2 on;` only for nginx 1.25.1 and later (Debian bookworm's 1.22.1 rejects it)", () => {
    expect(knowsHttp2Directive("nginx version: nginx/1.22.1")).toBe(false);
    expect(knowsHttp2Directive("nginx version: nginx/1.25.0")).toBe(false);
    expect(knowsHttp2Directive("nginx version: nginx/1.25.1")).toBe(true);
    expect(knowsHttp2Directive("nginx version: nginx/1.26.3")).toBe(true);
  });
});

describeTier("nginx parity", missing, () => {
  let gw: FakeGateway;
  let ca: Buffer;
  let nginx: RunningNginx;
  let idleNginx: RunningNginx; // the reference with proxy_read_timeout 2s (the idle-WebSocket test)
  let sidecar: ImportedSidecar;
  const cleanups: Array<() => void | Promise<void>> = [];
  const nginxPids: number[] = [];

  beforeAll(async () => {
    gw = await startFakeGateway();
    cleanups.push(() => gw.close());
    const testCa = createTestCa();
    cleanups.push(() => rmSync(testCa.dir, { recursive: true, force: true }));
    ca = readFileSync(testCa.caCert);
    const pair = testCa.issue("proxy"); // one pair for both, so one CA trusts both
    const reference = readFileSync(REFERENCE, "utf8");
    for (const proxyReadTimeout of [undefined, "2s"]) {
      const started = await startNginx({
        reference,
        upstreamPort: gw.port,
        cert: pair.cert,
        key: pair.key,
        proxyReadTimeout,
      });
      cleanups.unshift(() => started.stop());
      nginxPids.push(started.pid);
      if (proxyReadTimeout === undefined) nginx = started;
      else idleNginx = started;
    }
    const dir = mkdtempSync(path.join(tmpdir(), "parity-sidecar-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    sidecar = await startImportedSidecar(importNginx(REFERENCE).config, dir, {
      "--upstream": gw.url,
      "--tls-cert": pair.cert,
      "--tls-key": pair.key,
      "--https-redirect-listen": "127.0.0.1:0",
    });
    cleanups.unshift(() => sidecar.close());
  });

  afterAll(async () => {
    const failures: unknown[] = [];
    for (const cleanup of cleanups)
      await Promise.resolve()
        .then(cleanup)
        .catch((err: unknown) => failures.push(err));
    expect(failures).toEqual([]);
    // Every nginx process this file started is gone: each master ran detached, in its own process group with its
    // workers, so an empty group means master and workers alike.
    expect(nginxPids.filter((pid) => groupAlive(pid))).toEqual([]);
  });

  /** Sends `spec` through one proxy; returns the reply and the one request the gateway saw for it. */
  async function observe(port: number, spec: RequestSpec): Promise<Observed> {
    const before = gw.received.length;
    const reply = await httpsRequest(port, ca, spec);
    expect(gw.received.length, `exactly one request reached the gateway for ${spec.path}`).toBe(before + 1);
    return { reply, seen: gw.received[before] as Received };
  }
  const throughBoth = async (spec: RequestSpec) => ({
    viaNginx: await observe(nginx.port, spec),
    viaSidecar: await observe(sidecar.port, spec),
  });

  const comparable = (h: Received["headers"]) =>
    Object.fromEntries(Object.entries(h).filter(([k]) => !DOCUMENTED.includes(k)));

  /** The gateway saw the same request through both, apart from DOCUMENTED headers. */
  function expectSameRequest(o: { viaNginx: Observed; viaSidecar: Observed }, spec: RequestSpec): void {
    const { viaNginx: n, viaSidecar: s } = o;
    expect(n.seen.method).toBe(spec.method ?? "GET");
    expect(n.seen.url).toBe(spec.path);
    expect(s.seen.method).toBe(n.seen.method);
    expect(s.seen.url).toBe(n.seen.url);
    if (spec.body !== undefined) expect(n.seen.body).toBe(Buffer.concat([spec.body].flat()).toString());
    expect(s.seen.body).toBe(n.seen.body);
    expect(comparable(s.seen.headers)).toEqual(comparable(n.seen.headers));
    expect(n.reply.status).toBe(200);
    expect(s.reply.status).toBe(200);
  }

  const ordinary = {
    accept: "application/json",
    "accept-language": "de-CH",
    cookie: "a=1; b=2",
    authorization: "Bearer t0k3n",
    "user-agent": "parity/1",
    "x-custom": "kept",
  };

  it.each([
    { method: "GET", path: "/" },
    { method: "GET", path: "/api/sessions?limit=10&q=a%20b&redirect=%2Fhome&flag&x=%E2%9C%93" },
    { method: "GET", path: "/a//b/../c%20d;p=1?x=1#frag" },
    {
      method: "POST",
      path: "/api/rpc?id=7",
      headers: { "content-type": "application/json" },
      body: Buffer.from('{"method":"status","params":{"deep":[1,2,3]}}'),
    },
    { method: "PUT", path: "/api/config", body: Buffer.from("x=1&y=2") },
    { method: "PATCH", path: "/api/config/1", body: Buffer.from("{}") },
    { method: "DELETE", path: "/api/sessions/42" },
    {
      method: "OPTIONS",
      path: "/api/rpc",
      headers: { origin: "https://openclaw.example.com", "access-control-request-method": "POST" },
    },
  ] as RequestSpec[])("$method $path: same method, path, query, body and headers", async (spec) => {
    const full = { ...spec, headers: { ...ordinary, ...spec.headers } };
    expectSameRequest(await throughBoth(full), full);
  });

  it("a chunked upload: same body; nginx re-frames it with Content-Length, the sidecar streams it chunked", async () => {
    const chunks = Array.from({ length: 20 }, (_, i) => Buffer.from(`chunk ${i}: ${"z".repeat(i * 100)}\n`));
    const spec: RequestSpec = { method: "POST", path: "/api/upload?chunked=1", headers: ordinary, body: chunks };
    const o = await throughBoth(spec);
    expectSameRequest(o, spec);
    expect(o.viaSidecar.seen.body).toBe(Buffer.concat(chunks).toString());
    // Asserted difference: request framing (proxy_request_buffering is on by default in nginx).
    expect(o.viaNginx.seen.headers["content-length"]).toBe(String(Buffer.concat(chunks).length));
    expect(o.viaNginx.seen.headers["transfer-encoding"]).toBeUndefined();
    expect(o.viaSidecar.seen.headers["transfer-encoding"]).toBe("chunked");
    expect(o.viaSidecar.seen.headers["content-length"]).toBeUndefined();
  });

  it("a 2 MiB body (nginx spools it to its temp dir) arrives byte for byte through both", async () => {
    const body = Buffer.from(randomBytes(1 << 20).toString("hex"));
    const o = await throughBoth({ method: "POST", path: "/api/large", body });
    expectSameRequest(o, { method: "POST", path: "/api/large" });
    expect(o.viaNginx.seen.body).toBe(body.toString());
    expect(o.viaNginx.seen.headers["content-length"]).toBe(String(body.length));
    expect(o.viaSidecar.seen.headers["content-length"]).toBe(String(body.length));
  });

  it("a streamed 256 KiB response reaches the client unchanged through both", async () => {
    const [viaNginx, viaSidecar] = await Promise.all(
      [nginx.port, sidecar.port].map((p) => httpsRequest(p, ca, { path: "/stream?n=4" })),
    );
    expect(viaNginx?.body).toEqual(Buffer.alloc(4 * 65536, 0x61));
    expect(viaSidecar?.body).toEqual(Buffer.alloc(4 * 65536, 0x61));
  });

  it("Host: the same when sent without a port; nginx's $host lower-cases it and drops the port, the sidecar keeps it", async () => {
    const plain = await throughBoth({ path: "/", headers: { host: "openclaw.example.com" } });
    expect(plain.viaNginx.seen.headers.host).toBe("openclaw.example.com");
    expect(plain.viaSidecar.seen.headers.host).toBe("openclaw.example.com");
    const withPort = await throughBoth({ path: "/", headers: { host: "OpenClaw.Example.com:8443" } });
    expect(withPort.viaNginx.seen.headers.host).toBe("openclaw.example.com");
    expect(withPort.viaSidecar.seen.headers.host).toBe("OpenClaw.Example.com:8443");
  });

  it("X-Forwarded-Proto: both send https, and both replace what the client claimed (the reference sets $scheme)", async () => {
    const o = await throughBoth({ path: "/", headers: { "x-forwarded-proto": "http" } });
    expect(o.viaNginx.seen.headers["x-forwarded-proto"]).toBe("https");
    expect(o.viaSidecar.seen.headers["x-forwarded-proto"]).toBe("https");
  });

  it("asserted difference: X-Forwarded-For — nginx appends to the client's chain, the sidecar overwrites it", async () => {
    const spoofed = await throughBoth({ path: "/", headers: { "x-forwarded-for": "127.0.0.1" } });
    expect(spoofed.viaNginx.seen.headers["x-forwarded-for"]).toBe("127.0.0.1, 127.0.0.1");
    // The peer is loopback: the sidecar sends its documented substitute (the gateway refuses a loopback XFF).
    expect(spoofed.viaSidecar.seen.headers["x-forwarded-for"]).toBe("192.0.2.1");
    const none = await throughBoth({ path: "/" });
    expect(none.viaNginx.seen.headers["x-forwarded-for"]).toBe("127.0.0.1");
    expect(none.viaSidecar.seen.headers["x-forwarded-for"]).toBe("192.0.2.1");
  });

  it("asserted difference: X-Real-IP — nginx sets it (proxy evidence for the gateway), the sidecar strips it", async () => {
    const o = await throughBoth({ path: "/", headers: { "x-real-ip": "6.6.6.6" } });
    expect(o.viaNginx.seen.headers["x-real-ip"]).toBe("127.0.0.1");
    expect(o.viaSidecar.seen.headers).not.toHaveProperty("x-real-ip");
  });

  it("asserted difference: client-sent Forwarded, X-Forwarded-Host, x-forwarded-user — nginx passes them, the sidecar does not", async () => {
    const o = await throughBoth({
      path: "/",
      headers: {
        forwarded: "for=6.6.6.6;proto=https",
        "x-forwarded-host": "evil.example",
        "x-forwarded-user": "admin@example.com",
      },
    });
    expect(o.viaNginx.seen.headers).toMatchObject({
      forwarded: "for=6.6.6.6;proto=https",
      "x-forwarded-host": "evil.example",
      "x-forwarded-user": "admin@example.com",
    });
    expect(o.viaSidecar.seen.headers).not.toHaveProperty("forwarded");
    expect(o.viaSidecar.seen.headers).not.toHaveProperty("x-forwarded-user");
    expect(o.viaSidecar.seen.headers["x-forwarded-host"]).toBe("openclaw.example.com"); // its own: the Host it received
  });

  it("asserted difference: upstream keep-alive — the reference's map sends Connection: close, the sidecar reuses connections", async () => {
    const o = await throughBoth({ path: "/" });
    expect(o.viaNginx.seen.headers.connection).toBe("close"); // so `keepalive 32` in the reference never reuses one
    expect(o.viaSidecar.seen.headers.connection).toBeUndefined(); // HTTP/1.1 is persistent unless it says close
  });

  it("responses: same status and gateway headers; HSTS and Server differ as documented", async () => {
    const o = await throughBoth({ path: "/" });
    for (const h of ["content-type", "x-upstream"])
      expect(o.viaSidecar.reply.headers[h]).toBe(o.viaNginx.reply.headers[h]);
    expect(o.viaNginx.reply.headers["strict-transport-security"]).toBe("max-age=63072000"); // the reference's add_header
    expect(o.viaSidecar.reply.headers["strict-transport-security"]).toBe("max-age=31536000; includeSubDomains"); // hsts: true
    expect(o.viaNginx.reply.headers.server).toMatch(/^nginx\//);
    expect(o.viaSidecar.reply.headers.server).toBeUndefined();
  });

  it("the gateway's 403 to an upgrade reaches the client unchanged through both", async () => {
    const upgrade = {
      connection: "Upgrade",
      upgrade: "websocket",
      "sec-websocket-version": "13",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    };
    const o = await throughBoth({ path: "/refuse-403", headers: upgrade });
    expect(o.viaNginx.reply.status).toBe(403);
    expect(o.viaSidecar.reply.status).toBe(403);
    expect(o.viaSidecar.reply.body.toString()).toBe(o.viaNginx.reply.body.toString());
    expect(o.viaNginx.reply.body.toString()).toContain("proxy_attribution_required");
  });

  it("the redirect server: same Location; nginx answers 301 (to port 443), the sidecar 308 (to its own HTTPS port)", async () => {
    const viaNginx = await plainGet(nginx.redirectPort, "/chat?session=1");
    const viaSidecar = await plainGet(sidecar.redirectPort, "/chat?session=1");
    expect(viaNginx).toMatchObject({ status: 301, location: "https://openclaw.example.com/chat?session=1" });
    // In production both listen on 443 and the Locations are equal; here the sidecar's HTTPS port is a random one.
    expect(viaSidecar).toMatchObject({
      status: 308,
      location: `https://openclaw.example.com:${sidecar.port}/chat?session=1`,
    });
  });

  it.each(["nginx", "sidecar"] as const)(
    "WebSocket via %s: handshake headers arrive, 101 comes back, text and binary echo, upstream close code reaches the client",
    async (via) => {
      const port = via === "nginx" ? nginx.port : sidecar.port;
      const before = gw.received.length;
      const client = await openWebSocket(port, ca, "/echo?client=parity", "openclaw.v3", {
        host: "openclaw.example.com",
        "x-custom": "kept",
      });
      const seen = gw.received[before] as Received;
      expect(seen).toMatchObject({ method: "GET", url: "/echo?client=parity" });
      expect(seen.headers).toMatchObject({
        upgrade: "websocket",
        host: "openclaw.example.com",
        "sec-websocket-version": "13",
        "sec-websocket-protocol": "openclaw.v3",
        "x-custom": "kept",
        "x-forwarded-proto": "https",
      });
      expect(seen.headers.connection?.toLowerCase()).toBe("upgrade"); // nginx sends "upgrade" (the map), the sidecar "Upgrade"
      expect(seen.headers["sec-websocket-extensions"]).toBe("permessage-deflate; client_max_window_bits");
      // The key arrived unchanged: the 101's accept is the gateway's answer to the key it saw, and the client checked
      // it.
      const accept = createHash("sha1").update(`${seen.headers["sec-websocket-key"]}${WS_GUID}`).digest("base64");
      expect(client.upgrade.statusCode).toBe(101);
      expect(client.upgrade.headers).toMatchObject({
        upgrade: "websocket",
        "sec-websocket-accept": accept,
        "sec-websocket-protocol": "openclaw.v3",
        "sec-websocket-extensions": "permessage-deflate",
      });

      const challenge = JSON.parse((await client.next()).data.toString()) as { event: string; protocol: string };
      expect(challenge).toEqual({ type: "event", event: "connect.challenge", protocol: "openclaw.v3" });
      client.ws.send('{"type":"req","method":"connect","params":{"ü":"✓"}}');
      expect(await client.next()).toEqual({
        data: Buffer.from('{"type":"req","method":"connect","params":{"ü":"✓"}}'),
        isBinary: false,
      });
      const binary = randomBytes(300_000);
      client.ws.send(binary);
      const echoed = await client.next();
      expect(echoed.isBinary).toBe(true);
      expect(echoed.data.equals(binary)).toBe(true);
      client.ws.send("close:4001:gateway restarting");
      expect(await client.closed).toEqual({ code: 4001, reason: "gateway restarting" });
    },
  );

  it.each(["nginx", "sidecar"] as const)(
    "WebSocket via %s: the gateway's 1008 pairing-required close reaches the client",
    async (via) => {
      const client = await openWebSocket(via === "nginx" ? nginx.port : sidecar.port, ca, "/close-1008", "openclaw.v3");
      expect(await client.closed).toEqual({
        code: 1008,
        reason: "pairing required: device is not approved yet (requestId: 0000)",
      });
    },
  );

  it("asserted difference: an idle WebSocket — nginx (proxy_read_timeout 2s) drops it, the sidecar keeps it", async () => {
    const [viaNginx, viaSidecar] = await Promise.all(
      [idleNginx.port, sidecar.port].map((p) => openWebSocket(p, ca, "/echo", "openclaw.v3")),
    );
    if (viaNginx === undefined || viaSidecar === undefined) throw new Error("unreachable");
    await Promise.all([viaNginx.next(), viaSidecar.next()]); // the challenge; then silence both ways
    const started = Date.now();
    const dropped = await viaNginx.closed;
    const idleMs = Date.now() - started;
    expect(dropped.code).toBe(1006); // no close frame: nginx just ends the TCP connection
    expect(idleMs).toBeGreaterThan(1800);
    expect(idleMs).toBeLessThan(4000);
    viaSidecar.ws.send("still here");
    expect((await viaSidecar.next()).data.toString()).toBe("still here");
    viaSidecar.ws.close(1000);
    await viaSidecar.closed;
  });

  it("asserted difference: metrics — the sidecar counts the upgrade and the upstream's close; nginx forwards /metrics to the gateway", async () => {
    const upgradesBefore = await metric(sidecar.adminUrl, "openclaw_sidecar_websocket_upgrades_total", {
      result: "ok",
    });
    const closes = { code: "1008", initiator: "upstream", reason_class: "pairing_required" };
    const closesBefore = await metric(sidecar.adminUrl, "openclaw_sidecar_websocket_closes_total", closes);
    const client = await openWebSocket(sidecar.port, ca, "/close-1008", "openclaw.v3");
    expect((await client.closed).code).toBe(1008);
    await expect
      .poll(() => metric(sidecar.adminUrl, "openclaw_sidecar_websocket_closes_total", closes))
      .toBe(closesBefore + 1);
    expect(await metric(sidecar.adminUrl, "openclaw_sidecar_websocket_upgrades_total", { result: "ok" })).toBe(
      upgradesBefore + 1,
    );
    // nginx has nothing comparable: the reference exposes no status endpoint, /metrics is just another gateway path.
    const viaNginx = await observe(nginx.port, { path: "/metrics" });
    expect(viaNginx.seen.url).toBe("/metrics");
  });
});

/** Sum of the samples of `name` whose labels include `labels`, read from the admin listener's /metrics text. */
async function metric(adminUrl: string, name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n")) {
    const m = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const has = Object.entries(labels).every(([k, v]) => (m[2] ?? "").split(",").includes(`${k}="${v}"`));
    if (has) sum += Number(m[3]);
  }
  return sum;
}

/** A plain-HTTP GET with a chosen Host (fetch would not let us set it); the redirect servers answer without a body. */
function plainGet(port: number, target: string): Promise<{ status: number; location: string | undefined }> {
  return new Promise((resolve, reject) => {
    http
      .get(
        { host: "127.0.0.1", port, path: target, headers: { host: "openclaw.example.com" }, agent: false },
        (res) => {
          res.resume();
          resolve({ status: res.statusCode ?? 0, location: res.headers.location });
        },
      )
      .on("error", reject);
  });
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}
