// `openclaw-sidecar init` on real compose files: golden outputs for the official OpenClaw file (all three modes) and
// two variants users have (a custom host port with a hand-written JSON5 config, extra services with anchors and a
// network of their own); every refusal with its exact message; dry run; backups; secrets; all-or-nothing writes; and
// the real tools reading the result (`docker-compose config`, `openclaw config validate`).
// Regenerate the golden files after an intended change: UPDATE_GOLDEN=1 npx vitest run test/setup/init.test.ts (then
// read the diff of test/fixtures/init/*/expected before committing it).
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { JsonParser } from "@croct/json5-parser";
import { applyPatch } from "diff";
import { parse as parseYaml } from "yaml";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/options/config.ts";
import { gatewayConfig } from "../../src/setup/gateway-config.ts";
import { runInit } from "../../src/commands/init.ts";
import type { Engine } from "../../src/setup/docker-engine.ts";
import { NODE24, OPENCLAW_ENTRY, gatewayPrereqs } from "../gateway/gateway.ts";
import { describeTier } from "../helpers/tier.ts";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const FIXTURES = path.join(REPO, "test/fixtures/init");
const BUILD = "none"; // --sidecar-build: no `build:` (its default is this checkout, whose path the golden files must not depend on)
const update = process.env.UPDATE_GOLDEN === "1";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) {
    spawnSync("chattr", ["-R", "-i", d], { stdio: "ignore" });
    rmSync(d, { recursive: true, force: true });
  }
});

/** A user's project: the fixture's compose file, its openclaw.json under config/, and a .env naming that dir. */
function project(
  fixture: string,
  dotEnv = "OPENCLAW_CONFIG_DIR=./config\n",
): { dir: string; compose: string; config: string } {
  const dir = mkdtempSync(path.join(tmpdir(), "ocsc-init-"));
  dirs.push(dir);
  mkdirSync(path.join(dir, "config"));
  cpSync(path.join(FIXTURES, fixture, "docker-compose.yml"), path.join(dir, "docker-compose.yml"));
  cpSync(path.join(FIXTURES, fixture, "openclaw.json"), path.join(dir, "config/openclaw.json"));
  writeFileSync(path.join(dir, ".env"), dotEnv);
  return { dir, compose: path.join(dir, "docker-compose.yml"), config: path.join(dir, "config/openclaw.json") };
}

/** An engine with only its default bridge and a generous descriptor limit: the golden files' engine. */
const ROOMY: Engine = {
  reachable: true,
  host: "unix:///var/run/docker.sock",
  subnets: [{ subnet: "172.17.0.0/16", by: 'engine network "bridge"' }],
  nofile: { limit: 1048576, source: "dockerd pid 42, /proc/42/limits" },
};

/** runInit in-process, isolated from this process's environment and from this machine's Docker engine. */
function init(compose: string, ...args: string[]): { code: number; out: string; err: string } {
  return initOn(ROOMY, compose, ...args);
}
function initOn(engine: Engine, compose: string, ...args: string[]): { code: number; out: string; err: string } {
  let out = "";
  let err = "";
  const code = runInit(
    ["--compose", compose, "--sidecar-build", BUILD, ...args],
    { write: (s: string) => (out += s) },
    { write: (s: string) => (err += s) },
    {},
    new Date("2026-11-24T10:15:00Z"),
    () => engine,
  );
  return { code, out, err };
}

