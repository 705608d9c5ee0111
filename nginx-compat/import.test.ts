// Golden cases: every nginx-compat/cases/*.case is imported and compared with its expected output.
// UPDATE_GOLDEN=1 rewrites the expected part from the current output (review the diff before committing).
import { readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, OPTION_KEYS, loadConfig } from "../src/options/config.ts";
import { type TestCa, createTestCa } from "../test/helpers/certs.ts";
import { SEPARATOR, parseCase, runCase } from "./golden.ts";

const CASES = join(import.meta.dirname, "cases");
const update = process.env.UPDATE_GOLDEN === "1";
const names = readdirSync(CASES)
  .filter((f) => f.endsWith(".case"))
  .sort();
const cleanups: (() => void)[] = [];
afterAll(() => cleanups.forEach((c) => c()));
let ca: TestCa | undefined;
const testPair = () => {
  if (ca === undefined) {
    const made = createTestCa();
    cleanups.push(() => rmSync(made.dir, { recursive: true, force: true }));
    ca = made;
  }
  return ca.issue("imported");
};

describe("golden cases", () => {
  it("has the cases the importer promises", () => {
    for (const name of [
      "seed",
      "reference",
      "tls-redirect",
      "map-upgrade",
      "upstream-keepalive",
      "auth-request",
      "include",
      "error-unbalanced-brace",
      "error-unterminated-quote",
      "error-missing-semicolon",
      "unknown-directive",
    ]) {
      expect(names).toContain(`${name}.case`);
    }
  });

  it.each(names)("%s", (name) => {
    const path = join(CASES, name);
    const text = readFileSync(path, "utf8");
    const c = parseCase(text);
    const run = runCase(c);
    cleanups.push(run.cleanup);
    if (update) writeFileSync(path, `${c.input}${SEPARATOR}\n${run.output}`);
    else expect(run.output).toBe(c.expected);
    if (!run.result) return;

    // Every note names a real line of a real directive in the case's files.
    for (const note of run.result.notes) expect(note.line).toBeGreaterThan(0);
    // The output is a configuration the sidecar accepts: only its keys, and valid values. The certificate paths
    // point into the nginx container, so they are swapped for a test pair; identity mode gets its token.
    const config = run.result.config;
    for (const key of Object.keys(config)) expect(OPTION_KEYS).toContain(key);
    const checkable = { ...config };
    if (checkable.tlsCert !== undefined) {
      const pair = testPair();
      checkable.tlsCert = pair.cert;
      checkable.tlsKey = pair.key;
    }
    if (checkable.mode === "identity") {
      expect(() => validate(run.dir, checkable)).toThrow(/needs credentials/); // fails closed until a token is set
      checkable.token = "a-token-for-the-check";
    }
    expect(() => validate(run.dir, checkable)).not.toThrow();
  });
});

function validate(dir: string, config: Record<string, unknown>): void {
  const file = join(dir, "sidecar.json");
  writeFileSync(file, JSON.stringify(config));
  try {
    loadConfig({ file, env: {} });
  } catch (err) {
    if (err instanceof ConfigError) throw new Error(err.message);
    throw err;
  }
}

describe("the checked-in example configs are the ones the cases test", () => {
  it.each([
    ["seed.nginx.conf", "seed.case"],
    ["reference.nginx.conf", "reference.case"],
  ])("%s", (conf, name) => {
    const fromCase = parseCase(readFileSync(join(CASES, name), "utf8")).files.get("nginx.conf");
    expect(fromCase).toBe(readFileSync(join(import.meta.dirname, conf), "utf8"));
  });
});
