// `openclaw-sidecar init` end to end, as a user would run it: the official OpenClaw compose file (the fixture copy of
// openclaw/openclaw's docker-compose.yml) and an openclaw.json written by the real `openclaw onboard` + `config set`
// of the official Docker setup; `init --mode identity`; `docker-compose up -d`; then the real Control UI in headless
// Chromium opens the published port with the sidecar token and reaches hello-ok — no pairing, no approval. The gateway
// is the real openclaw@2026.9.6 laid out like the official image (official-layout.Dockerfile), so the compose file's
// own `node dist/index.js gateway …` runs unchanged. Nothing is added to what init writes: it reads this sandbox's
// engine itself (issue 25 §6) — the descriptor limit (dockerd's hard limit is 20,000 here, below the 65,536 it wants)
// and the networks, after churn that left Docker's default pools handed out once and a network on the old pinned
// 172.30.0.0/16, plus one on init's default 10.119.0.0/24 — and `up` works first time.
// Run: PATH=$PWD/node_modules/.bin:$PATH flock /tmp/ocsc-real-tier.lock npx vitest run test/container/init.test.ts
import { randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import { chownSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { controlUiPrereqs, launchControlUi } from "../gateway/control-ui.ts";
import { NODE24 } from "../gateway/gateway.ts";
import { freePort } from "../helpers/net.ts";
import { describeTier } from "../helpers/tier.ts";
import {
  GATEWAY_IMAGE,
  REPO,
  SIDECAR_IMAGE,
  buildGatewayImage,
  buildSidecarImage,
  configureReaper,
  containerLogs,
  docker,
  dockerPrereqs,
  waitHealthy,
} from "./images.ts";

const OFFICIAL_LAYOUT_IMAGE = "openclaw-gateway-official-layout:2026.9.6";
const PROJECT = `ocscinit${process.pid}`;
/** A name for this process's own (the host's) network namespace, so that control-ui.ts can start Chromium "in" it. */
const HOST_NS = `ocsc-root-${process.pid}`;
const composeMissing =
  spawnSync("docker-compose", ["version"], { stdio: "ignore" }).status === 0
    ? []
    : ["docker-compose (Debian package docker-compose)"];
const netnsMissing =
  spawnSync("ip", ["netns", "list"], { stdio: "ignore" }).status === 0 && process.getuid?.() === 0
    ? []
    : ["root and iproute2 (`ip netns attach`)"];

/** `docker-compose -p PROJECT <args>` in the user's project directory. */
function compose(
  dir: string,
  args: string[],
  timeout = 300_000,
): { status: number | null; out: string; stdout: string } {
  const r = spawnSync("docker-compose", ["-p", PROJECT, ...args], { cwd: dir, encoding: "utf8", timeout });
  return { status: r.status, out: `${r.stdout}${r.stderr}`, stdout: r.stdout };
}

/**
 * The CLI service as Compose resolves it (`docker-compose config`: image, environment with env_file merged, volumes,
 * entrypoint), run the way `docker compose run --rm openclaw-cli <args>` does in the official docs. Compose v1, this
 * machine's, cannot `run` a service that is in another's network namespace ("container type network can't be used
 * with links", even with --no-deps; v2 can), so the container is started with `docker run` from that definition.
 */
function cli(
  dir: string,
  gatewayId: string,
  args: string[],
): { status: number | null; out: string; env: Record<string, string> } {
  const config = compose(dir, ["config"]);
  const service = (parseYaml(config.stdout) as { services: Record<string, CliService> }).services[
    "openclaw-cli"
  ] as CliService;
  const env = Array.isArray(service.environment)
    ? Object.fromEntries(service.environment.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]))
    : Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, String(v ?? "")]));
  expect(service.network_mode).toBe("service:openclaw-gateway");
  const [entrypoint, ...entryArgs] = service.entrypoint ?? [];
  const r = spawnSync(
    "docker",
    [
      "run",
      "--rm",
      "--init",
      "--network",
      `container:${gatewayId}`,
      ...Object.entries(env).flatMap(([k, v]) => ["-e", `${k}=${v}`]),
      ...(service.volumes ?? []).flatMap((v) => ["-v", typeof v === "string" ? v : `${v.source}:${v.target}`]),
      ...(entrypoint !== undefined ? ["--entrypoint", entrypoint] : []),
      service.image,
      ...entryArgs,
      ...args,
    ],
    { encoding: "utf8", timeout: 120_000 },
  );
  return { status: r.status, out: `${r.stdout}${r.stderr}`, env };
}
interface CliService {
  image: string;
  network_mode?: string;
  entrypoint?: string[];
  environment?: Record<string, string | null> | string[];
  volumes?: Array<string | { source: string; target: string }>;
}

