// Real nginx (Debian's /usr/sbin/nginx) running the reference config in its own temp prefix, in the foreground, as
// a child of the test. nginx cannot listen on port 0 and report the port, so we probe free ports and, when another
// process takes one first (nginx exits with "Address already in use"), start again on new ones.
import { freePort } from "../../test/helpers/net.ts";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { knowsHttp2Directive, placeReference } from "./reference.ts";

export const NGINX = "/usr/sbin/nginx";
const SETPRIV = "/usr/bin/setpriv";
const START_TIMEOUT_MS = 5000;
const ATTEMPTS = 4;

// nginx runs detached (its own process group, so its workers can be found and killed with it). Should the test
// process exit without stopping it (a crash, a killed worker), no nginx is left behind.
const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of running) if (child.pid !== undefined) killGroup(child.pid);
});

function killGroup(pid: number): void {
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // already gone
  }
}

export interface RunningNginx {
  port: number;
  redirectPort: number;
  pid: number;
  errorLog(): string;
  stop(): Promise<void>;
}

export interface NginxOptions {
  reference: string;
  upstreamPort: number;
  cert: string;
  key: string;
  proxyReadTimeout?: string;
}

/** "nginx version: nginx/1.22.1" (nginx -v prints to stderr). */
export function nginxVersion(): string {
  const out = spawnSync(NGINX, ["-v"], { encoding: "utf8" });
  const line = `${out.stderr ?? ""}${out.stdout ?? ""}`.trim();
  if (!line.includes("nginx/")) throw new Error(`${NGINX} -v printed no version: ${line || String(out.error)}`);
  return line;
}

export async function startNginx(opts: NginxOptions): Promise<RunningNginx> {
  const http2Directive = knowsHttp2Directive(nginxVersion());
  const failures: string[] = [];
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const [port, redirectPort] = [await freePort(), await freePort()];
    const prefix = mkdtempSync(path.join(tmpdir(), "parity-nginx-"));
    chmodSync(prefix, 0o755); // the master runs as root, its workers as nobody: they must reach the temp dirs
    const config = placeReference(opts.reference, {
      port,
      redirectPort,
      prefix,
      upstreamPort: opts.upstreamPort,
      cert: opts.cert,
      key: opts.key,
      http2Directive,
      proxyReadTimeout: opts.proxyReadTimeout,
    });
    const file = path.join(prefix, "nginx.conf");
    writeFileSync(file, config);
    // -e: errors before the config's error_log is open (a bad config) also land in the prefix.
    const args = ["-p", prefix, "-c", file, "-e", path.join(prefix, "error.log"), "-g", "daemon off;"];
    // setpriv (util-linux, always present on Debian) execs nginx with a parent-death signal: when a test run is killed
    // before its cleanup, the master still gets SIGTERM and takes its workers down with it.
    const [command, argv] = existsSync(SETPRIV)
      ? [SETPRIV, ["--pdeathsig", "TERM", "--", NGINX, ...args]]
      : [NGINX, args];
    const child = spawn(command, argv, { stdio: ["ignore", "ignore", "pipe"], detached: true });
    running.add(child);
    child.once("exit", () => running.delete(child));
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    const errorLog = () =>
      stderr + (existsSync(path.join(prefix, "error.log")) ? readFileSync(path.join(prefix, "error.log"), "utf8") : "");
    const stop = async () => {
      await stopChild(child);
      rmSync(prefix, { recursive: true, force: true });
    };
    const ready = await waitForPidFile(child, path.join(prefix, "nginx.pid"));
    if (ready) return { port, redirectPort, pid: child.pid as number, errorLog, stop };
    const log = errorLog();
    await stop();
    failures.push(log.trim());
    // Only a lost race for a port is worth another attempt; a bad config fails the same way every time.
    if (!/Address already in use/.test(log)) break;
  }
  throw new Error(`nginx did not start:\n${failures.join("\n---\n")}`);
}

/** The master writes its pid file only after it has bound every listener: the file is our "listening" signal. */
async function waitForPidFile(child: ChildProcess, pidFile: string): Promise<boolean> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    if (existsSync(pidFile) && readFileSync(pidFile, "utf8").trim() === String(child.pid)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

/** SIGTERM (nginx's fast shutdown: workers too), then SIGKILL to the process group if it lingers. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timedOut = await Promise.race([
    exited.then(() => false),
    new Promise<boolean>((r) => setTimeout(() => r(true), 3000)),
  ]);
  if (timedOut) {
    killGroup(child.pid); // detached: the group is this master and its workers only
    await exited;
  }
}
