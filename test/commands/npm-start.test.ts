// `npm start` stopped by its PID (what a supervisor or timeout(1) does) stops the sidecar: npm forwards the signal
// only to the shell it runs the script in, so the sidecar itself notices that the process that started it is gone
// (src/commands/parent-watch.ts). Real npm, real sidecar, real ports.
import { spawn } from "node:child_process";
import net from "node:net";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const REPO = fileURLToPath(new URL("../..", import.meta.url));

/** A free loopback port (bound and released). */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const accepts = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
  });

/** Pids whose command line has `needle` (from /proc): the sidecar npm started, wherever it was re-parented to. */
async function pidsWith(needle: string): Promise<number[]> {
  const { readdirSync, readFileSync } = await import("node:fs");
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " ").includes(needle))
        out.push(Number(entry));
    } catch {
      // gone while we looked
    }
  }
  return out;
}

describe("npm start", () => {
  // SIGTERM: what kill(1), timeout(1) and supervisors send. (Ctrl-C needs no help: the terminal sends SIGINT to the
  // whole foreground process group, the sidecar included.)
  it("stopped by npm's PID with SIGTERM: the sidecar stops listening and exits", async () => {
    const [port, adminPort] = [await freePort(), await freePort()];
    const marker = `127.0.0.1:${port}`;
    // A clean environment, as in a user's shell: no npm_* variables from an enclosing `npm test`.
    const env = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/root" };
    const npm = spawn(
      "npm",
      [
        "start",
        "--",
        "--listen",
        marker,
        "--admin-listen",
        `127.0.0.1:${adminPort}`,
        "--upstream",
        "http://127.0.0.1:9",
      ],
      { cwd: REPO, env, stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    npm.stdout.on("data", (d: Buffer) => (out += d.toString()));
    npm.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const npmExited = new Promise<void>((r) => npm.once("exit", () => r()));
    try {
      await expect.poll(() => out, { timeout: 20_000 }).toContain('"openclaw-sidecar listening"');
      expect(await accepts(port)).toBe(true);
      const sidecars = await pidsWith(`--listen ${marker}`);
      expect(sidecars.length).toBeGreaterThan(0);

      npm.kill("SIGTERM"); // npm's PID only, as `kill <pid>` or a supervisor would
      await npmExited;
      await expect.poll(() => accepts(port), { timeout: 10_000, interval: 100 }).toBe(false);
      await expect.poll(() => pidsWith(`--listen ${marker}`), { timeout: 10_000, interval: 100 }).toEqual([]);
    } finally {
      if (npm.exitCode === null && npm.signalCode === null) npm.kill("SIGKILL");
      for (const pid of await pidsWith(`--listen ${marker}`)) process.kill(pid, "SIGKILL"); // never outlive the test
    }
  }, 45_000);
});
