// The option schema drives the rest: docs/options.md is generated from it (and fails here when stale), the help lists
// every option from it, and every OPENCLAW_SIDECAR_* variable the repo's own files set is accepted.
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/options/config.ts";
import { optionHelp, renderOptionsDoc } from "../../src/options/help.ts";
import { DEFAULTS, OPTIONS, OPTION_KEYS, envName, flagName, shownDefault } from "../../src/options/schema.ts";
import { SSO_OPTION_KEYS } from "../../src/options/sso-options.ts";
import { closest, editDistance } from "../../src/options/suggest.ts";

const REPO = path.resolve(import.meta.dirname, "../..");

describe("option schema", () => {
  it("docs/options.md is what the schema generates", () => {
    let onDisk = "";
    try {
      onDisk = readFileSync(path.join(REPO, "docs/options.md"), "utf8");
    } catch {
      // missing: compared as empty, and the message below says how to make it
    }
    expect(onDisk === renderOptionsDoc(), "docs/options.md is stale: run `npm run docs:options` and commit it").toBe(
      true,
    );
  });

  it("names every option once; the SSO keys are the schema's SSO groups; every default shown is its value", () => {
    expect(new Set(OPTION_KEYS).size).toBe(OPTIONS.length);
    expect(SSO_OPTION_KEYS).toEqual(OPTION_KEYS.filter((k) => /^(oidc|assertion|trustAssertion)/.test(k)));
    for (const [key, value] of Object.entries(DEFAULTS)) {
      const spec = OPTIONS.find((o) => o.key === key);
      expect(spec, key).toBeDefined();
      if (spec !== undefined && !("shownDefault" in spec)) expect(shownDefault(spec)).toBe(String(value));
    }
  });

  it("the help lists every option with its flag, env name, default and one line", () => {
    const help = optionHelp();
    for (const o of OPTIONS) {
      expect(help).toContain(`${flagName(o.key).padEnd(30)} ${envName(o.key)}  (default: ${shownDefault(o)})`);
      expect(help).toContain(`      ${o.description}\n`.trimEnd());
      expect(o.description).not.toContain("\n");
    }
    expect(help).toContain("Listeners and upstream:\n  --listen ");
  });

  it("accepts every OPENCLAW_SIDECAR_* variable the compose files, deploy/, the Dockerfile, src/ and the tests set", () => {
    const files = ["compose", "deploy", "test/container", "src", "bin"].flatMap((dir) =>
      readdirSync(path.join(REPO, dir), { recursive: true, encoding: "utf8" }).map((f) => path.join(dir, f)),
    );
    const names = new Set<string>();
    for (const file of [...files, "Dockerfile", "README.md"]) {
      let text: string;
      try {
        text = readFileSync(path.join(REPO, file), "utf8");
      } catch {
        continue; // a directory
      }
      for (const m of text.matchAll(/\bOPENCLAW_SIDECAR_[A-Z0-9_]*[A-Z0-9]\b/g)) names.add(m[0]);
    }
    expect(names).toContain("OPENCLAW_SIDECAR_IMAGE");
    expect(names).toContain("OPENCLAW_SIDECAR_TOKEN_FILE");
    // Empty values: only the names are checked (OPENCLAW_SIDECAR_CONFIG would be read, and is tested with the file).
    names.delete("OPENCLAW_SIDECAR_CONFIG");
    const env = Object.fromEntries([...names].map((n) => [n, ""]));
    // Kubernetes service links (a Service named openclaw-sidecar, enableServiceLinks left on).
    Object.assign(env, {
      OPENCLAW_SIDECAR_PORT: "tcp://10.0.0.5:18789",
      OPENCLAW_SIDECAR_SERVICE_HOST: "10.0.0.5",
      OPENCLAW_SIDECAR_SERVICE_PORT: "18789",
      OPENCLAW_SIDECAR_SERVICE_PORT_PROXY: "18789",
      OPENCLAW_SIDECAR_PORT_18789_TCP: "tcp://10.0.0.5:18789",
      OPENCLAW_SIDECAR_PORT_18789_TCP_PROTO: "tcp",
      OPENCLAW_SIDECAR_PORT_18789_TCP_PORT: "18789",
      OPENCLAW_SIDECAR_PORT_18789_TCP_ADDR: "10.0.0.5",
    });
    try {
      loadConfig({ env });
    } catch (err) {
      expect((err as ConfigError).problems).toEqual([]);
    }
  });
});

describe("did you mean", () => {
  it("edit distance counts a transposition as one edit", () => {
    expect(editDistance("MDOE", "MODE")).toBe(1);
    expect(editDistance("lisen", "listen")).toBe(1);
    expect(editDistance("abc", "xyz")).toBe(3);
  });

  it("suggests within distance 2, else a unique prefix, else nothing", () => {
    expect(closest("--lsiten", ["--listen", "--upstream"])).toEqual(["--listen"]);
    expect(closest("--upstream-time", ["--upstream", "--upstream-timeout-ms"])).toEqual(["--upstream-timeout-ms"]);
    expect(closest("--acme", ["--acme-email", "--acme-storage"])).toEqual([]);
    expect(closest("--bogus", ["--listen", "--upstream"])).toEqual([]);
  });
});
