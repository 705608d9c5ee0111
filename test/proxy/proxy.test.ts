// Integration on loopback: a real sidecar in front of a fake gateway (see test/helpers/upstream.ts).
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { rawExchange, upgradeRequest } from "../helpers/net.ts";
import { startTestSidecar, type TestSidecar } from "../helpers/sidecar.ts";
import { type FakeGateway, startFakeGateway } from "../helpers/upstream.ts";

let gw: FakeGateway;
let sc: TestSidecar;
beforeAll(async () => {
  gw = await startFakeGateway();
  sc = await startTestSidecar({ "--upstream": gw.url, "--upstream-timeout-ms": "400", "--upgrade-timeout-ms": "400" });
});
afterAll(async () => {
  await sc?.close();
  await gw?.close();
});

const wsUrl = (path: string) => `${sc.url.replace("http", "ws")}${path}`;
const openWs = (path: string, opts: WebSocket.ClientOptions = {}, protocols?: string[]) =>
  new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(wsUrl(path), protocols, opts);
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
const closeOf = (ws: WebSocket) =>
  new Promise<{ code: number; reason: string }>((r) =>
    ws.once("close", (code, reason) => r({ code, reason: reason.toString() })),
  );
const nextMessage = (ws: WebSocket) =>
  new Promise<{ data: Buffer; isBinary: boolean }>((r) =>
    ws.once("message", (data, isBinary) => r({ data: data as Buffer, isBinary })),
  );

