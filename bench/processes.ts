// Every child the benchmark starts goes through here, so one call ends them all: on success, on an error, on Ctrl-C.
// Children get their own process group (nginx's workers die with their master's group) and a raised fd limit
// (5,000–10,000 WebSockets through a proxy need two descriptors each; `exec` keeps the pid that we measure).
import { type ChildProcess, type SpawnOptions, spawn } from "node:child_process";
import { rmSync } from "node:fs";

/** Asked for every child; where the hard limit is lower (not root) we take the hard limit instead. */
export const NOFILE = 65536;

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();

/** A child started elsewhere (wrk via execFile) that must still die with the rest. */
export function track(child: ChildProcess): void {
  children.add(child);
  child.once("exit", () => children.delete(child));
}

/** A temp dir (nginx's prefix) removed at the end, whichever way the run ends. */
export function trackTempDir(dir: string): void {
  tempDirs.add(dir);
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

export function spawnTracked(command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
  const script = `ulimit -n ${NOFILE} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"`;
  const child = spawn("sh", ["-c", script, "sh", command, ...args], { ...options, detached: true });
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

/** SIGTERM to each child's group, then SIGKILL to whatever is still there after `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 2000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  if (child.spawnargs[0] !== "sh") {
    child.kill("SIGKILL"); // a tracked load tool, not a group leader: nothing to drain
    return;
  }
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  signalGroup(child.pid, "SIGTERM");
  const timer = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), graceMs).unref());
  if ((await Promise.race([exited, timer])) === "timeout") {
    signalGroup(child.pid, "SIGKILL");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 1000).unref())]);
  }
  children.delete(child);
}

export async function stopAll(): Promise<void> {
  await Promise.all([...children].map((c) => stopChild(c)));
  for (const dir of tempDirs) removeTempDir(dir);
}

/** Last resort for a synchronous exit path: no waiting, just SIGKILL every group we started. */
export function killAllNow(): void {
  for (const child of children) {
    if (child.pid === undefined) continue;
    if (child.spawnargs[0] === "sh") signalGroup(child.pid, "SIGKILL");
    else child.kill("SIGKILL"); // not a group leader (wrk): only itself
  }
  children.clear();
  for (const dir of tempDirs) removeTempDir(dir);
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/** Resolves with the first IPC message matching `pick`, or rejects at the deadline or if the child exits first. */
export function waitForMessage<T>(
  child: ChildProcess,
  pick: (m: unknown) => T | undefined,
  timeoutMs: number,
  what: string,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      clearTimeout(timer);
      child.off("message", onMessage);
      child.off("exit", onExit);
    };
    const onMessage = (m: unknown) => {
      const value = pick(m);
      if (value === undefined) return;
      cleanup();
      resolve(value);
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`${what}: process exited (${code}) before answering`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${what}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on("message", onMessage);
    child.once("exit", onExit);
  });
}
