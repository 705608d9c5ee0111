// A real Prometheus server (Debian's `prometheus`) on 127.0.0.1 for a test: its own config and data directory in a
// temporary folder, a free port (retried if another process wins the race), stopped and removed by stop().
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../helpers/net.ts";

export interface PrometheusServer {
  url: string;
  /** GET <url>/api/v1/<path>; throws unless Prometheus answers status "success". */
  api<T>(path: string, params?: Record<string, string>): Promise<T>;
  /** An instant query's result vector. */
  query(expr: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>>;
  output(): string;
  stop(): Promise<void>;
}

export async function startPrometheus(configYaml: string): Promise<PrometheusServer> {
  const dir = mkdtempSync(join(tmpdir(), "deploy-prometheus-"));
  writeFileSync(join(dir, "prometheus.yml"), configYaml);
  let output = "";
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const child = spawn(
      "prometheus",
      [
        `--config.file=${join(dir, "prometheus.yml")}`,
        `--storage.tsdb.path=${join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
        "--log.level=warn",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    const url = `http://127.0.0.1:${port}`;
    if (await ready(url, child)) return server(url, child, exited, dir, () => output);
    child.kill("SIGKILL");
    await exited;
    if (attempt === 2) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`prometheus did not become ready:\n${output}`);
    }
  }
}

async function ready(url: string, child: ChildProcess): Promise<boolean> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline && child.exitCode === null) {
    try {
      if ((await fetch(`${url}/-/ready`)).status === 200) return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

function server(
  url: string,
  child: ChildProcess,
  exited: Promise<void>,
  dir: string,
  output: () => string,
): PrometheusServer {
  const api = async <T>(path: string, params: Record<string, string> = {}): Promise<T> => {
    const res = await fetch(`${url}/api/v1/${path}?${new URLSearchParams(params).toString()}`);
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (body.status !== "success")
      throw new Error(`prometheus ${path} ${JSON.stringify(params)}: ${body.error ?? res.status}`);
    return body.data;
  };
  return {
    url,
    api,
    async query(expr) {
      const data = await api<{
        resultType: string;
        result: Array<{ metric: Record<string, string>; value: [number, string] }>;
      }>("query", { query: expr });
      if (data.resultType !== "vector") throw new Error(`${expr}: a ${data.resultType}, not a vector`);
      return data.result;
    },
    output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
