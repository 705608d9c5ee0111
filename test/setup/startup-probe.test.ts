// The gateway check at startup and on /readyz: one clear log line with the diagnosis and its fix, and the listeners
// ready without waiting for it. The gateway here is a loopback port where nothing listens (a real refusal); the
// diagnoses of a live gateway are in test/gateway/doctor.test.ts.
import http from "node:http";
import net from "node:net";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createAdminServer } from "../../src/proxy/admin.ts";
import { createLogger } from "../../src/ops/log.ts";
import { createMetrics } from "../../src/ops/metrics.ts";
import { startSidecarProcess } from "../helpers/processes.ts";

/** A loopback port that refuses connections: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

const getJson = (url: string): Promise<{ status: number; body: Record<string, unknown> }> =>
  new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = "";
        res.on("data", (d: Buffer) => (body += d.toString()));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(body) as Record<string, unknown> }),
        );
      })
      .on("error", reject);
  });

const lines = (text: string): Array<Record<string, unknown>> =>
  text
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe("gateway check at startup", () => {
  it("logs one warning naming the refused gateway and the fix, after the listener is up", async () => {
    const port = await closedPort();
    const sc = await startSidecarProcess({ OPENCLAW_SIDECAR_UPSTREAM: `http://127.0.0.1:${port}` });
    try {
      await expect.poll(() => sc.output(), { timeout: 10_000 }).toContain("gateway check at startup");
      const logged = lines(sc.output());
      const listening = logged.findIndex((l) => l.msg === "openclaw-sidecar listening");
      const checks = logged.filter((l) => String(l.msg).startsWith("gateway check at startup"));
      expect(checks).toHaveLength(1);
      const [check] = checks;
      expect(check).toMatchObject({ level: "warn", upstream: `http://127.0.0.1:${port}` });
      expect(String(check?.diagnosis)).toContain("cannot reach the gateway");
      expect(String(check?.diagnosis)).toContain("refused the connection");
      expect(String(check?.diagnosis)).toContain('gateway.bind: "lan"');
      expect(String(check?.fix)).toContain("openclaw-sidecar doctor");
      expect(String(check?.msg)).toContain("if the gateway is still starting");
      expect(logged.indexOf(check as Record<string, unknown>)).toBeGreaterThan(listening);
    } finally {
      await sc.kill();
    }
  }, 30_000);

  it("does not hold the listener back while the gateway takes its time (accepts, never answers)", async () => {
    const silent = net.createServer(() => {}); // accepts and says nothing: the check waits for its timeout
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const port = (silent.address() as net.AddressInfo).port;
    const started = Date.now();
    const sc = await startSidecarProcess({ OPENCLAW_SIDECAR_UPSTREAM: `http://127.0.0.1:${port}` });
    try {
      const health = await getJson(`http://127.0.0.1:${sc.adminPort}/healthz`);
      expect(health.status).toBe(200);
      expect(sc.output()).not.toContain("gateway check at startup"); // still waiting for the silent gateway
      await expect.poll(() => sc.output(), { timeout: 10_000 }).toContain("did not answer in time");
      expect(Date.now() - started).toBeGreaterThan(2_500); // the check's 3 s timeout ran behind a ready listener
    } finally {
      await sc.kill();
      silent.close();
    }
  }, 30_000);
});

describe("/readyz diagnosis", () => {
  it("answers 503 with the cause and its fix, and logs the problem once, not once per probe", async () => {
    const port = await closedPort();
    let raw = "";
    const sink = new Writable({ write: (chunk: Buffer, _e, cb) => ((raw += chunk.toString()), cb()) });
    const admin = createAdminServer({
      metrics: createMetrics(),
      upstream: new URL(`http://127.0.0.1:${port}`),
      isDraining: () => false,
      logger: createLogger("info", sink),
    });
    await new Promise<void>((r) => admin.listen(0, "127.0.0.1", r));
    try {
      const url = `http://127.0.0.1:${(admin.address() as net.AddressInfo).port}/readyz`;
      for (let i = 0; i < 3; i++) {
        const r = await getJson(url);
        expect(r.status).toBe(503);
        expect(r.body).toMatchObject({ ready: false, cause: "upstream_refused" });
        expect(String(r.body.message)).toContain('gateway.bind: "lan"');
      }
      await expect.poll(() => lines(raw).length, { timeout: 2_000 }).toBeGreaterThan(0);
      const warnings = lines(raw).filter((l) => String(l.msg).startsWith("readyz: gateway not ready"));
      expect(warnings).toHaveLength(1);
      expect(String(warnings[0]?.diagnosis)).toContain("refused the connection");
    } finally {
      admin.close();
    }
  });
});