/** Every file under `dir` with its bytes: to show that nothing changed. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) {
      const file = path.join(entry.parentPath, entry.name);
      out[path.relative(dir, file)] = readFileSync(file, "utf8");
    }
  }
  return out;
}

function golden(actual: string, file: string): void {
  if (update) {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, actual);
  }
  expect(actual, `${path.relative(REPO, file)} (UPDATE_GOLDEN=1 regenerates it)`).toBe(readFileSync(file, "utf8"));
}

const json5 = (text: string): Record<string, unknown> => JsonParser.parse(text).toJSON() as Record<string, unknown>;
const hasCompose = spawnSync("docker-compose", ["version"], { stdio: "ignore" }).status === 0;

const CASES = [
  { fixture: "official", mode: "identity", origin: "http://localhost:18789" },
  { fixture: "official", mode: "attribution", origin: "http://localhost:18789" },
  { fixture: "official", mode: "local", origin: "http://localhost:18789" },
  { fixture: "custom-port", mode: "identity", origin: "http://localhost:8080" },
  { fixture: "extra-service", mode: "identity", origin: "http://localhost:18789" },
] as const;

describe("init: golden outputs", () => {
  for (const { fixture, mode, origin } of CASES) {
    it(`${fixture} in ${mode} mode: compose and openclaw.json as in expected/${mode}, originals backed up, secrets 0600`, () => {
      const p = project(fixture);
      const before = snapshot(p.dir);
      const r = init(p.compose, "--mode", mode);
      expect(r.err).toBe("");
      expect(r.code).toBe(0);
      const compose = readFileSync(p.compose, "utf8");
      const config = readFileSync(p.config, "utf8");
      golden(compose, path.join(FIXTURES, fixture, "expected", mode, "docker-compose.yml"));
      golden(config, path.join(FIXTURES, fixture, "expected", mode, "openclaw.json"));

      // Backups first: byte for byte the files as they were.
      expect(readFileSync(`${p.compose}.bak-20261124T101500Z`, "utf8")).toBe(before["docker-compose.yml"]);
      expect(readFileSync(`${p.config}.bak-20261124T101500Z`, "utf8")).toBe(before["config/openclaw.json"]);
      expect(r.out).toContain(`backup: ${p.compose}.bak-20261124T101500Z`);

      // The gateway block is print-gateway-config's, for the origin users open.
      const gw = json5(config).gateway as Record<string, unknown>;
      expect((gw.controlUi as { allowedOrigins: string[] }).allowedOrigins).toContain(origin);
      const services = (parseYaml(compose) as { services: Record<string, Record<string, unknown>> }).services;
      const sidecar = services["openclaw-sidecar"] as Record<string, unknown>;
      expect(sidecar).toBeDefined();
      if (mode !== "local") {
        const port = new URL(origin).port;
        expect(gw.trustedProxies).toEqual(["10.119.0.10/32"]);
        expect(gw.bind).toBe("lan");
        expect(services["openclaw-gateway"]?.ports).toBeUndefined();
        expect((sidecar.ports as string[])[0]).toMatch(
          new RegExp(`^127\\.0\\.0\\.1:(${port}|\\$\\{OPENCLAW_GATEWAY_PORT:-${port}\\}):18789$`),
        );
      } else {
        expect(gw.bind).toBe("loopback");
        expect(sidecar.network_mode).toBe("service:openclaw-gateway");
        expect(services["openclaw-gateway"]?.ports).toEqual(["127.0.0.1:${OPENCLAW_GATEWAY_PORT:-18789}:18790"]);
      }
      expect(services["openclaw-cli"]?.network_mode).toBe("service:openclaw-gateway");

      if (mode === "identity") {
        const expected = gatewayConfig({
          config: loadConfig({ flags: { "--mode": "identity", "--token": "x".repeat(32) } }),
          sidecarAddress: "10.119.0.10",
        }).gateway as { auth: Record<string, unknown> };
        const auth = gw.auth as Record<string, unknown>;
        expect(auth.mode).toBe("trusted-proxy");
        expect(auth.token).toBeUndefined(); // the gateway refuses trusted-proxy with a shared token
        expect(auth.trustedProxy).toEqual(expected.auth.trustedProxy);
        expect(auth.password).toBe("${OPENCLAW_GATEWAY_PASSWORD}");
        const secrets = path.join(p.dir, "openclaw-sidecar");
        expect(statSync(secrets).mode & 0o777).toBe(0o700);
        for (const name of ["token", "cookie-secret", "gateway.env"])
          expect(statSync(path.join(secrets, name)).mode & 0o777, name).toBe(0o600);
        expect(readFileSync(path.join(secrets, "token"), "utf8")).toMatch(/^[0-9a-f]{64}\n$/);
        expect(readFileSync(path.join(secrets, "cookie-secret"), "utf8")).toMatch(/^[0-9a-f]{64}\n$/);
        expect(readFileSync(path.join(secrets, "gateway.env"), "utf8")).toMatch(
          /^OPENCLAW_GATEWAY_PASSWORD=[0-9a-f]{64}\n$/,
        );
        // Read by the sidecar's user (uid 1000) inside its container.
        if (process.getuid?.() === 0) expect(statSync(path.join(secrets, "token")).uid).toBe(1000);
        // Every file the compose file mounts or reads exists.
        for (const v of sidecar.volumes as string[])
          expect(existsSync(path.join(p.dir, v.split(":")[0] as string)), v).toBe(true);
        expect(JSON.stringify(services["openclaw-gateway"]?.environment)).not.toContain("OPENCLAW_GATEWAY_TOKEN");
        expect(services["openclaw-gateway"]?.env_file).toContain("./openclaw-sidecar/gateway.env");
        expect(r.out).toContain(
          `then open the dashboard once with your token: ${origin}/?token=$(cat ${secrets}/token)`,
        );
      } else {
        expect(existsSync(path.join(p.dir, "openclaw-sidecar"))).toBe(mode === "local"); // local: the cookie secret
      }

      if (hasCompose) {
        // The real Compose (v1, this machine's) reads the result, its .env and env files included.
        const check = spawnSync("docker-compose", ["-f", p.compose, "config", "-q"], {
          cwd: p.dir,
          encoding: "utf8",
          env: { ...process.env, OPENCLAW_CONFIG_DIR: "./config", OPENCLAW_WORKSPACE_DIR: "./workspace" },
        });
        expect(
          check.stderr.replace(/^(?:WARNING: )?The \S+ variable is not set\. Defaulting to a blank string\.\n/gm, ""),
        ).toBe("");
        expect(check.status).toBe(0);
      }
    });
  }

  it("keeps every comment of the official file (the long NOTE on the gateway) and the order of its keys", () => {
    const p = project("official");
    const original = readFileSync(p.compose, "utf8");
    expect(init(p.compose, "--mode", "identity").code).toBe(0);
    const after = readFileSync(p.compose, "utf8");
    for (const line of original.split("\n").filter((l) => l.trim().startsWith("#"))) expect(after).toContain(line);
    const keys = (text: string): string[] =>
      Object.keys((parseYaml(text) as { services: Record<string, object> }).services["openclaw-gateway"] as object);
    expect(keys(after).filter((k) => keys(original).includes(k))).toEqual(keys(original).filter((k) => k !== "ports"));
  });

  it("the host port comes from OPENCLAW_GATEWAY_PORT in .env, as Compose will see it", () => {
    const p = project("official", "OPENCLAW_CONFIG_DIR=./config\nOPENCLAW_GATEWAY_PORT=28789\n");
    expect(init(p.compose, "--mode", "identity").code).toBe(0);
    const gw = json5(readFileSync(p.config, "utf8")).gateway as { controlUi: { allowedOrigins: string[] } };
    expect(gw.controlUi.allowedOrigins).toEqual([
      "http://localhost:18789",
      "http://127.0.0.1:18789",
      "http://localhost:28789",
      "http://127.0.0.1:28789",
    ]);
    expect(readFileSync(p.compose, "utf8")).toContain(`- "127.0.0.1:\${OPENCLAW_GATEWAY_PORT:-18789}:18789"`);
  });

  it("--public-origin goes to the sidecar and to the gateway's allowedOrigins", () => {
    const p = project("official");
    expect(init(p.compose, "--mode", "identity", "--public-origin", "https://claw.example.com").code).toBe(0);
    const gw = json5(readFileSync(p.config, "utf8")).gateway as { controlUi: { allowedOrigins: string[] } };
    expect(gw.controlUi.allowedOrigins).toContain("https://claw.example.com");
    const services = (
      parseYaml(readFileSync(p.compose, "utf8")) as {
        services: Record<string, { environment: Record<string, string> }>;
      }
    ).services;
    expect(services["openclaw-sidecar"]?.environment.OPENCLAW_SIDECAR_PUBLIC_ORIGIN).toBe("https://claw.example.com");
  });
});

describe("init: fits the Docker engine it can reach (issue 25 §6)", () => {
  type Sidecar = { ulimits?: { nofile: number }; networks: Record<string, { ipv4_address?: string }> };
  const written = (p: { compose: string; config: string }) => {
    const doc = parseYaml(readFileSync(p.compose, "utf8")) as {
      services: Record<string, Sidecar>;
      networks: Record<string, { ipam?: { config: Array<{ subnet: string }> } }>;
    };
    return {
      sidecar: doc.services["openclaw-sidecar"] as Sidecar,
      subnet: doc.networks["openclaw-sidecar-internal"]?.ipam?.config[0]?.subnet,
      trustedProxies: (json5(readFileSync(p.config, "utf8")).gateway as { trustedProxies: string[] }).trustedProxies,
    };
  };

  it("an engine network on the default 10.119.0.0/24: the next free /24, the sidecar's address and trustedProxies with it, and a note", () => {
    const p = project("official");
    const engine: Engine = {
      ...ROOMY,
      subnets: [
        ...(ROOMY.reachable ? ROOMY.subnets : []),
        { subnet: "10.119.0.0/23", by: 'engine network "other_default"' },
      ],
    };
    const r = initOn(engine, p.compose, "--mode", "identity");
    expect(r.code).toBe(0);
    const w = written(p);
    expect(w.subnet).toBe("10.119.2.0/24");
    expect(w.sidecar.networks["openclaw-sidecar-internal"]?.ipv4_address).toBe("10.119.2.10");
    expect(w.trustedProxies).toEqual(["10.119.2.10/32"]);
    expect(readFileSync(p.compose, "utf8")).toContain("# (10.119.2.10) is the gateway's only trustedProxies entry");
    expect(r.out).toContain(
      '  internal network 10.119.2.0/24 (sidecar 10.119.2.10), not the default 10.119.0.0/24, which is taken (engine network "other_default" holds 10.119.0.0/23).\n',
    );
  });

  it("a network of the compose file itself on the default subnet counts as taken too", () => {
    const p = project("extra-service");
    writeFileSync(
      p.compose,
      readFileSync(p.compose, "utf8").replace(
        "  signal-net: {} # only the gateway and signal-cli\n",
        "  signal-net:\n    ipam:\n      config:\n        - subnet: 10.119.0.0/24\n",
      ),
    );
    const r = initOn(ROOMY, p.compose, "--mode", "identity");
    expect(r.code).toBe(0);
    expect(written(p).subnet).toBe("10.119.1.0/24");
    expect(r.out).toContain('which is taken (network "signal-net" of the compose file holds 10.119.0.0/24)');
  });

  it("the default subnet free: kept, and the note says it was checked", () => {
    const p = project("official");
    const r = initOn(ROOMY, p.compose, "--mode", "attribution");
    expect(written(p).subnet).toBe("10.119.0.0/24");
    expect(r.out).toContain(
      "  internal network 10.119.0.0/24 (sidecar 10.119.0.10): free on the engine (unix:///var/run/docker.sock) and in the compose file.\n",
    );
    expect(r.out).toContain(
      "  ulimits.nofile 65536 for the sidecar: the engine allows up to 1048576 (dockerd pid 42, /proc/42/limits).\n",
    );
  });

  it("an engine whose hard descriptor limit is below 65,536 (runc: error setting rlimit type 7): its limit, and why", () => {
    const p = project("official");
    const r = initOn({ ...ROOMY, nofile: { limit: 20000, source: "dockerd pid 7, /proc/7/limits" } }, p.compose);
    expect(r.code).toBe(0);
    expect(written(p).sidecar.ulimits).toEqual({ nofile: 20000 });
    expect(r.out).toContain(
      `  ulimits.nofile 20000 for the sidecar, not 65536: the engine's hard limit is 20000 (dockerd pid 7, /proc/7/limits) and a container cannot exceed it ("error setting rlimit type 7")`,
    );
  });

  it("an engine limit no better than the default 1,024: ulimits left out, with a note", () => {
    const p = project("official");
    const r = initOn({ ...ROOMY, nofile: { limit: 1024, source: "dockerd pid 7, /proc/7/limits" } }, p.compose);
    expect(r.code).toBe(0);
    expect(written(p).sidecar.ulimits).toBeUndefined();
    expect(r.out).toContain("  ulimits.nofile left out: the engine's hard limit is 1024");
  });

  it("no engine to ask: the defaults, and notes saying they were not checked and what to do if `up` fails", () => {
    const p = project("official");
    const r = initOn(
      { reachable: false, reason: "no Docker engine to ask (DOCKER_HOST unset, no /var/run/docker.sock)" },
      p.compose,
      "--dry-run",
    );
    expect(r.code).toBe(0);
    expect(r.out).toContain(
      "note: internal network 10.119.0.0/24 (sidecar 10.119.0.10): free in the compose file; not checked against the engine's networks (no Docker engine to ask (DOCKER_HOST unset, no /var/run/docker.sock)).\n",
    );
    expect(r.out).toContain(
      `note: ulimits.nofile 65536 for the sidecar, not checked: no Docker engine to ask (DOCKER_HOST unset, no /var/run/docker.sock); if \`up\` fails with "error setting rlimit type 7", set it to the engine's \`ulimit -Hn\` or remove it.\n`,
    );
  });

  it("local mode pins nothing on the engine and does not ask it", () => {
    const p = project("official");
    let asked = false;
    const code = runInit(
      ["--compose", p.compose, "--sidecar-build", BUILD, "--mode", "local"],
      { write: () => true },
      { write: () => true },
      {},
      new Date(),
      () => {
        asked = true;
        return ROOMY;
      },
    );
    expect(code).toBe(0);
    expect(asked).toBe(false);
  });
});

describe("init: --public-base-path (serving under a path prefix)", () => {
  type Services = Record<string, { environment: Record<string, string> }>;
  const written = (p: { compose: string; config: string }) => ({
    sidecarEnv: (parseYaml(readFileSync(p.compose, "utf8")) as { services: Services }).services["openclaw-sidecar"]
      ?.environment as Record<string, string>,
    controlUi: (json5(readFileSync(p.config, "utf8")).gateway as { controlUi: Record<string, unknown> }).controlUi,
  });

  it("official file, identity mode, /claw/: as in expected/identity-base-path; the prefix in both files and the URL, no publicPaths", () => {
    const p = project("official");
    const r = init(p.compose, "--mode", "identity", "--public-base-path", "/claw/");
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    golden(
      readFileSync(p.compose, "utf8"),
      path.join(FIXTURES, "official/expected/identity-base-path/docker-compose.yml"),
    );
    golden(readFileSync(p.config, "utf8"), path.join(FIXTURES, "official/expected/identity-base-path/openclaw.json"));
    const { sidecarEnv, controlUi } = written(p);
    expect(sidecarEnv.OPENCLAW_SIDECAR_PUBLIC_BASE_PATH).toBe("/claw"); // the trailing "/" dropped, as the option does
    // Under a prefix the gateway's /healthz is not reachable through the sidecar: no public path that would only
    // serve the Control UI page without a login.
    expect(sidecarEnv.OPENCLAW_SIDECAR_PUBLIC_PATHS).toBeUndefined();
    expect(controlUi.basePath).toBe("/claw");
    expect(controlUi.allowedOrigins).toEqual(["http://localhost:18789", "http://127.0.0.1:18789"]);
    expect(r.out).toContain("  no publicPaths under --public-base-path: the gateway's /healthz stays at its root");
    expect(r.out).toContain(
      `then open the dashboard once with your token: http://localhost:18789/claw/?token=$(cat ${p.dir}/openclaw-sidecar/token)`,
    );
    // What init wrote for the sidecar is a configuration the sidecar accepts, with the same prefix.
    const { OPENCLAW_SIDECAR_TOKEN_FILE: _t, OPENCLAW_SIDECAR_COOKIE_SECRET_FILE: _c, ...env } = sidecarEnv;
    const sidecar = loadConfig({ env, flags: { "--token": "x".repeat(32), "--cookie-secret": "c".repeat(32) } });
    expect(sidecar.publicBasePath).toBe("/claw");
    expect(sidecar.publicPaths).toEqual([]);
  });

  for (const mode of ["attribution", "local"] as const) {
    it(`${mode} mode: the same prefix for the sidecar and the gateway, no publicPaths`, () => {
      const p = project("official");
      const r = init(p.compose, "--mode", mode, "--public-base-path", "/team/claw");
      expect(r.err).toBe("");
      expect(r.code).toBe(0);
      const { sidecarEnv, controlUi } = written(p);
      expect(sidecarEnv.OPENCLAW_SIDECAR_PUBLIC_BASE_PATH).toBe("/team/claw");
      expect(sidecarEnv.OPENCLAW_SIDECAR_PUBLIC_PATHS).toBeUndefined();
      expect(controlUi.basePath).toBe("/team/claw");
      for (const o of controlUi.allowedOrigins as string[]) expect(new URL(o).origin).toBe(o);
      expect(r.out).toContain("\nthen open the dashboard: http://localhost:18789/team/claw/");
    });
  }

  it("without it (or with /, the root): no basePath, and the /healthz public path as before", () => {
    for (const args of [[], ["--public-base-path", "/"]]) {
      const p = project("official");
      expect(init(p.compose, "--mode", "identity", ...args).code).toBe(0);
      const { sidecarEnv, controlUi } = written(p);
      expect(sidecarEnv.OPENCLAW_SIDECAR_PUBLIC_BASE_PATH).toBeUndefined();
      expect(sidecarEnv.OPENCLAW_SIDECAR_PUBLIC_PATHS).toBe("/healthz");
      expect(controlUi.basePath).toBeUndefined();
    }
  });

  it("with --public-origin: the URL is the origin and the prefix, allowedOrigins the origin alone", () => {
    const p = project("official");
    const r = init(
      p.compose,
      "--mode",
      "identity",
      "--public-origin",
      "https://claw.example.com",
      "--public-base-path",
      "/claw",
    );
    expect(r.code).toBe(0);
    const { sidecarEnv, controlUi } = written(p);
    expect(sidecarEnv.OPENCLAW_SIDECAR_PUBLIC_ORIGIN).toBe("https://claw.example.com");
    expect(controlUi.allowedOrigins).toEqual([
      "http://localhost:18789",
      "http://127.0.0.1:18789",
      "https://claw.example.com",
    ]);
    expect(r.out).toContain("then open the dashboard once with your token: https://claw.example.com/claw/?token=");
  });

  it("an existing gateway.controlUi.basePath is replaced, with a note", () => {
    const p = project("official");
    writeFileSync(
      p.config,
      readFileSync(p.config, "utf8").replace('"controlUi": {', '"controlUi": {\n      "basePath": "/old",'),
    );
    const r = init(p.compose, "--mode", "attribution", "--public-base-path", "/claw");
    expect(r.code).toBe(0);
    expect(written(p).controlUi.basePath).toBe("/claw");
    expect(r.out).toContain(`  gateway.controlUi.basePath "/old" replaced by "/claw" (--public-base-path).\n`);
  });

  for (const [value, shown] of [
    ["claw", '"claw"'],
    ["/claw/../admin", '"/claw/../admin"'],
    ["/claw%2f", '"/claw%2f"'],
    ["//claw", '"//claw"'],
  ] as const) {
    it(`a bad value (${value}): the option's own message, exit 2, nothing written`, () => {
      const p = project("official");
      const before = snapshot(p.dir);
      const r = init(p.compose, "--mode", "identity", "--public-base-path", value);
      expect(r).toEqual({
        code: 2,
        out: "",
        err: `openclaw-sidecar init: --public-base-path: ${shown} must be a path prefix such as /claw: starting with /, segments of A-Z a-z 0-9 . _ ~ - only (no empty, . or .. segment, no %, ?, #)\n`,
      });
      expect(snapshot(p.dir)).toEqual(before);
    });
  }

  it("--dry-run shows the prefix in both diffs and the note, and writes nothing", () => {
    const p = project("official");
    const before = snapshot(p.dir);
    const r = init(p.compose, "--mode", "local", "--public-base-path", "/claw", "--dry-run");
    expect(r.code).toBe(0);
    expect(snapshot(p.dir)).toEqual(before);
    expect(r.out).toContain("+      OPENCLAW_SIDECAR_PUBLIC_BASE_PATH: /claw\n");
    expect(r.out).not.toContain("OPENCLAW_SIDECAR_PUBLIC_PATHS");
    expect(r.out).toMatch(/^\+ +"basePath": "\/claw",?$/m);
    expect(r.out).toContain("note: no publicPaths under --public-base-path");
  });

  it("--help lists it", () => {
    const r = init("unused", "--help");
    expect(r.code).toBe(0);
    expect(r.out).toContain("[--public-base-path /PATH]");
  });
});

describe("init: --dry-run", () => {
  it("prints the unified diff of both files and the secrets it would create, and writes nothing", () => {
    const p = project("official");
    const before = snapshot(p.dir);
    const r = init(p.compose, "--mode", "identity", "--dry-run");
    expect(r.code).toBe(0);
    expect(snapshot(p.dir)).toEqual(before);
    expect(r.out).toContain(`--- ${p.compose}\tbefore init\n+++ ${p.compose}\tafter init\n`);
    expect(r.out).toContain(`--- ${p.config}\tbefore init\n+++ ${p.config}\tafter init\n`);
    expect(r.out).toContain(`-      - "\${OPENCLAW_GATEWAY_PORT:-18789}:18789"\n`);
    expect(r.out).toContain(`+  openclaw-sidecar:\n`);
    expect(r.out).toContain(`+      "mode": "trusted-proxy",\n`);
    expect(r.out).toContain(`would create, with new random secrets:\n  ${p.dir}/openclaw-sidecar/token (0600)\n`);
    // The printed diff is exactly the change a real run makes.
    const [composePatch, configPatch] = r.out.split(/(?=^Index: )/m);
    expect(init(p.compose, "--mode", "identity").code).toBe(0);
    expect(readFileSync(p.compose, "utf8")).toBe(
      applyPatch(before["docker-compose.yml"] as string, composePatch as string),
    );
    expect(readFileSync(p.config, "utf8")).toBe(
      applyPatch(
        before["config/openclaw.json"] as string,
        (configPatch as string).replace(/\nwould create[\s\S]*$/, "\n"),
      ),
    );
  });
});

describe("init: refusals (nothing written, exit 1, the exact reason)", () => {
  const refused = (p: { dir: string; compose: string }, args: string[], message: string): void => {
    const before = snapshot(p.dir);
    const r = init(p.compose, ...args);
    expect(r.err).toBe(`openclaw-sidecar init: refused, nothing written: ${message}\n`);
    expect(r.code).toBe(1);
    expect(r.out).toBe("");
    expect(snapshot(p.dir)).toEqual(before);
  };

  it("a gateway service it cannot find", () => {
    const p = project("official");
    refused(
      p,
      ["--gateway-service", "gateway"],
      `${p.compose} has no service "gateway" (services: openclaw-gateway, openclaw-cli); name yours with --gateway-service NAME.`,
    );
  });

  it("an environment shared through an anchor (removing the token there would change the other service too)", () => {
    const p = project("official");
    const text = readFileSync(p.compose, "utf8")
      .replace(
        "  openclaw-gateway:\n    image: ${OPENCLAW_IMAGE:-openclaw:local}\n    environment:",
        "  openclaw-gateway:\n    image: ${OPENCLAW_IMAGE:-openclaw:local}\n    environment: &env",
      )
      .replace(/( {2}openclaw-cli:\n {4}image: .*\n) {4}environment:\n(?: {6}.*\n)+/, "$1    environment: *env\n");
    writeFileSync(p.compose, text);
    refused(
      p,
      ["--mode", "identity"],
      `${p.compose}: services.openclaw-gateway.environment carries the anchor &env, which other places alias; init would change them too. Write it out in full, then run init again.`,
    );
  });

  it("ports that come from a `<<:` merge of a shared anchor", () => {
    const p = project("custom-port");
    const text = readFileSync(p.compose, "utf8")
      .replace("services:\n", 'x-published: &published\n  ports:\n    - "8080:18789"\n\nservices:\n')
      .replace('    ports:\n      - "8080:18789" # the dashboard\n', "    <<: *published\n");
    writeFileSync(p.compose, text);
    refused(
      p,
      ["--mode", "identity"],
      `${p.compose}: services.openclaw-gateway.ports comes from a \`<<:\` merge of a shared anchor; init would have to change every service that merges it. Copy ports into openclaw-gateway itself, then run init again.`,
    );
  });

  it("a gateway already in another auth mode", () => {
    const p = project("custom-port");
    writeFileSync(
      p.config,
      readFileSync(p.config, "utf8").replace(
        "mode: 'token', // the token comes from the environment",
        "mode: 'password',",
      ),
    );
    refused(
      p,
      ["--mode", "identity"],
      `${p.config}: gateway.auth.mode is "password"; init only converts a gateway in token auth (what the official setup writes) and will not replace another auth mode. Set it back to "token", or apply the block from \`openclaw-sidecar print-gateway-config --mode identity\` by hand.`,
    );
  });

  it("local mode with a literal gateway token shorter than the sidecar accepts", () => {
    const p = project("official");
    writeFileSync(p.config, readFileSync(p.config, "utf8").replace(/"token": \{[^}]*\}/, '"token": "short-secret"'));
    refused(
      p,
      ["--mode", "local"],
      `${p.config}: gateway.auth.token: the token is 12 characters; a token must be at least 16 characters (a short one can be guessed): make one with \`openssl rand -hex 32\``,
    );
  });

  it("a file init has already changed", () => {
    const p = project("official");
    expect(init(p.compose, "--mode", "identity").code).toBe(0);
    refused(
      p,
      ["--mode", "identity"],
      `${p.compose} already has a service "openclaw-sidecar": init has been run on it (its backups end in .bak-…). Restore a backup to run it again.`,
    );
  });

  it("a secrets directory that already exists", () => {
    const p = project("official");
    mkdirSync(path.join(p.dir, "openclaw-sidecar"));
    writeFileSync(path.join(p.dir, "openclaw-sidecar/token"), "mine\n");
    refused(
      p,
      ["--mode", "identity"],
      `${p.dir}/openclaw-sidecar already exists; init writes new secrets there and will not overwrite any. Move it away first.`,
    );
  });

  it("a gateway config it cannot locate (OPENCLAW_CONFIG_DIR unset)", () => {
    const p = project("official", "");
    refused(
      p,
      ["--mode", "identity"],
      `cannot tell where the gateway config is: services.openclaw-gateway.volumes mounts "\${OPENCLAW_CONFIG_DIR}", which has no value here (set it in the environment or in ${p.dir}/.env), or pass --gateway-config FILE.`,
    );
  });

  it("a CLI service with networks of its own (it cannot join the gateway's namespace)", () => {
    const p = project("custom-port");
    writeFileSync(
      p.compose,
      readFileSync(p.compose, "utf8").replace(
        "    stdin_open: true\n",
        "    networks: [default]\n    stdin_open: true\n",
      ),
    );
    refused(
      p,
      ["--mode", "identity"],
      `${p.compose}: services.openclaw-cli has networks:, which cannot be combined with network_mode: service:openclaw-gateway (how the CLI reaches the gateway once its port is not published). Remove it, or pass --cli-service for another service.`,
    );
  });

  it("a network name init would add", () => {
    const p = project("extra-service");
    writeFileSync(
      p.compose,
      readFileSync(p.compose, "utf8").replace(
        "  signal-net: {} # only the gateway and signal-cli\n",
        "  openclaw-sidecar-internal: {}\n",
      ),
    );
    refused(
      p,
      ["--mode", "identity"],
      `${p.compose} already defines a network "openclaw-sidecar-internal"; init adds it. Remove it first.`,
    );
  });

  it("an engine whose networks hold every /24 of the range", () => {
    const p = project("official");
    const full: Engine = { ...ROOMY, subnets: [{ subnet: "10.119.0.0/16", by: 'engine network "wide"' }] };
    const before = snapshot(p.dir);
    const r = initOn(full, p.compose, "--mode", "identity");
    expect(r.err).toBe(
      'openclaw-sidecar init: refused, nothing written: every /24 of 10.119.0.0/16, the range init pins the sidecar in, is taken (engine network "wide" holds 10.119.0.0/16); remove a network or edit the subnet by hand.\n',
    );
    expect(r.code).toBe(1);
    expect(snapshot(p.dir)).toEqual(before);
  });

  it("usage errors exit 2", () => {
    const p = project("official");
    const r = init(p.compose, "--mode", "trusted");
    expect(r).toEqual({
      code: 2,
      out: "",
      err: `openclaw-sidecar init: --mode must be one of attribution, identity, local (got "trusted")\n`,
    });
  });
});

describe("init: never half-writes", () => {
  const canChattr = spawnSync("chattr", ["--help"], { stdio: "ignore" }).status !== null && process.getuid?.() === 0;
  it.skipIf(!canChattr)(
    "a config directory it cannot write to (immutable): the compose file stays as it was, no backup, temp file or secret left",
    () => {
      const p = project("official");
      const before = snapshot(p.dir);
      // Even root cannot create files in an immutable directory: the config's temp file fails after the compose
      // file's backup and temp file were made.
      expect(spawnSync("chattr", ["+i", path.join(p.dir, "config")]).status).toBe(0);
      const r = init(p.compose, "--mode", "identity");
      expect(r.code).toBe(1);
      expect(r.err).toMatch(
        /^openclaw-sidecar init: failed, nothing written: EPERM: operation not permitted, copyfile '.*openclaw\.json' -> '.*openclaw\.json\.bak-20261124T101500Z'\n$/,
      );
      expect(snapshot(p.dir)).toEqual(before);
    },
  );
});

describe("init: through the real command line", () => {
  it("`node src/cli.ts init --dry-run` dispatches to init and prints the diff", () => {
    const p = project("official");
    const r = spawnSync(NODE24, [path.join(REPO, "src/cli.ts"), "init", "--compose", p.compose, "--dry-run"], {
      encoding: "utf8",
      env: { PATH: process.env.PATH ?? "" },
      timeout: 30_000,
    });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`+    build: ${REPO.replace(/\/$/, "")}\n`); // default: build the sidecar from this checkout
  });
});

describeTier("real openclaw: `openclaw config validate` accepts what init wrote", gatewayPrereqs(), () => {
  const validate = (config: string, home: string): { status: number | null; out: string } => {
    const r = spawnSync(NODE24, [OPENCLAW_ENTRY, "config", "validate", "--json"], {
      encoding: "utf8",
      timeout: 60_000,
      env: {
        PATH: process.env.PATH ?? "",
        HOME: home,
        OPENCLAW_CONFIG_PATH: config,
        OPENCLAW_GATEWAY_PASSWORD: "p".repeat(64),
        OPENCLAW_GATEWAY_TOKEN: "t".repeat(64),
      },
    });
    return { status: r.status, out: r.stdout + r.stderr };
  };
  for (const mode of ["identity", "attribution", "local"] as const) {
    it(`${mode} mode on the official file`, () => {
      const p = project("official");
      expect(init(p.compose, "--mode", mode).code).toBe(0);
      const r = validate(p.config, p.dir);
      expect(r.out).toMatch(/"valid": ?true/);
      expect(r.status).toBe(0);
    }, 60_000);
  }
  it("and rejects a config that is not valid (so the check above means something)", () => {
    const p = project("official");
    expect(init(p.compose, "--mode", "identity").code).toBe(0);
    writeFileSync(p.config, readFileSync(p.config, "utf8").replace('"userHeader"', '"userHeaderTypo"'));
    chmodSync(p.config, 0o600);
    const r = validate(p.config, p.dir);
    expect(r.out).toMatch(/"valid": ?false/);
    expect(r.status).not.toBe(0);
  }, 60_000);
});
