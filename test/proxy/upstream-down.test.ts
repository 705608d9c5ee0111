// The gateway is not there: every request and upgrade gets a 502 that names the cause, and it is counted.
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rawExchange, upgradeRequest } from "../helpers/net.ts";
import { startTestSidecar, type TestSidecar } from "../helpers/sidecar.ts";

let sc: TestSidecar;
beforeAll(async () => {
  // A port that was just free: nothing listens there, so connecting is refused at once.
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  sc = await startTestSidecar({ "--upstream": `http://127.0.0.1:${port}` });
});
afterAll(() => sc?.close());

describe("gateway down", () => {
  it("answers HTTP with 502 upstream_refused (JSON for APIs, HTML for browsers) and counts it", async () => {
    const res = await fetch(`${sc.url}/`, { headers: { accept: "application/json" } });
    expect(res.status).toBe(502);
    const body = (await res.json()) as { error: { type: string; message: string } };
    expect(body.error.type).toBe("upstream_refused");
    expect(body.error.message).toMatch(/refused the connection/);
    const page = await fetch(`${sc.url}/`, { headers: { accept: "text/html" } });
    expect(page.status).toBe(502);
    expect(page.headers.get("content-type")).toMatch(/text\/html/);
    expect(await sc.metric("openclaw_sidecar_upstream_errors_total", { code: "ECONNREFUSED" })).toBe(2);
    expect(await sc.metric("openclaw_sidecar_http_requests_total", { method: "GET", status_class: "5xx" })).toBe(2);
  });

  it("answers an upgrade with 502 and counts upstream_refused", async () => {
    const answer = await rawExchange(sc.sidecar.proxyAddress.port, upgradeRequest("/"));
    expect(answer).toMatch(/^HTTP\/1\.1 502 /);
    expect(answer).toContain("upstream_refused");
    expect(await sc.metric("openclaw_sidecar_websocket_upgrades_total", { result: "upstream_refused" })).toBe(1);
  });

  it("reports not ready on /readyz with the cause", async () => {
    const res = await fetch(`${sc.adminUrl}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ ready: false, cause: "upstream_refused" });
  });

  it("reports a name that does not resolve as such", async () => {
    const other = await startTestSidecar({ "--upstream": "http://no-such-gateway.invalid:18789" });
    try {
      const res = await fetch(`${other.url}/`, { headers: { accept: "application/json" } });
      expect(res.status).toBe(502);
      expect(((await res.json()) as { error: { type: string } }).error.type).toBe("upstream_unresolvable");
    } finally {
      await other.close();
    }
  });
});