describe("HTTP forwarding", () => {
  it("forwards method, path, query, body, Host and Origin; rebuilds forwarding headers from the real peer", async () => {
    const res = await fetch(`${sc.url}/api/thing?x=1`, {
      method: "PUT",
      body: "hello",
      headers: {
        origin: "http://localhost:18789",
        "x-forwarded-for": "127.0.0.1",
        "x-real-ip": "127.0.0.1",
        forwarded: "for=127.0.0.1",
        "x-forwarded-user": "mallory",
        "x-openclaw-scopes": "operator.admin",
        "tailscale-user-login": "m@x",
      },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-upstream")).toBe("fake");
    const seen = (await res.json()) as { method: string; url: string; body: string; headers: Record<string, string> };
    expect(seen.method).toBe("PUT");
    expect(seen.url).toBe("/api/thing?x=1");
    expect(seen.body).toBe("hello");
    expect(seen.headers.host).toBe(new URL(sc.url).host);
    expect(seen.headers.origin).toBe("http://localhost:18789");
    // The test client is on loopback: the gateway would 403 a loopback XFF, so the documented substitute is sent.
    expect(seen.headers["x-forwarded-for"]).toBe("192.0.2.1");
    expect(seen.headers["x-forwarded-proto"]).toBe("http");
    expect(seen.headers["x-forwarded-host"]).toBe(new URL(sc.url).host);
    for (const h of ["x-real-ip", "forwarded", "x-forwarded-user", "x-openclaw-scopes", "tailscale-user-login"])
      expect(seen.headers[h]).toBeUndefined();
  });

  it.each(["GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS"])("forwards %s", async (method) => {
    const res = await fetch(`${sc.url}/m`, { method });
    expect(res.status).toBe(200);
    if (method !== "HEAD") expect(((await res.json()) as { method: string }).method).toBe(method);
  });

  it("streams the response: the first bytes arrive long before the upstream has finished", async () => {
    const started = Date.now();
    const res = await fetch(`${sc.url}/stream?n=60`);
    const reader = res.body!.getReader();
    const first = await reader.read();
    const firstAt = Date.now() - started;
    let total = first.value!.length;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
    }
    const allAt = Date.now() - started;
    expect(total).toBe(60 * 65536);
    expect(firstAt).toBeLessThan(allAt / 3);
  });

  it("streams the request body: the upstream sees bytes before the client has finished sending", async () => {
    let seenEarly = 0;
    const upstream = http.createServer((req, res) => {
      let n = 0;
      req.on("data", (c: Buffer) => (n += c.length));
      req.once("data", () => (seenEarly = n));
      req.on("end", () => res.end(String(n)));
    });
    await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
    const side = await startTestSidecar({
      "--upstream": `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
    });
    try {
      const body = await new Promise<string>((resolve, reject) => {
        const req = http.request(`${side.url}/upload`, { method: "POST" }, (res) => {
          let text = "";
          res.on("data", (d) => (text += d));
          res.on("end", () => resolve(text));
        });
        req.on("error", reject);
        const chunk = Buffer.alloc(256 * 1024, 1);
        let sent = 0;
        const tick = (): void => {
          if (sent === 32) {
            req.end();
            return;
          }
          sent++;
          req.write(chunk);
          // Wait until the upstream has seen the first bytes before sending the rest.
          if (sent === 1) {
            const wait = (): void => {
              if (seenEarly > 0) tick();
              else setTimeout(wait, 5);
            };
            return wait();
          }
          setImmediate(tick);
        };
        tick();
      });
      expect(Number(body)).toBe(32 * 256 * 1024);
      expect(seenEarly).toBeGreaterThan(0);
      expect(seenEarly).toBeLessThan(32 * 256 * 1024);
    } finally {
      await side.close();
      upstream.close();
    }
  });
});

describe("WebSocket forwarding", () => {
  it("relays text and binary both ways with subprotocol and permessage-deflate intact", async () => {
    const ws = await openWs("/some/deep/path?x=1", { perMessageDeflate: true }, ["openclaw.v4"]);
    expect(ws.protocol).toBe("openclaw.v4");
    expect(ws.extensions).toContain("permessage-deflate");
    const challenge = JSON.parse((await nextMessage(ws)).data.toString());
    expect(challenge.event).toBe("connect.challenge");
    ws.send("hello");
    expect((await nextMessage(ws)).data.toString()).toBe("hello");
    const big = Buffer.alloc(200_000, 7);
    ws.send(big);
    const echoed = await nextMessage(ws);
    expect(echoed.isBinary).toBe(true);
    expect(Buffer.compare(echoed.data, big)).toBe(0);
    const closed = closeOf(ws);
    ws.close(1000, "bye");
    expect(await closed).toEqual({ code: 1000, reason: "bye" });
    const upgrade = gw.received.findLast((r) => r.url === "/some/deep/path?x=1")!;
    expect(upgrade.headers["x-forwarded-for"]).toBe("192.0.2.1");
    expect(upgrade.headers.upgrade).toBe("websocket");
  });

  it("passes a 1008 close from the gateway through with its reason, and counts it by reason class", async () => {
    const before = await sc.metric("openclaw_sidecar_websocket_closes_total", {
      code: "1008",
      initiator: "upstream",
      reason_class: "pairing_required",
    });
    const ws = new WebSocket(wsUrl("/close-1008"));
    const closed = await closeOf(ws);
    expect(closed.code).toBe(1008);
    expect(closed.reason).toBe("pairing required: device is not approved yet (requestId: 0000)");
    await expect
      .poll(() =>
        sc.metric("openclaw_sidecar_websocket_closes_total", {
          code: "1008",
          initiator: "upstream",
          reason_class: "pairing_required",
        }),
      )
      .toBe(before + 1);
    const line = sc.logs.findLast((l) => l.kind === "websocket" && l.url === "/close-1008");
    expect(line).toMatchObject({ result: "ok", code: 1008, initiator: "upstream", reasonClass: "pairing_required" });
  });

  it("counts a client-initiated close as the client's", async () => {
    const ws = await openWs("/echo");
    await nextMessage(ws);
    const closed = closeOf(ws);
    ws.close(4001, "custom");
    await closed;
    await expect
      .poll(() => sc.metric("openclaw_sidecar_websocket_closes_total", { code: "4001", initiator: "client" }))
      .toBe(1);
  });

  it("never idles out an established WebSocket (only the handshake has deadlines)", async () => {
    const side = await startTestSidecar({
      "--upstream": gw.url,
      "--headers-timeout-ms": "300",
      "--upgrade-timeout-ms": "300",
      "--upstream-timeout-ms": "300",
    });
    try {
      const ws = new WebSocket(`${side.url.replace("http", "ws")}/echo`);
      await nextMessage(ws);
      await new Promise((r) => setTimeout(r, 2500)); // ~8× every configured timeout, with no traffic at all
      ws.send("still alive");
      expect((await nextMessage(ws)).data.toString()).toBe("still alive");
      ws.close();
    } finally {
      await side.close();
    }
  });

  it("relays the gateway's 403 proxy_attribution_required and counts it", async () => {
    const before = await sc.metric("openclaw_sidecar_websocket_upgrades_total", {
      result: "proxy_attribution_required",
    });
    const answer = await rawExchange(sc.sidecar.proxyAddress.port, upgradeRequest("/refuse-403"));
    expect(answer).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(answer).toContain('"type":"proxy_attribution_required"');
    expect(await sc.metric("openclaw_sidecar_websocket_upgrades_total", { result: "proxy_attribution_required" })).toBe(
      before + 1,
    );
  });
});

describe("errors users can act on", () => {
  it("504 when the gateway does not answer a request in time", async () => {
    const res = await fetch(`${sc.url}/slow`, { headers: { accept: "application/json" } });
    expect(res.status).toBe(504);
    expect(((await res.json()) as { error: { type: string } }).error.type).toBe("upstream_timeout");
  });

  it("504 when the gateway accepts TCP but never answers the upgrade", async () => {
    const answer = await rawExchange(sc.sidecar.proxyAddress.port, upgradeRequest("/hang"));
    expect(answer).toMatch(/^HTTP\/1\.1 504 /);
    expect(
      await sc.metric("openclaw_sidecar_websocket_upgrades_total", { result: "upstream_timeout" }),
    ).toBeGreaterThanOrEqual(1);
  });

  it.each([
    ["a non-HTTP line", "HELLO THERE\r\n\r\n", 400],
    [
      "conflicting Content-Length and Transfer-Encoding",
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      400,
    ],
    ["obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n", 400],
    [
      "two different Content-Lengths",
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
      400,
    ],
    [
      "Transfer-Encoding not ending in chunked",
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
      400,
    ],
    [
      "an unknown transfer coding",
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
      501,
    ],
    [
      "a malformed chunk size",
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5x\r\nhello\r\n0\r\n\r\n",
      400,
    ],
    ["a bare LF inside a header line", "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\nX-B: 2\r\n\r\n", 400],
    ["whitespace before the colon", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nhello", 400],
    ["a missing Host", "GET / HTTP/1.1\r\nX-A: 1\r\n\r\n", 400],
    ["an HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505],
    ["CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 405],
    ["oversized headers", `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`, 431],
    [
      "too many headers",
      `GET / HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 300 }, (_, i) => `X-${i}: 1\r\n`).join("")}\r\n`,
      431,
    ],
    [
      "an upgrade with a bad Sec-WebSocket-Key",
      upgradeRequest("/echo").replace("dGhlIHNhbXBsZSBub25jZQ==", "short"),
      400,
    ],
    ["an upgrade with version 8", upgradeRequest("/echo").replace("Version: 13", "Version: 8"), 426],
    ["an upgrade to something else", upgradeRequest("/echo").replace("Upgrade: websocket", "Upgrade: h2c"), 400],
  ])("refuses %s with the right 4xx and forwards nothing", async (_name, bytes, status) => {
    const before = gw.received.length;
    const answer = await rawExchange(sc.sidecar.proxyAddress.port, bytes);
    expect(answer.slice(0, 12)).toBe(`HTTP/1.1 ${status}`);
    expect(gw.received.length).toBe(before);
  });
});

describe("logs", () => {
  it("one JSON line per request, with credentials in the query redacted and no headers", async () => {
    await fetch(`${sc.url}/chat?token=SECRET-QUERY-TOKEN&session=1`, {
      headers: { authorization: "Bearer SECRET-BEARER", cookie: "oc=SECRET-COOKIE" },
    });
    const ws = await openWs("/ws?token=SECRET-WS-TOKEN");
    const closed = closeOf(ws);
    ws.close();
    await closed;
    await expect.poll(() => sc.logs.some((l) => l.kind === "websocket" && String(l.url).startsWith("/ws?"))).toBe(true);
    const line = sc.logs.findLast((l) => l.kind === "http" && String(l.url).startsWith("/chat"));
    expect(line).toMatchObject({
      method: "GET",
      status: 200,
      url: "/chat?token=[REDACTED]&session=1",
      client: "127.0.0.1",
    });
    for (const secret of ["SECRET-QUERY-TOKEN", "SECRET-BEARER", "SECRET-COOKIE", "SECRET-WS-TOKEN"])
      expect(sc.rawLogs()).not.toContain(secret);
  });
});

describe("admin listener", () => {
  it("serves /healthz, /readyz and /metrics on its own port", async () => {
    expect((await fetch(`${sc.adminUrl}/healthz`)).status).toBe(200);
    const ready = await fetch(`${sc.adminUrl}/readyz`);
    expect(ready.status).toBe(200);
    const text = await (await fetch(`${sc.adminUrl}/metrics`)).text();
    expect(text).toContain(
      'openclaw_sidecar_websocket_closes_total{code="1008",initiator="upstream",reason_class="pairing_required"}',
    );
    expect(text).toContain("openclaw_sidecar_process_resident_memory_bytes");
    expect((await fetch(`${sc.url}/metrics`)).headers.get("x-upstream")).toBe("fake"); // the proxy port forwards, never exposes
  });
});
