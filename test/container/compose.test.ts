// compose/docker-compose.yml end to end, in identity mode, with the REAL gateway (test-only image of openclaw@2026.9.6,
// test/container/gateway.Dockerfile) and the sidecar image built from the repo's Dockerfile. Compose v1 (docker-compose
// 1.29) is what this machine has, hence `standalone` and the `<project>_<service>_1` container names.
// test/container/compose.override.yml adds random host ports, a temp secrets dir, and publishes the gateway port so
// that a client bypassing the sidecar can be shown to fail.
// Run: PATH=$PWD/node_modules/.bin:$PATH npx vitest run test/container/compose.test.ts
import { randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { DockerComposeEnvironment, type StartedDockerComposeEnvironment, Wait } from "testcontainers";
import { connectGateway } from "../gateway/protocol-client.ts";
import { describeTier } from "../helpers/tier.ts";
import {
  GATEWAY_IMAGE,
  REPO,
  SIDECAR_IMAGE,
  buildGatewayImage,
  buildSidecarImage,
  configureReaper,
  docker,
  dockerPrereqs,
} from "./images.ts";

const composeMissing =
  spawnSync("docker-compose", ["version"], { stdio: "ignore" }).status === 0
    ? []
    : ["docker-compose (Debian package docker-compose)"];
const PROJECT = `ocsc${process.pid}`;
const name = (service: string): string => `${PROJECT}_${service}_1`; // compose v1 naming
const TOKEN = randomBytes(24).toString("hex");
const ORIGIN = "http://localhost:18789"; // in gateway.identity.json5's allowedOrigins; sent with a matching Host

/** Polls the gateway's /readyz from inside its container (its port is not meant to be reachable from outside). */
async function waitGatewayReady(container: string, timeoutMs: number): Promise<void> {
  const probe =
    "fetch('http://127.0.0.1:18789/readyz').then(r => r.json()).then(j => process.exit(j.ready ? 0 : 1), () => process.exit(1))";
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (
      spawnSync("docker", ["exec", container, "node", "-e", probe], { stdio: "ignore", timeout: 10_000 }).status === 0
    )
      return;
    if (Date.now() > deadline)
      throw new Error(
        `gateway ${container} not ready after ${timeoutMs} ms:\n${await docker("logs", "--tail", "30", container)}`,
      );
    await new Promise((r) => setTimeout(r, 1000));
  }
}

interface Stack {
  env: StartedDockerComposeEnvironment;
  secrets: string;
  sidecarPort: number;
  gatewayPort: number;
  buildId: string;
  gatewaySecret: string;
}

