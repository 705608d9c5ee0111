// Emulated docker-compose bridge network built from Linux network namespaces, for the real-gateway tier.
//
// Layout (one set per test run; names carry the run's pid so a crashed run never collides with the next one):
//   <prefix>-net  holds the bridge. It lives in its own namespace because Docker's FORWARD DROP + br_netfilter in
//                 the root namespace would otherwise drop bridged traffic; it also keeps this traffic off the host.
//   <prefix>-gw   "gateway container"  10.77.0.1
//   <prefix>-cl   "client"             10.77.0.2  (a NAT'd browser: what Docker port publishing / Desktop presents)
//   <prefix>-sc   "sidecar container"  10.77.0.3
// Each host namespace has loopback up, so running a process inside `-gw` that dials 127.0.0.1 emulates
// `network_mode: service:gateway`. Traffic only ever flows between these namespaces.
import { execFile, spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { existsSync } from "node:fs";
import { promisify } from "node:util";

const execFileP = promisify(execFile);

/** Common name start of every namespace this module creates; `cleanupStaleNetworks` only touches these. */
export const NETNS_PREFIX = "ocst";

export interface NsHost {
  /** `ip netns` name. */
  ns: string;
  /** IPv4 address on the emulated bridge. */
  ip: string;
}

export interface TestNetwork {
  prefix: string;
  /** Namespace holding the bridge only. */
  bridgeNs: string;
  gateway: NsHost;
  client: NsHost;
  sidecar: NsHost;
  /** Deletes every namespace of this network (idempotent). */
  destroy(): Promise<void>;
}

const HOSTS = { gateway: ["gw", "10.77.0.1"], client: ["cl", "10.77.0.2"], sidecar: ["sc", "10.77.0.3"] } as const;

/** Unmet prerequisites of this module, as sentences for describeTier. Empty when everything is there. */
export function netnsPrereqs(): string[] {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push("root is required for `ip netns` (run the tests as root)");
  if (!existsSync("/usr/sbin/ip") && !existsSync("/sbin/ip") && !existsSync("/usr/bin/ip")) {
    missing.push("the `ip` binary (Debian package iproute2)");
  }
  return missing;
}

async function ip(...args: string[]): Promise<void> {
  try {
    await execFileP("ip", args, { timeout: 10_000 });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? "";
    throw new Error(`ip ${args.join(" ")} failed: ${stderr.trim() || String(err)}`, { cause: err });
  }
}

/** Lists the namespaces present on the machine. */
export async function listNetns(): Promise<string[]> {
  const { stdout } = await execFileP("ip", ["netns", "list"], { timeout: 10_000 });
  return stdout
    .split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter(Boolean);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Deletes namespaces left behind by crashed runs (ours: `ocst<pid>-*` whose pid is gone), after killing the processes
 * still running in them (an orphaned gateway or browser would otherwise live on in a namespace nobody can reach).
 */
export async function cleanupStaleNetworks(): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await listNetns()) {
    const m = new RegExp(`^${NETNS_PREFIX}(\\d+)-`).exec(name);
    if (!m || pidAlive(Number(m[1]))) continue;
    const { stdout } = await execFileP("ip", ["netns", "pids", name], { timeout: 10_000 }).catch(() => ({
      stdout: "",
    }));
    for (const pid of stdout.split("\n").filter(Boolean)) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {
        // already gone
      }
    }
    await ip("netns", "del", name).catch(() => undefined);
    removed.push(name);
  }
  return removed;
}

/**
 * Creates the bridge namespace and the three host namespaces. On any failure everything created so far is removed.
 * `prefix` defaults to `ocst<pid>`; pass a different one to run two networks in one process.
 */
export async function createTestNetwork(prefix = `${NETNS_PREFIX}${process.pid}`): Promise<TestNetwork> {
  const bridgeNs = `${prefix}-net`;
  const hosts = Object.fromEntries(
    Object.entries(HOSTS).map(([role, [short, addr]]) => [role, { ns: `${prefix}-${short}`, ip: addr }]),
  ) as Record<keyof typeof HOSTS, NsHost>;
  const created: string[] = [];
  const destroy = async (): Promise<void> => {
    // Host namespaces first: deleting them removes their veth ends, then the bridge namespace goes.
    for (const ns of [...created].reverse()) await ip("netns", "del", ns).catch(() => undefined);
    created.length = 0;
  };
  try {
    await ip("netns", "add", bridgeNs);
    created.push(bridgeNs);
    await ip("-n", bridgeNs, "link", "add", "br0", "type", "bridge");
    await ip("-n", bridgeNs, "link", "set", "br0", "up");
    for (const [short, host] of [
      ["gw", hosts.gateway],
      ["cl", hosts.client],
      ["sc", hosts.sidecar],
    ] as const) {
      await ip("netns", "add", host.ns);
      created.push(host.ns);
      // The veth pair is created inside the bridge namespace and one end moved straight into the host namespace,
      // so no interface name ever exists in the root namespace (no collisions between concurrent runs).
      await ip("-n", bridgeNs, "link", "add", `${short}-br`, "type", "veth", "peer", "name", "eth0", "netns", host.ns);
      await ip("-n", bridgeNs, "link", "set", `${short}-br`, "master", "br0", "up");
      await ip("-n", host.ns, "addr", "add", `${host.ip}/24`, "dev", "eth0");
      await ip("-n", host.ns, "link", "set", "eth0", "up");
      await ip("-n", host.ns, "link", "set", "lo", "up");
    }
  } catch (err) {
    await destroy();
    throw err;
  }
  return { prefix, bridgeNs, gateway: hosts.gateway, client: hosts.client, sidecar: hosts.sidecar, destroy };
}

/** argv that runs `cmd args` inside namespace `ns` (for callers that need to build their own command line). */
export function nsArgv(ns: string, cmd: string, args: readonly string[] = []): string[] {
  return ["ip", "netns", "exec", ns, cmd, ...args];
}

/**
 * Spawns `cmd args` inside namespace `ns`. `ip netns exec` execs the command, so the child's pid is the command's
 * own pid. Pass `detached: true` to give it its own process group (then stop it with `process.kill(-pid)`).
 */
export function nsSpawn(ns: string, cmd: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
  const [bin, ...rest] = nsArgv(ns, cmd, args);
  return spawn(bin as string, rest, options);
}

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `cmd args` inside `ns` to completion and collects its output. Never rejects on a non-zero exit. */
export function nsExec(
  ns: string,
  cmd: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {},
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = nsSpawn(ns, cmd, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      stderr += `\n[nsExec] killed after ${options.timeoutMs} ms`;
    }, options.timeoutMs ?? 60_000);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
