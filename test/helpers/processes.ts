// Child processes for tests: the real sidecar CLI and the fake gateway, each in its own process.
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const REPO = fileURLToPath(new URL("../..", import.meta.url));

export interface Child {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

function start(
  args: string[],
  env: Record<string, string>,
  ready: (line: string) => boolean,
): Promise<Child & { line: string }> {
  const child = spawn(process.execPath, args, {
    cwd: REPO,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  return new Promise((resolve, reject) => {
    let resolved = false;
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const line = resolved ? undefined : out.split("\n").find(ready);
      if (line === undefined) return;
      resolved = true;
      resolve({
        child,
        line,
        exited,
        output: () => out,
        async kill(signal = "SIGTERM") {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          await exited;
        },
      });
    });
    child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
    child.once("exit", (code) => {
      if (!resolved) reject(new Error(`exited ${code} before ready:\n${out}`));
    });
  });
}

/** The real CLI; resolves once it logs "openclaw-sidecar listening", with its proxy and admin ports. */
export async function startSidecarProcess(
  env: Record<string, string>,
): Promise<Child & { port: number; adminPort: number }> {
  const c = await start(
    ["src/cli.ts"],
    { OPENCLAW_SIDECAR_LISTEN: "127.0.0.1:0", OPENCLAW_SIDECAR_ADMIN_LISTEN: "127.0.0.1:0", ...env },
    (l) => l.includes('"openclaw-sidecar listening"'),
  );
  const parsed = JSON.parse(c.line) as { port: number; admin: string };
  return { ...c, port: parsed.port, adminPort: Number(parsed.admin.split(":").pop()) };
}

/** The fake gateway in its own process (kill -9 it to simulate a crash; start again on the same port). */
export async function startFakeGatewayProcess(port = 0): Promise<Child & { port: number }> {
  const c = await start(["test/helpers/fake-gateway-process.ts", String(port)], {}, (l) => l.startsWith('{"port"'));
  return { ...c, port: (JSON.parse(c.line) as { port: number }).port };
}