/** compose/docker-compose.yml (+ the test override) with the real gateway in `mode`, up and ready. */
async function upStack(mode: "attribution" | "identity"): Promise<Stack> {
  configureReaper();
  await removeStaleStacks();
  await Promise.all([buildSidecarImage(), buildGatewayImage()]);
  const secrets = mkdtempSync(path.join(tmpdir(), "ocsc-secrets-"));
  writeFileSync(path.join(secrets, "token"), `${TOKEN}\n`);
  writeFileSync(path.join(secrets, "cookie-secret"), `${randomBytes(32).toString("hex")}\n`);
  // The sidecar runs as uid 1000; the temp dir is root's 0700 by default.
  chmodSync(secrets, 0o755);
  for (const f of ["token", "cookie-secret"]) chmodSync(path.join(secrets, f), 0o644);
  const gatewaySecret = randomBytes(24).toString("hex");
  const env = await new DockerComposeEnvironment(path.join(REPO, "compose"), [
    "docker-compose.yml",
    "../test/container/compose.override.yml",
  ])
    .withClientOptions({ executable: { standalone: true } })
    .withProjectName(PROJECT)
    .withEnvironment({
      OPENCLAW_IMAGE: GATEWAY_IMAGE,
      OPENCLAW_SIDECAR_IMAGE: SIDECAR_IMAGE,
      OPENCLAW_SIDECAR_MODE: mode,
      OPENCLAW_GATEWAY_CONFIG: `./gateway.${mode}.json5`,
      GATEWAY_AUTH_SECRET: gatewaySecret,
      ...(mode === "identity"
        ? {
            OPENCLAW_SIDECAR_TOKEN_FILE: "/run/secrets/openclaw-sidecar/token",
            OPENCLAW_SIDECAR_COOKIE_SECRET_FILE: "/run/secrets/openclaw-sidecar/cookie-secret",
          }
        : {}),
      OPENCLAW_SIDECAR_PORT: "0", // random host port
      TEST_SECRETS_DIR: secrets,
    })
    // Both images declare a HEALTHCHECK: the gateway's probes its /healthz, the sidecar's its admin /healthz.
    .withWaitStrategy(name("openclaw-gateway"), Wait.forHealthCheck())
    .withWaitStrategy(name("openclaw-sidecar"), Wait.forHealthCheck())
    .withStartupTimeout(180_000)
    .up();
  const sidecarPort = env.getContainer(name("openclaw-sidecar")).getMappedPort(18789);
  const gatewayPort = env.getContainer(name("openclaw-gateway")).getMappedPort(18789);
  // Healthy (/healthz) is not ready: until /readyz says so, connects close 1013 "gateway starting; retry shortly".
  await waitGatewayReady(name("openclaw-gateway"), 120_000);
  // Control UI clients must send the gateway's build id (else 1008 "protocol mismatch" after pairing).
  const info = await docker(
    "exec",
    name("openclaw-gateway"),
    "cat",
    "/opt/openclaw/node_modules/openclaw/dist/build-info.json",
  );
  const buildId = String((JSON.parse(info) as Record<string, unknown>).buildId ?? "");
  return { env, secrets, sidecarPort, gatewayPort, buildId, gatewaySecret };
}

/**
 * The compose files pin their subnets, so a stack left behind by a crashed run (another pid's project) would make
 * ours fail with overlapping address pools: remove those first.
 */
async function removeStaleStacks(): Promise<void> {
  const stale = (await docker("ps", "-aq", "--filter", "name=ocsc")).split("\n").filter((id) => id !== "");
  if (stale.length > 0) await docker("rm", "-f", ...stale).catch(() => "");
  for (const net of (await docker("network", "ls", "--format", "{{.Name}}", "--filter", "name=ocsc")).split("\n")) {
    if (net !== "" && !net.startsWith(`${PROJECT}_`)) await docker("network", "rm", net).catch(() => "");
  }
}

async function downStack(stack: Stack | undefined): Promise<void> {
  await stack?.env.down({ timeout: 10_000, removeVolumes: true }).catch(() => undefined);
  if (stack) rmSync(stack.secrets, { recursive: true, force: true });
}