/** Stacks and networks left by a crashed run of this file (their pinned subnets would overlap). */
async function removeStale(): Promise<void> {
  const stale = (await docker("ps", "-aq", "--filter", "name=ocscinit")).split("\n").filter((id) => id !== "");
  if (stale.length > 0) await docker("rm", "-f", ...stale).catch(() => "");
  for (const n of (await docker("network", "ls", "--format", "{{.Name}}", "--filter", "name=ocscinit")).split("\n")) {
    if (n !== "" && !n.startsWith(`${PROJECT}_`)) await docker("network", "rm", n).catch(() => "");
  }
}

const CHURN = `ocscinit-churn-${process.pid}`;
/** Networks this file holds while init runs and the stack comes up; removed as soon as `up` is done. */
const held: string[] = [];

/**
 * Engine churn, as on a machine that has run many stacks: networks created and removed until the engine has handed
 * out every default pool (172.17–172.31.0.0/16, 192.168.0.0/16 in /20s) once — it hands them out in turn rather than
 * reusing freed ones — keeping the one that got 172.30.0.0/16, where init used to pin its subnet. Only bridges on
 * this machine, about 30 of them, a few seconds.
 */
async function churn(): Promise<string[]> {
  const seen: string[] = [];
  for (let i = 0; i < 40; i++) {
    const name = `${CHURN}-${i}`;
    let subnet: string;
    try {
      await docker("network", "create", name);
      subnet = (
        await docker("network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", name)
      ).trim();
    } catch {
      break; // every pool in use at once: this engine is full already
    }
    if (subnet.startsWith("172.30.")) held.push(name);
    else await docker("network", "rm", name);
    if (seen.includes(subnet)) break; // wrapped around: every pool was handed out once
    seen.push(subnet);
  }
  if (held.length === 0) {
    // An engine that reuses freed pools: hold the old subnet explicitly, which is the state the churn leads to.
    await docker("network", "create", "--subnet", "172.30.0.0/16", `${CHURN}-old`).then(
      () => held.push(`${CHURN}-old`),
      () => undefined,
    );
  }
  // And a network on init's own default: init must pick the next /24 of its range.
  await docker("network", "create", "--internal", "--subnet", "10.119.0.0/24", `${CHURN}-default`);
  held.push(`${CHURN}-default`);
  return seen;
}

async function releaseHeld(): Promise<void> {
  for (const n of held.splice(0)) await docker("network", "rm", n).catch(() => "");
}

