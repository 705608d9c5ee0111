// Faults and hostile clients: the gateway killed -9 and restarted under load, slowloris, a client that never reads,
// an upstream that never answers upgrades, and 5,000 concurrent WebSockets with fds and memory back afterwards.
import { readFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import v8 from "node:v8";
import vm from "node:vm";
import { afterAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { eventually, openFds, rawExchange, upgradeRequest } from "../helpers/net.ts";
import { startFakeGatewayProcess, startSidecarProcess } from "../helpers/processes.ts";
import { startTestSidecar } from "../helpers/sidecar.ts";
import { startFakeGateway } from "../helpers/upstream.ts";

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

const rssKiB = (pid: number): number =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
const openWs = (url: string) =>
  new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once("message", () => resolve(ws)); // the fake's connect.challenge: the tunnel is up end to end
    ws.once("error", reject);
  });

describe("faults", () => {
  it("gateway killed -9 with WebSockets and an upload open: clients get a 1014 close and a 502, the sidecar recovers", async () => {
    let gw = await startFakeGatewayProcess();
    const port = gw.port;
    const sc = await startTestSidecar({ "--upstream": `http://127.0.0.1:${port}` });
    cleanups.push(
      () => sc.close(),
      () => gw.kill("SIGKILL"),
    );
    const sockets = await Promise.all(Array.from({ length: 5 }, () => openWs(`${sc.url.replace("http", "ws")}/echo`)));
    const closes = sockets.map((ws) => new Promise<number>((r) => ws.once("close", (code) => r(code))));
    const upload = new Promise<number>((resolve, reject) => {
      const req = http.request(
        `${sc.url}/upload`,
        { method: "POST", headers: { "transfer-encoding": "chunked" } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      req.write(Buffer.alloc(64 * 1024));
      // keep the body open: the gateway dies mid-upload
    });
    await new Promise((r) => setTimeout(r, 200));
    await gw.kill("SIGKILL");
    expect(await upload).toBe(502);
    expect(await Promise.all(closes)).toEqual([1014, 1014, 1014, 1014, 1014]);
    await expect
      .poll(() => sc.metric("openclaw_sidecar_websocket_closes_total", { code: "1006", initiator: "none" }))
      .toBe(5);
    expect(await sc.metric("openclaw_sidecar_upstream_errors_total")).toBeGreaterThanOrEqual(1);
    // While it is down: 502, named.
    expect((await fetch(`${sc.url}/x`)).status).toBe(502);
    // Restarted on the same port: the sidecar recovers without a restart of its own.
    gw = await startFakeGatewayProcess(port);
    expect((await fetch(`${sc.url}/x`)).status).toBe(200);
    const ws = await openWs(`${sc.url.replace("http", "ws")}/echo`);
    ws.close();
  }, 30_000);

  it("an upstream that accepts TCP but never answers upgrades: 504 each time, nothing left open", async () => {
    const gw = await startFakeGateway();
    const sc = await startTestSidecar({ "--upstream": gw.url, "--upgrade-timeout-ms": "200", "--log-level": "warn" });
    cleanups.push(
      () => sc.close(),
      () => gw.close(),
    );
    const baseline = openFds();
    const answers = await Promise.all(
      Array.from({ length: 200 }, () => rawExchange(sc.sidecar.proxyAddress.port, upgradeRequest("/hang"))),
    );
    expect(answers.every((a) => a.startsWith("HTTP/1.1 504 "))).toBe(true);
    expect(await sc.metric("openclaw_sidecar_websocket_upgrades_total", { result: "upstream_timeout" })).toBe(200);
    await eventually(() => openFds() <= baseline + 4, 5000, "fds back to baseline");
  });
});

describe("hostile clients", () => {
  it("slowloris: a client trickling its headers is cut off with 408 after headersTimeoutMs", async () => {
    const gw = await startFakeGateway();
    const sc = await startTestSidecar({ "--upstream": gw.url, "--headers-timeout-ms": "1000" });
    cleanups.push(
      () => sc.close(),
      () => gw.close(),
    );
    const started = Date.now();
    const answer = await new Promise<string>((resolve) => {
      const s = net.connect(sc.sidecar.proxyAddress.port, "127.0.0.1");
      let out = "";
      s.on("data", (d) => (out += d));
      s.on("close", () => {
        clearInterval(timer);
        resolve(out);
      });
      s.on("error", () => undefined);
      s.write("GET / HTTP/1.1\r\nHost: x\r\n");
      let i = 0;
      const timer = setInterval(() => s.writable && s.write(`X-${i++}: a\r\n`), 100);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(Date.now() - started).toBeLessThan(4000);
    expect(gw.received.length).toBe(0);
  });

  it("a client that never reads: the sidecar applies backpressure instead of buffering the gateway's flood", async () => {
    const gw = await startFakeGateway();
    const sc = await startSidecarProcess({ OPENCLAW_SIDECAR_UPSTREAM: gw.url });
    cleanups.push(
      () => sc.kill(),
      () => gw.close(),
    );
    const before = rssKiB(sc.child.pid!);
    // A raw client: sends the handshake, then stops reading for good.
    const s = net.connect(sc.port, "127.0.0.1");
    s.on("error", () => undefined);
    s.write(upgradeRequest("/flood"));
    s.pause();
    await eventually(
      () => [...gw.sockets].some((ws) => ws.bufferedAmount > 64 << 20),
      15_000,
      "the gateway to be blocked by backpressure",
    );
    await new Promise((r) => setTimeout(r, 1000));
    const grown = rssKiB(sc.child.pid!) - before;
    // Hundreds of MiB are queued at the gateway; the sidecar holds no more than its socket buffers.
    expect(grown).toBeLessThan(48 * 1024);
    s.destroy();
  }, 30_000);
});

describe("load", () => {
  it("holds 5,000 concurrent WebSockets; fds and memory come back after they close", async () => {
    // The sidecar in this process (to measure its heap after a forced collection), the gateway in its own process
    // (5,000 clients + 10,000 tunnel sockets already make 15,000 descriptors here).
    const gw = await startFakeGatewayProcess();
    const sc = await startTestSidecar({ "--upstream": `http://127.0.0.1:${gw.port}`, "--log-level": "warn" });
    cleanups.push(
      () => sc.close(),
      () => gw.kill("SIGKILL"),
    );
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc") as () => void;
    gc();
    const fdsBefore = openFds();
    const heapBefore = process.memoryUsage().heapUsed;
    const url = `${sc.url.replace("http", "ws")}/echo`;
    const sockets: WebSocket[] = [];
    for (let batch = 0; batch < 25; batch++)
      sockets.push(...(await Promise.all(Array.from({ length: 200 }, () => openWs(url)))));
    expect(await sc.metric("openclaw_sidecar_active_connections", { kind: "websocket" })).toBe(5000);
    // Every tunnel carries traffic, not just the handshake.
    const echoed = await Promise.all(
      sockets.map(
        (ws, i) =>
          new Promise<string>((r) => {
            ws.once("message", (d) => r(d.toString()));
            ws.send(`m${i}`);
          }),
      ),
    );
    expect(echoed[4999]).toBe("m4999");
    gc();
    const heapPeak = process.memoryUsage().heapUsed;
    await Promise.all(
      sockets.map(
        (ws) =>
          new Promise((r) => {
            ws.once("close", r);
            ws.close();
          }),
      ),
    );
    sockets.length = 0;
    await eventually(
      async () => (await sc.metric("openclaw_sidecar_active_connections", { kind: "websocket" })) === 0,
      20_000,
      "all tunnels closed",
    );
    await eventually(() => openFds() <= fdsBefore + 4, 20_000, `fds back to ${fdsBefore} (now ${openFds()})`);
    gc();
    const heapAfter = process.memoryUsage().heapUsed;
    console.log(
      `[load] 5,000 WebSockets (clients + sidecar in one process): heap ${mib(heapBefore)} → ${mib(heapPeak)} → ${mib(heapAfter)} MiB`,
    );
    expect(heapPeak - heapBefore).toBeGreaterThan(10 * 1024 * 1024); // the measurement sees the sockets at all
    expect(heapAfter - heapBefore).toBeLessThan(8 * 1024 * 1024);
  }, 120_000);
});

const mib = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1);
