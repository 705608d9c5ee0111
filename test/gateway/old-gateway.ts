// Starts the REAL openclaw 2026.1.29 (pinned in test/gateway/openclaw-2026.1.29, installed into
// .cache/openclaw-2026.1.29 by scripts/install-prereqs.sh) inside a network namespace, with a fresh HOME. That release
// has no /readyz (every path answers with the Control UI page), needs gateway.mode "local" to start, and keeps its
// device pairing requests in $HOME/.openclaw/devices/pending.json.
import { type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { NODE24 } from "./gateway.ts";
import { type NsHost, nsExec, nsSpawn } from "./netns.ts";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
export const OLD_VERSION = "2026.1.29";
const DIR = path.join(REPO, ".cache/openclaw-2026.1.29/node_modules/openclaw");
const ENTRY = path.join(DIR, "openclaw.mjs");

/** Unmet prerequisites, as sentences for describeTier. */
export function oldGatewayPrereqs(): string[] {
  if (!existsSync(NODE24)) return [`Node 24 at ${NODE24} (run npm ci)`];
  if (!existsSync(ENTRY)) return [`openclaw@${OLD_VERSION} at ${DIR}`];
  const version = (JSON.parse(readFileSync(path.join(DIR, "package.json"), "utf8")) as { version?: string }).version;
  return version === OLD_VERSION ? [] : [`openclaw@${OLD_VERSION} (found ${version} in ${DIR})`];
}

export interface OldGateway {
  url: string;
  home: string;
  logs(): string;
  /** The device pairing requests waiting for approval, as the gateway stored them. */
  pending(): Array<{ requestId: string; deviceId: string; remoteIp?: string }>;
  stop(): Promise<void>;
}

export type OldGatewayStart =
  { kind: "ready"; gateway: OldGateway } | { kind: "exited"; code: number | null; output: string };

/** Starts it; resolves when GET / answers 200 inside the namespace, or when the process exits first. */
export async function startOldGateway(
  host: NsHost,
  port: number,
  gateway: Record<string, unknown>,
): Promise<OldGatewayStart> {
  const home = mkdtempSync(path.join(tmpdir(), `ocst-gw-${process.pid}-`)); // cleanupStaleGatewayHomes() knows the prefix
  mkdirSync(path.join(home, ".openclaw"), { mode: 0o700 });
  const config = { gateway: { mode: "local", port, ...gateway }, logging: { file: path.join(home, "gateway.jsonl") } };
  writeFileSync(path.join(home, ".openclaw/openclaw.json"), JSON.stringify(config, null, 2), { mode: 0o600 });
  const env = {
    HOME: home,
    PATH: `${path.dirname(NODE24)}:/usr/bin:/bin:/usr/sbin:/sbin`,
    LANG: "C.UTF-8",
    TZ: "UTC",
    NO_COLOR: "1",
  };
  const child: ChildProcess = nsSpawn(
    host.ns,
    NODE24,
    [ENTRY, "gateway", "run", "--allow-unconfigured", "--port", String(port)],
    {
      env,
      cwd: home,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let output = "";
  child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-(child.pid as number), "SIGKILL"); // its whole process group
      } catch {
        // already gone
      }
      await exited;
    }
    rmSync(home, { recursive: true, force: true });
  };
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await stop();
      return { kind: "exited", code: child.exitCode, output };
    }
    const probe = await nsExec(
      host.ns,
      "curl",
      ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "2", `http://127.0.0.1:${port}/`],
      { timeoutMs: 5_000 },
    );
    if (probe.stdout === "200") break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`openclaw ${OLD_VERSION} not answering after 90 s:\n${output.slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const pending = () => {
    try {
      const raw = JSON.parse(readFileSync(path.join(home, ".openclaw/devices/pending.json"), "utf8")) as Record<
        string,
        { requestId: string; deviceId: string; remoteIp?: string }
      >;
      return Object.values(raw);
    } catch {
      return [];
    }
  };
  return { kind: "ready", gateway: { url: `http://${host.ip}:${port}`, home, logs: () => output, pending, stop } };
}
