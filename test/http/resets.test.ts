// Client resets at every point never crash the process and leave no descriptor behind (1,000 loops each).
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { eventually, openFds, upgradeRequest } from "../helpers/net.ts";
import { startTestSidecar, type TestSidecar } from "../helpers/sidecar.ts";
import { type FakeGateway, startFakeGateway } from "../helpers/upstream.ts";

let gw: FakeGateway;
let sc: TestSidecar;
beforeAll(async () => {
  gw = await startFakeGateway();
  sc = await startTestSidecar({ "--upstream": gw.url, "--log-level": "warn" });
});
afterAll(async () => {
  await sc?.close();
  await gw?.close();
});

const LOOPS = 1000;
const settled = async (baseline: number) => {
  await eventually(
    async () => (await sc.metric("openclaw_sidecar_active_connections", { kind: "websocket" })) === 0,
    10_000,
    "no open tunnels",
  );
  await eventually(
    async () => (await sc.metric("openclaw_sidecar_active_connections", { kind: "http" })) === 0,
    10_000,
    "no open client connections",
  );
  await eventually(() => gw.sockets.size === 0, 10_000, "no open upstream sockets");
  // Pooled keep-alive sockets to the upstream may stay open: allow a small, bounded slack.
  await eventually(() => openFds() <= baseline + 8, 10_000, `fds back to baseline ${baseline} (now ${openFds()})`);
};

describe("client resets", () => {
  it("mid-upgrade: RST right after sending the upgrade request", async () => {
    const baseline = openFds();
    for (let i = 0; i < LOOPS; i++) {
      await new Promise<void>((resolve) => {
        const s = net.connect(sc.sidecar.proxyAddress.port, "127.0.0.1", () => {
          s.write(upgradeRequest(i % 2 ? "/echo" : "/hang"), () => {
            s.resetAndDestroy();
            resolve();
          });
        });
        s.on("error", () => resolve());
      });
    }
    await settled(baseline);
    expect(await sc.metric("openclaw_sidecar_websocket_upgrades_total", { result: "client_aborted" })).toBeGreaterThan(
      0,
    );
  });

  it("mid-stream: RST while WebSocket data flows", async () => {
    const baseline = openFds();
    const before = await sc.metric("openclaw_sidecar_websocket_closes_total", { code: "1006" });
    for (let i = 0; i < LOOPS; i++) {
      const ws = new WebSocket(`${sc.url.replace("http", "ws")}/echo`);
      await new Promise<void>((resolve) => {
        ws.on("error", () => resolve());
        ws.on("message", () => {
          ws.send(Buffer.alloc(4096));
          (ws as unknown as { _socket: net.Socket })._socket.resetAndDestroy();
          resolve();
        });
      });
    }
    await settled(baseline);
    // A stream that ends without a close frame is counted as 1006.
    expect(await sc.metric("openclaw_sidecar_websocket_closes_total", { code: "1006" })).toBe(before + LOOPS);
  });

  it("mid-request: RST while an HTTP body is being uploaded", async () => {
    const baseline = openFds();
    for (let i = 0; i < LOOPS; i++) {
      await new Promise<void>((resolve) => {
        const s = net.connect(sc.sidecar.proxyAddress.port, "127.0.0.1", () => {
          s.write("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + "a".repeat(1000), () => {
            s.resetAndDestroy();
            resolve();
          });
        });
        s.on("error", () => resolve());
      });
    }
    await settled(baseline);
  });
});