describeTier(
  "docker: init on the official compose file, identity mode, real gateway and Control UI",
  [...dockerPrereqs(), ...composeMissing, ...controlUiPrereqs(), ...netnsMissing],
  () => {
    let dir: string;
    let port: number;
    let initOut = "";
    let token = "";
    let gatewayId = "";
    let pools: string[] = [];

    beforeAll(async () => {
      configureReaper();
      await removeStale();
      await Promise.all([buildSidecarImage(), buildGatewayImage()]);
      await docker(
        "build",
        "-q",
        "--build-arg",
        `BASE=${GATEWAY_IMAGE}`,
        "-t",
        OFFICIAL_LAYOUT_IMAGE,
        "-f",
        path.join(REPO, "test/container/official-layout.Dockerfile"),
        path.join(REPO, "test/container"),
      );

      // The user's project: the official compose file, its .env, and the config dir the official setup fills.
      dir = mkdtempSync(path.join(tmpdir(), "ocsc-init-docker-"));
      port = await freePort();
      cpSync(path.join(REPO, "test/fixtures/init/official/docker-compose.yml"), path.join(dir, "docker-compose.yml"));
      for (const sub of ["config", "workspace"]) {
        mkdirSync(path.join(dir, sub));
        chownSync(path.join(dir, sub), 1000, 1000); // the gateway image's user, as the official docs ask
      }
      cpSync(path.join(REPO, "test/fixtures/init/official/openclaw.json"), path.join(dir, "config/openclaw.json"));
      chownSync(path.join(dir, "config/openclaw.json"), 1000, 1000);
      writeFileSync(
        path.join(dir, ".env"),
        [
          `OPENCLAW_IMAGE=${OFFICIAL_LAYOUT_IMAGE}`,
          `OPENCLAW_SIDECAR_IMAGE=${SIDECAR_IMAGE}`, // built above from this checkout's Dockerfile (no registry here)
          `OPENCLAW_CONFIG_DIR=${dir}/config`,
          `OPENCLAW_WORKSPACE_DIR=${dir}/workspace`,
          `OPENCLAW_GATEWAY_TOKEN=${randomBytes(24).toString("hex")}`,
          `OPENCLAW_GATEWAY_PORT=${port}`,
          "",
        ].join("\n"),
      );

      pools = await churn();
      const r = spawnSync(NODE24, [path.join(REPO, "src/cli.ts"), "init", "--mode", "identity"], {
        cwd: dir,
        encoding: "utf8",
        timeout: 60_000,
      });
      initOut = r.stdout;
      if (r.status !== 0) throw new Error(`init failed (${r.status}):\n${r.stdout}${r.stderr}`);
      token = readFileSync(path.join(dir, "openclaw-sidecar/token"), "utf8").trim();

      const up = compose(dir, ["up", "-d"]);
      await releaseHeld();
      if (up.status !== 0) throw new Error(`docker-compose up failed:\n${up.out}\ninit said:\n${initOut}`);
      gatewayId = compose(dir, ["ps", "-q", "openclaw-gateway"]).out.trim();
      const sidecarId = compose(dir, ["ps", "-q", "openclaw-sidecar"]).out.trim();
      await Promise.all([waitHealthy(gatewayId, 180_000), waitHealthy(sidecarId, 120_000)]);
      // Healthy is not ready: until /readyz says so, connects close 1013.
      const probe =
        "fetch('http://127.0.0.1:18789/readyz').then(r => r.json()).then(j => process.exit(j.ready ? 0 : 1), () => process.exit(1))";
      const deadline = Date.now() + 120_000;
      while (
        spawnSync("docker", ["exec", gatewayId, "node", "-e", probe], { stdio: "ignore", timeout: 10_000 }).status !== 0
      ) {
        if (Date.now() > deadline) throw new Error(`gateway not ready:\n${await containerLogs(gatewayId)}`);
        await new Promise((res) => setTimeout(res, 1000));
      }
    }, 900_000);

    afterAll(async () => {
      await releaseHeld();
      spawnSync("ip", ["netns", "delete", HOST_NS], { stdio: "ignore" });
      if (dir !== undefined) {
        compose(dir, ["down", "-v", "--timeout", "10"], 120_000);
        rmSync(dir, { recursive: true, force: true });
      }
    }, 180_000);

    it("init said what it did and how to log in", () => {
      expect(initOut).toContain("openclaw-sidecar init: identity mode written.");
      expect(initOut).toContain(
        `then open the dashboard once with your token: http://localhost:${port}/?token=$(cat ${dir}/openclaw-sidecar/token)`,
      );
    });

    it("init fitted the engine: the next free /24 (the default was held), a descriptor limit the engine grants, and said so", async () => {
      expect(pools.length).toBeGreaterThan(0);
      expect(initOut).toContain(
        `internal network 10.119.1.0/24 (sidecar 10.119.1.10), not the default 10.119.0.0/24, which is taken (engine network "${CHURN}-default" holds 10.119.0.0/24).`,
      );
      // dockerd's own hard limit (it writes its pid to /var/run/docker.pid): what runc can grant a container.
      const pid = readFileSync("/var/run/docker.pid", "utf8").trim();
      const hard = Number(/^Max open files\s+\S+\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/limits`, "utf8"))?.[1]);
      const sidecar = (
        parseYaml(readFileSync(path.join(dir, "docker-compose.yml"), "utf8")) as {
          services: Record<string, { ulimits?: { nofile: number } }>;
        }
      ).services["openclaw-sidecar"];
      expect(sidecar?.ulimits?.nofile).toBe(Math.min(hard, 65536));
      expect(initOut).toMatch(/ulimits\.nofile \d+ for the sidecar/);
      // The gateway trusts exactly the address the sidecar got.
      const sidecarId = compose(dir, ["ps", "-q", "openclaw-sidecar"]).out.trim();
      const address = (
        await docker("inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", sidecarId)
      ).split(" ");
      expect(address).toContain("10.119.1.10");
      expect(readFileSync(path.join(dir, "config/openclaw.json"), "utf8")).toContain('"10.119.1.10/32"');
    });

    it("only the sidecar is published, on 127.0.0.1; the gateway has no published port left", async () => {
      expect(await docker("port", gatewayId)).toBe("");
      const sidecarId = compose(dir, ["ps", "-q", "openclaw-sidecar"]).out.trim();
      expect(await docker("port", sidecarId)).toBe(`18789/tcp -> 127.0.0.1:${port}`);
    });

    it("the real Control UI in Chromium, opened at the published port with the token, connects: hello-ok, no pairing", async () => {
      // control-ui.ts starts Chromium inside a named namespace; name the root one so the browser is on the host.
      expect(spawnSync("ip", ["netns", "attach", HOST_NS, String(process.pid)]).status).toBe(0);
      const ui = await launchControlUi(HOST_NS);
      try {
        await ui.goto(`http://127.0.0.1:${port}/?token=${token}`);
        const outcome = await ui.waitForOutcome({ timeoutMs: 60_000 });
        const report = await ui.report("init-identity-control-ui-connected.png");
        expect(outcome, JSON.stringify(report.frames)).toMatchObject({ kind: "hello-ok" });
        if (outcome?.kind === "hello-ok") expect(outcome.scopes).not.toContain("operator.admin");
        expect(report.frames).toContainEqual(
          expect.objectContaining({ kind: "connect", clientId: "openclaw-control-ui", hasDevice: true }),
        );
        expect(ui.page.url()).not.toContain("token="); // the sidecar's login redirect took it out
        expect(report.text).not.toContain("pairing required");
      } finally {
        await ui.close();
      }
      const list = cli(dir, gatewayId, ["devices", "list", "--json"]);
      expect(list.status, list.out).toBe(0);
      const devices = JSON.parse(list.out.slice(list.out.indexOf("{"))) as { pending: unknown[]; paired: unknown[] };
      expect(devices.pending).toEqual([]);
      expect(devices.paired.length).toBeGreaterThan(0);
    }, 180_000);

    it("the CLI service works in trusted-proxy mode: the gateway password from init's env file, over the gateway's loopback", () => {
      const r = cli(dir, gatewayId, ["gateway", "status", "--json"]);
      expect(r.env.OPENCLAW_GATEWAY_PASSWORD).toMatch(/^[0-9a-f]{64}$/); // from ./openclaw-sidecar/gateway.env
      expect(r.env.OPENCLAW_GATEWAY_TOKEN).toBeUndefined(); // init removed it: trusted-proxy refuses a shared token
      expect(r.out).not.toContain("unauthorized");
      expect(r.status, r.out).toBe(0);
    }, 180_000);
  },
);
