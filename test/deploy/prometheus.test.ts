// A real Prometheus on 127.0.0.1 scrapes a real sidecar (in-process, in front of the fake gateway) every second and
// evaluates deploy/prometheus/sidecar-rules.yml as shipped. Traffic makes one alert fire, read back from
// Prometheus's API; then every recording rule and every PromQL query of the Grafana dashboard must return a result,
// so a renamed metric breaks the build.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, expect, it } from "vitest";
import { WebSocket } from "ws";
import { rawExchange } from "../helpers/net.ts";
import { startTestSidecar, type TestSidecar } from "../helpers/sidecar.ts";
import { describeTier } from "../helpers/tier.ts";
import { type FakeGateway, startFakeGateway } from "../helpers/upstream.ts";
import { type PrometheusServer, startPrometheus } from "./prometheus-server.ts";
import { DEPLOY, missing, yamlDocs } from "./tools.ts";

const RULES = `${DEPLOY}/prometheus/sidecar-rules.yml`;
const ALERT = "OpenClawSidecarProxyAttributionRequired";
interface Alert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: string;
}
interface Target {
  expr: string;
  refId: string;
}
interface Panel {
  title: string;
  targets: Target[];
}
interface Variable {
  name: string;
  type: string;
  query: string | { query: string };
}
const dashboard = JSON.parse(readFileSync(`${DEPLOY}/grafana/openclaw-sidecar.json`, "utf8")) as {
  panels: Panel[];
  templating: { list: Variable[] };
};
const records = (
  yamlDocs(readFileSync(RULES, "utf8"))[0] as { groups: Array<{ rules: Array<{ record?: string }> }> }
).groups
  .flatMap((g) => g.rules)
  .flatMap((r) => (r.record ? [r.record] : []));

/** What Grafana would send: "All" for the template variables, a range that holds several 1 s scrapes. */
const asGrafanaSends = (expr: string): string =>
  expr.replaceAll("$__rate_interval", "15s").replaceAll("$job", ".*").replaceAll("$instance", ".*");

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function websocket(url: string): Promise<"opened" | number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once("open", () => {
      ws.close(1000, "bye");
      ws.once("close", () => resolve("opened"));
    });
    ws.once("unexpected-response", (_req, res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    ws.once("error", reject);
  });
}

describeTier(
  "deploy/prometheus + deploy/grafana against a real Prometheus scraping a real sidecar",
  missing("prometheus"),
  () => {
    let gateway: FakeGateway;
    let side: TestSidecar;
    let prom: PrometheusServer;
    const alerts = async (): Promise<Alert[]> => (await prom.api<{ alerts: Alert[] }>("alerts")).alerts;

    beforeAll(async () => {
      gateway = await startFakeGateway();
      side = await startTestSidecar({ "--upstream": gateway.url, "--upstream-timeout-ms": "300" });
      const admin = new URL(side.adminUrl).host;
      prom = await startPrometheus(`
global: { scrape_interval: 1s, evaluation_interval: 1s }
rule_files: [${JSON.stringify(RULES)}]
scrape_configs:
  - job_name: openclaw-sidecar
    static_configs: [{ targets: ["${admin}"] }]
`);
      await until("the sidecar scraped as up", async () =>
        (await prom.query('up{job="openclaw-sidecar"} == 1')).length === 1 ? true : undefined,
      );
    });
    afterAll(async () => {
      await prom?.stop();
      await side?.close();
      await gateway?.close();
    });

    it("loads every rule, and none fails to evaluate", async () => {
      // Two more evaluations, with at least two samples of each series in every range.
      await new Promise((r) => setTimeout(r, 2500));
      const { groups } = await prom.api<{
        groups: Array<{ rules: Array<{ name: string; health: string; lastError?: string }> }>;
      }>("rules");
      const loaded = groups.flatMap((g) => g.rules);
      expect(loaded.length).toBeGreaterThanOrEqual(records.length + 10);
      for (const rule of loaded) expect(rule.health, `${rule.name}: ${rule.lastError ?? ""}`).toBe("ok");
      expect(
        (await alerts()).map((a) => a.labels.alertname),
        "nothing fires before the traffic",
      ).toEqual([]);
    });

    it(`traffic through the sidecar makes ${ALERT} fire, with the doctor's fix in its summary`, async () => {
      expect((await fetch(`${side.url}/hello`)).status).toBe(200);
      expect((await fetch(`${side.url}/slow`)).status, "the gateway does not answer: 504").toBe(504);
      expect(await rawExchange(Number(new URL(side.url).port), "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")).toMatch(
        /^HTTP\/1\.1 400/,
      );
      expect(await websocket(`${side.url.replace("http", "ws")}/echo`)).toBe("opened");
      expect(await websocket(`${side.url.replace("http", "ws")}/refuse-403`), "the gateway's 403, relayed").toBe(403);
      expect(
        await side.metric("openclaw_sidecar_websocket_upgrades_total", { result: "proxy_attribution_required" }),
      ).toBe(1);

      const alert = await until(`${ALERT} firing`, async () =>
        (await alerts()).find((a) => a.labels.alertname === ALERT && a.state === "firing"),
      );
      expect(alert.labels).toEqual({
        alertname: ALERT,
        severity: "critical",
        job: "openclaw-sidecar",
        instance: new URL(side.adminUrl).host,
      });
      expect(alert.annotations.summary).toContain(
        "403 proxy_attribution_required: the gateway does not trust this sidecar's address.",
      );
      expect(alert.annotations.description).toMatch(/^1 WebSocket upgrades on /);
      // Nothing else is wrong with this sidecar: no other alert fires.
      expect((await alerts()).filter((a) => a.state === "firing").map((a) => a.labels.alertname)).toEqual([ALERT]);
    });

    it.each(records)("recording rule %s has a result", async (record) => {
      const result = await until(
        record,
        async () => {
          const r = await prom.query(record);
          return r.length > 0 ? r : undefined;
        },
        10_000,
      );
      for (const sample of result) expect(sample.metric.job).toBe("openclaw-sidecar");
    });

    it.each(dashboard.panels.flatMap((p) => p.targets.map((t) => [`${p.title} (${t.refId})`, t.expr] as const)))(
      "dashboard panel %s returns a result",
      async (_title, expr) => {
        const result = await prom.query(asGrafanaSends(expr));
        expect(result.length, asGrafanaSends(expr)).toBeGreaterThan(0);
      },
    );

    it("dashboard variables list this sidecar's job and instance", async () => {
      for (const variable of dashboard.templating.list.filter((v) => v.type === "query")) {
        const query = typeof variable.query === "string" ? variable.query : variable.query.query;
        const m = /^label_values\((.+), (\w+)\)$/.exec(asGrafanaSends(query));
        expect(m, query).not.toBeNull();
        const values = await prom.api<string[]>(`label/${m?.[2] ?? ""}/values`, { "match[]": m?.[1] ?? "" });
        expect(values).toContain(variable.name === "job" ? "openclaw-sidecar" : new URL(side.adminUrl).host);
      }
    });

    it("a query for a metric the sidecar does not export returns nothing (the panel check can fail)", async () => {
      expect(
        await prom.query(
          asGrafanaSends('sum by (code) (rate(openclaw_sidecar_upstream_error_total{job=~"$job"}[$__rate_interval]))'),
        ),
      ).toEqual([]);
    });
  },
);
