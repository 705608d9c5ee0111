// deploy/prometheus with the real promtool: the rules load, their unit tests pass, every alert is tested firing and
// not firing, a broken rule makes those tests fail, each fix the doctor prints is repeated word for word, and the
// example scrape config is valid.
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { describeTier } from "../helpers/tier.ts";
import { DEPLOY, REPO, missing, run, yamlDocs } from "./tools.ts";

const PROM = `${DEPLOY}/prometheus`;
interface Rule {
  record?: string;
  alert?: string;
  expr: string;
  annotations?: Record<string, string>;
}
interface RuleTest {
  alert_rule_test?: Array<{ alertname: string; exp_alerts: unknown[] }>;
}
const rules = (
  yamlDocs(readFileSync(`${PROM}/sidecar-rules.yml`, "utf8"))[0] as { groups: Array<{ rules: Rule[] }> }
).groups.flatMap((g) => g.rules);
const alerts = rules.filter((r) => r.alert !== undefined);
const tests = (
  yamlDocs(readFileSync(`${PROM}/sidecar-rules.test.yml`, "utf8"))[0] as { tests: RuleTest[] }
).tests.flatMap((t) => t.alert_rule_test ?? []);

// The fix `openclaw-sidecar doctor` prints, by alert: the summary must contain it, and so must the doctor's source.
const DOCTOR_SENTENCES: Record<string, string[]> = {
  OpenClawSidecarProxyAttributionRequired: [
    "403 proxy_attribution_required: the gateway does not trust this sidecar's address. Add it to the gateway config:",
  ],
  OpenClawSidecarPairingRequiredLoop: [
    "1008 pairing required — enable gateway.auth.trustedProxy.deviceAutoApprove: { enabled: true }",
    "each new browser is approved once with `openclaw devices approve <requestId>` (or use identity mode)",
  ],
  OpenClawSidecarOriginNotAllowed: ["1008 origin not allowed — add the public origin to the gateway config:"],
};
// The doctor's checks live in src/ (doctor.ts and the modules it uses); the sentence must be printed by one of them.
const doctorSource = readdirSync(`${REPO}src`, { recursive: true, encoding: "utf8" })
  .filter((f) => f.endsWith(".ts"))
  .map((f) => readFileSync(`${REPO}src/${f}`, "utf8"))
  .join("\n");

const temps: string[] = [];
const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), "deploy-rules-"));
  temps.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

describeTier("deploy/prometheus rules (real promtool)", missing("promtool"), () => {
  it("promtool check rules: every rule loads", () => {
    const r = run("promtool", ["check", "rules", `${PROM}/sidecar-rules.yml`]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(`SUCCESS: ${rules.length} rules found`);
  });

  it("promtool test rules: the unit tests pass", () => {
    const r = run("promtool", ["test", "rules", `${PROM}/sidecar-rules.test.yml`]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain("SUCCESS");
  });

  it.each(alerts.map((a) => a.alert as string))("%s is tested firing and not firing, and has a summary", (name) => {
    const cases = tests.filter((t) => t.alertname === name);
    expect(
      cases.some((t) => t.exp_alerts.length > 0),
      "a firing case",
    ).toBe(true);
    expect(
      cases.some((t) => t.exp_alerts.length === 0),
      "a not-firing case",
    ).toBe(true);
    expect((alerts.find((a) => a.alert === name)?.annotations?.summary ?? "").length).toBeGreaterThan(40);
  });

  it.each(Object.entries(DOCTOR_SENTENCES))("%s names the fix with the doctor's own sentence", (name, sentences) => {
    const summary = alerts.find((a) => a.alert === name)?.annotations?.summary ?? "";
    for (const sentence of sentences) {
      expect(summary).toContain(sentence);
      expect(doctorSource, "the doctor still prints it").toContain(sentence);
    }
  });

  it("a broken rule fails its unit test (the tests can fail)", () => {
    const dir = tempDir();
    const broken = readFileSync(`${PROM}/sidecar-rules.yml`, "utf8").replace(
      '{result="proxy_attribution_required"}[5m])) > 0',
      '{result="proxy_attribution_required"}[5m])) > 5',
    );
    expect(broken).not.toBe(readFileSync(`${PROM}/sidecar-rules.yml`, "utf8"));
    writeFileSync(join(dir, "sidecar-rules.yml"), broken);
    copyFileSync(`${PROM}/sidecar-rules.test.yml`, join(dir, "sidecar-rules.test.yml"));
    const r = run("promtool", ["test", "rules", "sidecar-rules.test.yml"], dir);
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toContain("alertname: OpenClawSidecarProxyAttributionRequired");
  });

  it("scrape-config.yml is a valid Prometheus config (kubernetes_sd swapped for a static target) that keeps the admin port", () => {
    const text = readFileSync(`${PROM}/scrape-config.yml`, "utf8");
    const config = yamlDocs(text)[0] as {
      scrape_configs: Array<{ job_name: string; relabel_configs: Array<{ source_labels?: string[]; regex?: string }> }>;
    };
    const job = config.scrape_configs.find((s) => s.job_name === "openclaw-sidecar");
    expect(
      job?.relabel_configs.find((r) => r.source_labels?.includes("__meta_kubernetes_pod_container_port_name"))?.regex,
    ).toBe("admin");
    expect(alerts.find((a) => a.alert === "OpenClawSidecarDown")?.expr).toContain(`job="${job?.job_name ?? ""}"`);
    // Debian's prometheus is built without Kubernetes service discovery: check everything else.
    const dir = tempDir();
    const swapped = text.replace(
      /kubernetes_sd_configs:\n {6}- role: pod\n {8}namespaces:\n {10}names: \[openclaw\]\n/,
      'static_configs:\n      - targets: ["127.0.0.1:9477"]\n',
    );
    expect(swapped).not.toBe(text);
    writeFileSync(join(dir, "scrape-config.yml"), swapped);
    copyFileSync(`${PROM}/sidecar-rules.yml`, join(dir, "sidecar-rules.yml"));
    const r = run("promtool", ["check", "config", "scrape-config.yml"], dir);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(`SUCCESS: ${rules.length} rules found`);
  });
});
