// One runtime: Node 24 or newer (package.json "engines"), because the sidecar runs its TypeScript directly. On an
// older Node, bin/openclaw-sidecar and `npm start` (its prestart) refuse with a sentence naming the version found and
// what to install — never Node's ERR_UNKNOWN_FILE_EXTENSION. Checked with a real old Node: Debian's /usr/bin/node
// (v20 on the CI machine). Without one the test is skipped locally and fails in CI.
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it } from "vitest";
import { describeTier } from "../helpers/tier.ts";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const OLD_NODE = "/usr/bin/node";
const MINIMUM = 24;
const major = (v: string) => Number(/^v?(\d+)\./.exec(v)?.[1] ?? 0);

const probe = spawnSync(OLD_NODE, ["--version"], { encoding: "utf8" });
const oldVersion = probe.status === 0 ? probe.stdout.trim() : "";
const missing =
  oldVersion === ""
    ? [`a Node older than ${MINIMUM} at ${OLD_NODE} (Debian package nodejs; not found)`]
    : major(oldVersion) >= MINIMUM
      ? [`a Node older than ${MINIMUM} at ${OLD_NODE} (it is ${oldVersion})`]
      : [];

const work = mkdtempSync(path.join(tmpdir(), "ocsc-runtime-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/**
 * A copy of the repo's bin/openclaw-sidecar in a directory with no node_modules (so no per-platform Node to fall back
 * to), run with PATH holding only the tools the script uses and, when given, `node` pointing at that binary.
 */
function runBin(node: string | undefined, args: string[] = ["--help"]) {
  const dir = mkdtempSync(path.join(work, "install-"));
  mkdirSync(path.join(dir, "bin"));
  copyFileSync(path.join(REPO, "bin/openclaw-sidecar"), path.join(dir, "bin/openclaw-sidecar"));
  chmodSync(path.join(dir, "bin/openclaw-sidecar"), 0o755);
  const tools = path.join(dir, "path");
  mkdirSync(tools);
  for (const t of ["dirname", "readlink"]) {
    const found = spawnSync("sh", ["-c", `command -v ${t}`], { encoding: "utf8" }).stdout.trim();
    symlinkSync(found, path.join(tools, t));
  }
  if (node !== undefined) symlinkSync(node, path.join(tools, "node"));
  const r = spawnSync("/bin/sh", [path.join(dir, "bin/openclaw-sidecar"), ...args], {
    env: { PATH: tools, HOME: work },
    encoding: "utf8",
    timeout: 30_000,
  });
  return { code: r.status, stderr: r.stderr, stdout: r.stdout, dir };
}

it(`package.json asks for Node >= ${MINIMUM}, and the scripts that check it say the same`, () => {
  const pkg = JSON.parse(readFileSync(path.join(REPO, "package.json"), "utf8")) as {
    engines: { node: string };
    scripts: Record<string, string>;
  };
  expect(pkg.engines.node).toBe(`>=${MINIMUM}`);
  expect(pkg.scripts.prestart).toBe("node scripts/require-node.js");
  expect(readFileSync(path.join(REPO, "scripts/require-node.js"), "utf8")).toContain(`major < ${MINIMUM}`);
  expect(readFileSync(path.join(REPO, "bin/openclaw-sidecar"), "utf8")).toContain(`-lt ${MINIMUM}`);
  expect(major(process.version), "this test runs on a supported Node").toBeGreaterThanOrEqual(MINIMUM);
});

it("with no node on PATH and none installed beside it, bin/openclaw-sidecar says so and exits 1", () => {
  const r = runBin(undefined);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(`openclaw-sidecar needs Node.js ${MINIMUM} or newer`);
  expect(r.stderr).toContain("found no node on PATH");
});

it("on the Node running this test, the same copy starts the CLI (the check lets a supported Node through)", () => {
  const r = runBin(process.execPath);
  // The copy has no src/: reaching Node's "Cannot find module …/src/cli.ts" means the check passed.
  expect(r.stderr).not.toContain("needs Node.js");
  expect(r.stderr).toMatch(/Cannot find module .*src\/cli\.ts/);
});

describeTier(`an older Node (${OLD_NODE})`, missing, () => {
  it("bin/openclaw-sidecar refuses it: names the version and path found and what to install, exit 1", () => {
    const r = runBin(OLD_NODE);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `openclaw-sidecar needs Node.js ${MINIMUM} or newer (it runs its TypeScript sources directly); found Node ${oldVersion} at ${r.dir}/path/node.`,
    );
    expect(r.stderr).toContain("Install Node.js 24 LTS or 26 LTS");
    expect(r.stderr).toContain("docker build -t openclaw-sidecar");
    expect(r.stderr).not.toContain("ERR_UNKNOWN_FILE_EXTENSION");
    expect(r.stdout).toBe("");
  });

  it("the check is needed: the same Node on src/cli.ts fails with Node's own, unhelpful error", () => {
    const r = spawnSync(OLD_NODE, [path.join(REPO, "src/cli.ts"), "--help"], { encoding: "utf8", timeout: 30_000 });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("ERR_UNKNOWN_FILE_EXTENSION");
  });

  it("the repo's own bin, with that Node first on PATH, falls back to the per-platform Node that npm ci installed", () => {
    const fallback = path.join(REPO, "node_modules/.bin/node");
    const r = spawnSync("/bin/sh", [path.join(REPO, "bin/openclaw-sidecar"), "--help"], {
      env: { PATH: `${path.dirname(OLD_NODE)}:/bin` },
      encoding: "utf8",
      timeout: 30_000,
    });
    if (spawnSync(fallback, ["--version"]).status !== 0) {
      expect(r.status, "no node_modules/.bin/node: refused").toBe(1);
      return;
    }
    expect(r.stderr).not.toContain("needs Node.js");
    expect(r.stdout).toMatch(/^usage: openclaw-sidecar/);
  });

  it("npm start's prestart (scripts/require-node.js) refuses it the same way, and lets a supported Node through", () => {
    const old = spawnSync(OLD_NODE, [path.join(REPO, "scripts/require-node.js")], { encoding: "utf8" });
    expect(old.status).toBe(1);
    expect(old.stderr).toContain(
      `openclaw-sidecar needs Node.js ${MINIMUM} or newer (it runs its TypeScript sources directly); found Node ${oldVersion} at `,
    );
    expect(old.stderr).toContain("Install Node.js 24 LTS or 26 LTS");
    const current = spawnSync(process.execPath, [path.join(REPO, "scripts/require-node.js")], { encoding: "utf8" });
    expect(current.status).toBe(0);
    expect(current.stderr).toBe("");
  });
});