describeTier("docker: compose identity mode with the real gateway", [...dockerPrereqs(), ...composeMissing], () => {
  let stack: Stack | undefined;
  /** A Control UI client with a device and the sidecar's Bearer token, as a browser at localhost:18789 would be. */
  const uiClient = (port: number) => ({
    url: `ws://127.0.0.1:${port}/`,
    clientId: "openclaw-control-ui",
    buildId,
    host: "localhost:18789",
    origin: ORIGIN,
    headers: { Authorization: `Bearer ${TOKEN}` },
    scopes: ["operator.read", "operator.write"],
  });
  let sidecarPort: number;
  let gatewayPort: number;
  let buildId: string;

  beforeAll(async () => {
    stack = await upStack("identity");
    ({ sidecarPort, gatewayPort, buildId } = stack);
  }, 600_000);

  afterAll(() => downStack(stack), 60_000);

  it("from the host, the published sidecar port answers /healthz (public path) and gates everything else", () => {
    const status = (urlPath: string): string =>
      spawnSync("curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", `http://127.0.0.1:${sidecarPort}${urlPath}`], {
        encoding: "utf8",
        timeout: 10_000,
      }).stdout;
    expect(status("/healthz")).toBe("200"); // host → docker-proxy → sidecar → gateway's own /healthz
    expect(status("/control-ui-config.json")).toBe("401"); // the sidecar's login gate (identity mode)
  });

  it("a Control UI client with a device gets hello-ok through the sidecar, auto-approved without admin", async () => {
    expect(buildId).not.toBe("");
    const result = await connectGateway(uiClient(sidecarPort));
    expect(result).toMatchObject({ kind: "hello-ok" });
    if (result.kind === "hello-ok") {
      expect(result.scopes).toContain("operator.read");
      expect(result.scopes).not.toContain("operator.admin");
    }
  }, 30_000);

  it("the same client straight to the gateway's port is refused (the gateway trusts only the sidecar's address)", async () => {
    const result = await connectGateway(uiClient(gatewayPort));
    // Not "pairing required" (that is token mode): in trusted-proxy mode a source outside trustedProxies is refused
    // outright, before any device or pairing logic.
    expect(result).toMatchObject({
      kind: "close",
      code: 1008,
      error: { details: { authReason: "trusted_proxy_untrusted_source" } },
    });
    expect(result.kind === "close" && result.reason).toMatch(/^unauthorized/);
  }, 30_000);

  it("without a session the sidecar holds the connect: no token or a wrong one is refused there (1008), the right one in the connect frame gets hello-ok", async () => {
    // The Control UI's own token field and #token= links put the token into connect.params.auth.token (issue 16).
    const base = {
      url: `ws://127.0.0.1:${sidecarPort}/`,
      clientId: "openclaw-control-ui",
      buildId,
      host: "localhost:18789",
      origin: ORIGIN,
      scopes: ["operator.read"],
    };
    const none = await connectGateway(base);
    expect(none).toMatchObject({ kind: "close", code: 1008, error: { details: { code: "AUTH_TOKEN_MISSING" } } });
    const wrong = await connectGateway({ ...base, token: "not-the-sidecar-token" });
    expect(wrong).toMatchObject({ kind: "close", code: 1008, error: { details: { code: "AUTH_TOKEN_MISMATCH" } } });
    const right = await connectGateway({ ...base, token: TOKEN });
    expect(right).toMatchObject({ kind: "hello-ok" });
  }, 60_000);
});

describeTier(
  "docker: compose attribution mode with the real gateway (the seed's Docker NAT)",
  [...dockerPrereqs(), ...composeMissing],
  () => {
    let stack: Stack | undefined;
    beforeAll(async () => {
      stack = await upStack("attribution");
    }, 600_000);
    afterAll(() => downStack(stack), 60_000);

    it("a client with the right token straight to the published gateway port reproduces the seed: 1008 pairing required", async () => {
      // From the host through docker-proxy/NAT the gateway sees the bridge address, not loopback: remote, so pairing.
      const result = await connectGateway({
        url: `ws://127.0.0.1:${stack!.gatewayPort}/`,
        token: stack!.gatewaySecret,
      });
      expect(result).toMatchObject({ kind: "close", code: 1008 });
      expect(result.kind === "close" && result.reason).toMatch(/^pairing required/);
    }, 30_000);

    it("through the sidecar the gateway attributes the client (no 403) and asks for pairing once, as attribution mode documents", async () => {
      const result = await connectGateway({
        url: `ws://127.0.0.1:${stack!.sidecarPort}/`,
        token: stack!.gatewaySecret,
      });
      expect(result).toMatchObject({ kind: "close", code: 1008 });
      expect(result.kind === "close" && result.reason).toMatch(/^pairing required/);
      const pending = JSON.parse(
        await docker("exec", name("openclaw-gateway"), "openclaw", "devices", "list", "--json"),
      ) as { pending: Array<{ remoteIp?: string }> };
      // The sidecar substitutes the documented marker for docker-proxy's loopback-looking peer, never loopback itself.
      expect(pending.pending.some((p) => p.remoteIp !== undefined && !p.remoteIp.startsWith("127."))).toBe(true);
    }, 60_000);
  },
);
