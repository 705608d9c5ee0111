// Docker prerequisites and image builds for the container tier. Nothing here can pull: there is no registry on the
// CI machine, so every base image is made locally by scripts/docker-setup.sh, and testcontainers' reaper is the local
// stand-in built from test/container/ryuk (or disabled, each test then cleaning up after itself).
import { execFile, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { GenericContainer } from "testcontainers";

export const REPO = fileURLToPath(new URL("../..", import.meta.url));
/** Tag of the sidecar image the tests build from the repo's own Dockerfile (kept between runs for the layer cache). */
export const SIDECAR_IMAGE = "openclaw-sidecar:test";
/**
 * Tag of the test-only real-gateway image (test/container/gateway.Dockerfile, openclaw pinned in
 * test/gateway/openclaw).
 */
export const GATEWAY_IMAGE = "openclaw-gateway-test:2026.9.6";
const RYUK_IMAGE = "local/ryuk:node";

const run = promisify(execFile);

/** `docker <args>` → trimmed stdout; throws with stderr on failure. */
export async function docker(...args: string[]): Promise<string> {
  const { stdout } = await run("docker", args, { maxBuffer: 16 * 1024 * 1024 });
  return stdout.trim();
}

const ok = (...args: string[]): boolean => spawnSync("docker", args, { stdio: "ignore", timeout: 15_000 }).status === 0;

/** Unmet prerequisites of the container tier, as sentences for describeTier. */
export function dockerPrereqs(): string[] {
  const setup = "run as root: bash scripts/docker-setup.sh";
  if (!ok("info")) return [`a running Docker engine (\`docker info\` failed; ${setup})`];
  const missing: string[] = [];
  for (const image of ["node:24-slim"]) {
    if (!ok("image", "inspect", image)) missing.push(`the local base image ${image} (${setup})`);
  }
  // testcontainers 12 needs Node >= 22 (undici 8); vitest runs on Node 24 when node_modules/.bin is first in PATH.
  if (Number(process.versions.node.split(".")[0]) < 22)
    missing.push(`Node >= 22 for testcontainers (running ${process.version}; put node_modules/.bin first in PATH)`);
  return missing;
}

/**
 * Points testcontainers at the local reaper image, or disables the reaper when it was not built. Without this it
 * would try to pull testcontainers/ryuk. testcontainers reads both variables lazily, so setting them here works.
 */
export function configureReaper(): void {
  if (process.env.RYUK_CONTAINER_IMAGE !== undefined || process.env.TESTCONTAINERS_RYUK_DISABLED !== undefined) return;
  if (ok("image", "inspect", RYUK_IMAGE)) process.env.RYUK_CONTAINER_IMAGE = RYUK_IMAGE;
  else process.env.TESTCONTAINERS_RYUK_DISABLED = "true";
}

/**
 * Builds the repo's Dockerfile exactly as an operator would (.dockerignore applies). Cached layers make reruns fast.
 */
export async function buildSidecarImage(): Promise<GenericContainer> {
  return GenericContainer.fromDockerfile(REPO).build(SIDECAR_IMAGE, { deleteOnExit: false });
}

/**
 * Builds the real gateway (npm ci of the pinned openclaw, ~650 MB; about 45 s cold, seconds when cached). The build
 * context is a directory under .cache holding only the pin files and the Dockerfile, so the 650 MB host install in
 * .cache/openclaw is not sent to the daemon.
 */
export async function buildGatewayImage(): Promise<GenericContainer> {
  const context = path.join(REPO, ".cache/docker/gateway-image");
  mkdirSync(context, { recursive: true });
  for (const file of ["package.json", "package-lock.json"]) {
    copyFileSync(path.join(REPO, "test/gateway/openclaw", file), path.join(context, file));
  }
  copyFileSync(path.join(REPO, "test/container/gateway.Dockerfile"), path.join(context, "Dockerfile"));
  return GenericContainer.fromDockerfile(context).build(GATEWAY_IMAGE, { deleteOnExit: false });
}

/**
 * `docker logs` of a container: stdout and stderr together (the sidecar logs JSON to stdout, Node errors to stderr).
 */
export async function containerLogs(id: string, tail = 30): Promise<string> {
  const { stdout, stderr } = await run("docker", ["logs", "--tail", String(tail), id], {
    maxBuffer: 16 * 1024 * 1024,
  }).catch((err: { stdout?: string; stderr?: string }) => ({ stdout: err.stdout ?? "", stderr: err.stderr ?? "" }));
  return `${stdout}${stderr}`.trim();
}

/**
 * Polls the Docker health status until `healthy`. Throws on `unhealthy`, on exit, or on timeout, with the health
 * probe outputs and the container's last log lines, so a failure says why.
 */
export async function waitHealthy(id: string, timeoutMs: number): Promise<number> {
  const started = Date.now();
  for (;;) {
    const [status, state] = (
      await docker(
        "inspect",
        "--format",
        "{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.State.Status}}",
        id,
      )
    ).split(" ");
    if (status === "healthy") return Date.now() - started;
    if (status === "unhealthy" || state !== "running" || Date.now() - started > timeoutMs) {
      const health = await docker("inspect", "--format", "{{json .State.Health}} exit={{.State.ExitCode}}", id).catch(
        () => "",
      );
      throw new Error(
        `container ${id.slice(0, 12)} is ${status}/${state} after ${Date.now() - started} ms\nhealth: ${health}\nlogs:\n${await containerLogs(id)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}
