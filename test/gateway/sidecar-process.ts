// Runs the real sidecar CLI inside a network namespace (the sidecar "container"), and reads its metrics from there.
import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { NODE24 } from "./gateway.ts";
import { nsExec, nsSpawn } from "./netns.ts";

const CLI = fileURLToPath(new URL("../../src/cli.ts", import.meta.url));

/**
 * `openclaw-sidecar doctor` run where a sidecar would run (namespace `ns`), with a clean environment plus `env`.
 * `out` is stdout and stderr together.
 */
export async function runDoctor(
  ns: string,
  flags: string[],
  env: Record<string, string> = {},
  timeoutMs = 60_000,
): Promise<{ code: number | null; out: string }> {
  const r = await nsExec(ns, NODE24, [CLI, "doctor", ...flags], {
    env: { PATH: process.env.PATH ?? "", ...env },
    timeoutMs,
  });
  return { code: r.code, out: r.stdout + r.stderr };
}

export interface SidecarProcess {
  ns: string;
  /** Everything it printed (JSON log lines). */
  logs(): string;
  /** Sum of a metric's samples whose labels include `labels`, scraped from its admin listener inside the namespace. */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Starts `openclaw-sidecar` in `ns` with the given flags (`--listen` required); resolves once it logs that it listens.
 * Its admin listener is 127.0.0.1:<listen port + 1> inside the namespace.
 */
export async function startSidecarIn(
  ns: string,
  flags: Record<string, string>,
  env: Record<string, string> = {},
): Promise<SidecarProcess> {
  const adminPort = Number(flags["--listen"]?.split(":").pop()) + 1;
  const args = [CLI, "--admin-listen", `127.0.0.1:${adminPort}`, ...Object.entries(flags).flat()];
  const child: ChildProcess = nsSpawn(ns, NODE24, args, {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const deadline = Date.now() + 15_000;
  while (!out.includes('"openclaw-sidecar listening"')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL"); // a sidecar that never said it listens must not outlive the test
      throw new Error(`sidecar in ${ns} did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    ns,
    logs: () => out,
    async metric(name, labels = {}) {
      const r = await nsExec(ns, "curl", ["-s", "-m", "3", `http://127.0.0.1:${adminPort}/metrics`], {
        timeoutMs: 5_000,
      });
      let sum = 0;
      for (const line of r.stdout.split("\n")) {
        const m = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
        if (!m || m[1] !== name) continue;
        const have = Object.fromEntries([...(m[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
        if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3]);
      }
      return sum;
    },
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 8000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
    },
  };
}
