// The commands that run often must start fast: `healthcheck` is the image's Docker HEALTHCHECK (every 10 s, under a
// 3 s timeout, beside a busy proxy) and `check-config` runs in CI pipelines. Neither loads the proxy (src/proxy/) nor
// its heavy libraries — the ACME client, the JWT and OpenID libraries, the metrics registry — found by recording every
// module the real process resolves (node:module registerHooks). It once loaded all of them through the option
// parsers' imports, and a loaded machine's health check timed out (the Docker tier's init test saw it).
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it } from "vitest";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const dir = mkdtempSync(path.join(tmpdir(), "ocs-startup-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const HOOK = path.join(dir, "record-modules.mjs");
writeFileSync(
  HOOK,
  `import { registerHooks } from "node:module";
const seen = new Set();
registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); seen.add(r.url); return r; } });
process.on("exit", () => process.stderr.write("\\nRESOLVED " + JSON.stringify([...seen]) + "\\n"));
`,
);

/** The modules `openclaw-sidecar <args>` resolves, as repo-relative paths and package names. */
function modulesOf(args: string[]): string[] {
  const r = spawnSync(process.execPath, ["--import", HOOK, "src/cli.ts", ...args], {
    cwd: REPO,
    encoding: "utf8",
    // Nothing listens there: healthcheck exits 1, having loaded all it needs.
    env: { PATH: process.env.PATH ?? "", OPENCLAW_SIDECAR_ADMIN_LISTEN: "127.0.0.1:9" },
    timeout: 20_000,
  });
  const line = r.stderr.split("\n").find((l) => l.startsWith("RESOLVED "));
  expect(line, r.stderr).toBeDefined();
  const urls = JSON.parse((line as string).slice("RESOLVED ".length)) as string[];
  return urls.map((u) => {
    const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u);
    return pkg ? (pkg[1] as string) : u.replace(`file://${REPO}`, "");
  });
}

const HEAVY = ["acme-client", "jose", "openid-client", "prom-client", "axios"];

for (const args of [["healthcheck"], ["check-config"]]) {
  it(`\`${args.join(" ")}\` loads neither the proxy nor the ACME, JWT, OpenID or metrics libraries`, () => {
    const modules = modulesOf(args);
    expect(modules).toContain("src/options/config.ts"); // the recording works
    expect(modules.filter((m) => m.startsWith("src/proxy/"))).toEqual([]);
    expect(modules.filter((m) => HEAVY.includes(m))).toEqual([]);
  });
}

it("running the sidecar does load them (the check above can see them)", () => {
  // `--help`-free proof that the recorder sees a heavy library when one is loaded: the proxy module itself.
  const r = spawnSync(
    process.execPath,
    ["--import", HOOK, "-e", 'await import("./src/proxy/sidecar.ts")', "--input-type=module"],
    { cwd: REPO, encoding: "utf8", timeout: 20_000 },
  );
  expect(r.stderr).toMatch(/RESOLVED .*node_modules\/acme-client\//);
  expect(r.stderr).toMatch(/RESOLVED .*node_modules\/prom-client\//);
});
