// The measurements. Each one runs a load against one contestant for a fixed window and returns one sample: the
// headline value, latency where it applies, and the proxy's CPU time per operation over exactly that window.
import type { ChildProcess } from "node:child_process";
import path from "node:path";
import type { Contestant } from "./contestants.ts";
import { spawnTracked, waitForMessage } from "./processes.ts";
import { type CpuTimes, cpuTimes, nofileLimit, rssKiB } from "./procstat.ts";
import type { LoadCommand, LoadResult } from "./ws-load.ts";
import { runWrk } from "./wrk.ts";

export interface Sample {
  value: number;
  p50Us?: number;
  p99Us?: number;
  /** Proxy CPU (user+system) per operation in µs; absent for direct. */
  cpuUsPerOp?: number;
  /** The user-space part of cpuUsPerOp. */
  userUsPerOp?: number;
  ops: number;
  failed: number;
  reasons?: Record<string, number>;
}

export interface Scenario {
  id: string;
  title: string;
  unit: string;
  run(c: Contestant, ctx: Context): Promise<Sample>;
}

export interface Context {
  durationS: number;
  load: LoadWorker;
}

const MIB = 1024 * 1024;

/** CPU per op over a window whose start the load generator announces (after its connections are up). */
function cpuPerOp(
  c: Contestant,
  start: CpuTimes | undefined,
  ops: number,
): { cpuUsPerOp?: number; userUsPerOp?: number } {
  if (c.pids.length === 0 || start === undefined || ops === 0) return {};
  const end = cpuTimes(c.pids);
  const user = end.user - start.user;
  return { cpuUsPerOp: ((user + end.system - start.system) / ops) * 1e6, userUsPerOp: (user / ops) * 1e6 };
}

function wrkScenario(
  id: string,
  title: string,
  unit: string,
  urlPath: string,
  connections: number,
  postBytes: number,
  value: (r: { requests: number; bytes: number; seconds: number }) => number,
): Scenario {
  return {
    id,
    title,
    unit,
    async run(c, ctx) {
      const start = c.pids.length ? cpuTimes(c.pids) : undefined;
      const r = await runWrk({
        url: `${c.base}${urlPath}`,
        connections,
        threads: 1,
        durationS: ctx.durationS,
        postBytes,
      });
      return {
        value: value(r),
        p50Us: r.p50Us,
        p99Us: r.p99Us,
        ...cpuPerOp(c, start, r.requests),
        ops: r.requests,
        failed: r.errors + r.non2xx,
      };
    },
  };
}

function wsScenario(
  id: string,
  title: string,
  unit: string,
  command: (url: string, durationMs: number) => LoadCommand,
  value: (r: LoadResult) => number,
): Scenario {
  return {
    id,
    title,
    unit,
    async run(c, ctx) {
      let start: CpuTimes | undefined;
      const r = await ctx.load.run(command(c.base.replace("http:", "ws:") + "/ws", ctx.durationS * 1000), () => {
        if (c.pids.length) start = cpuTimes(c.pids);
      });
      return {
        value: value(r),
        ...(r.p50Us !== undefined ? { p50Us: r.p50Us, p99Us: r.p99Us } : {}),
        ...cpuPerOp(c, start, r.ok),
        ops: r.ok,
        failed: r.failed,
        ...(r.reasons ? { reasons: r.reasons } : {}),
      };
    },
  };
}

export const HTTP_CONNECTIONS = 50;
export const BIG_BODY_CONNECTIONS = 10;
export const WS_SETUP_CONCURRENCY = 10;
export const WS_ECHO_CONNECTIONS = 50;

export const UI_CONNECTIONS = 6;

/** Control UI cold loads, one after another (ws-load.ts `uiload`); an op is one whole load. */
const uiColdLoad: Scenario = {
  id: "ui_cold",
  title: `Control UI cold load (${UI_CONNECTIONS} connections + WS)`,
  unit: "loads/s",
  async run(c, ctx) {
    let start: CpuTimes | undefined;
    const r = await ctx.load.run(
      { op: "uiload", base: c.base, connections: UI_CONNECTIONS, durationMs: ctx.durationS * 1000 },
      () => {
        if (c.pids.length) start = cpuTimes(c.pids);
      },
    );
    return {
      value: r.ok / (r.elapsedMs / 1000),
      p50Us: r.p50Us,
      p99Us: r.p99Us,
      ...cpuPerOp(c, start, r.ok),
      ops: r.ok,
      failed: r.failed,
      ...(r.reasons ? { reasons: r.reasons } : {}),
    };
  },
};

export const SCENARIOS: Scenario[] = [
  wrkScenario(
    "http_1k",
    `HTTP GET 1 KiB, ${HTTP_CONNECTIONS} connections`,
    "req/s",
    "/1k",
    HTTP_CONNECTIONS,
    0,
    (r) => r.requests / r.seconds,
  ),
  wrkScenario(
    "http_1m",
    `HTTP GET 1 MiB, ${BIG_BODY_CONNECTIONS} connections`,
    "MB/s",
    "/1m",
    BIG_BODY_CONNECTIONS,
    0,
    (r) => r.bytes / MIB / r.seconds,
  ),
  wrkScenario(
    "http_post_64k",
    `HTTP POST 64 KiB echo, ${BIG_BODY_CONNECTIONS} connections`,
    "req/s",
    "/echo",
    BIG_BODY_CONNECTIONS,
    64 * 1024,
    (r) => r.requests / r.seconds,
  ),
  wsScenario(
    "ws_setup",
    `WS setup (upgrade + echo + close), ${WS_SETUP_CONCURRENCY} in parallel`,
    "conn/s",
    (url, durationMs) => ({ op: "setup", url, concurrency: WS_SETUP_CONCURRENCY, durationMs }),
    (r) => r.ok / (r.elapsedMs / 1000),
  ),
  wsScenario(
    "ws_echo_100",
    `WS echo 100 B, ${WS_ECHO_CONNECTIONS} connections`,
    "msg/s",
    (url, durationMs) => ({ op: "echo", url, conns: WS_ECHO_CONNECTIONS, size: 100, durationMs, warmupMs: 300 }),
    (r) => r.ok / (r.elapsedMs / 1000),
  ),
  wsScenario(
    "ws_echo_64k",
    `WS echo 64 KiB, ${WS_ECHO_CONNECTIONS} connections`,
    "MB/s",
    (url, durationMs) => ({ op: "echo", url, conns: WS_ECHO_CONNECTIONS, size: 65536, durationMs, warmupMs: 300 }),
    (r) => (r.ok * 65536) / MIB / (r.elapsedMs / 1000),
  ),
  uiColdLoad,
];

export interface IdleSample {
  count: number;
  held: number;
  failed: number;
  baselineKiB: number;
  openKiB: number;
  kibPerConn: number;
  openSeconds: number;
  nofile: number;
  reasons?: Record<string, number>;
}

/** RSS per idle open WebSocket: the proxy's RSS with `count` idle WebSockets open, minus before, divided by count. */
/** Expects a freshly started proxy: a short warm-up loads the WebSocket code paths into the baseline, so the delta is
 *  the connections and not the first use of the code. */
export async function measureIdle(c: Contestant, load: LoadWorker, count: number): Promise<IdleSample> {
  const url = c.base.replace("http:", "ws:") + "/idle";
  await load.run({ op: "setup", url, concurrency: WS_SETUP_CONCURRENCY, durationMs: 500 });
  await sleep(1000);
  const baselineKiB = rssKiB(c.pids);
  const opened = await load.run({ op: "open", url, count, concurrency: 100, timeoutMs: 60_000 });
  await sleep(1500);
  const openKiB = rssKiB(c.pids);
  await load.run({ op: "closeAll", timeoutMs: 30_000 });
  return {
    count,
    held: opened.ok,
    failed: opened.failed,
    baselineKiB,
    openKiB,
    kibPerConn: opened.ok ? (openKiB - baselineKiB) / opened.ok : 0,
    openSeconds: opened.elapsedMs / 1000,
    // The process that holds the sockets (nginx: the worker, listed last).
    nofile: nofileLimit(c.pids[c.pids.length - 1] as number),
    ...(opened.reasons ? { reasons: opened.reasons } : {}),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The forked ws-load process; one command at a time. */
export class LoadWorker {
  readonly #child: ChildProcess;
  private constructor(child: ChildProcess) {
    this.#child = child;
  }
  static start(): LoadWorker {
    return new LoadWorker(
      spawnTracked(process.execPath, [path.join(import.meta.dirname, "ws-load.ts")], {
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      }),
    );
  }
  async run(cmd: LoadCommand, onStart?: () => void): Promise<LoadResult> {
    const onMessage = (m: unknown) => {
      if ((m as { event?: string }).event === "start") onStart?.();
    };
    this.#child.on("message", onMessage);
    try {
      this.#child.send(cmd);
      const limit = ("durationMs" in cmd ? cmd.durationMs : 0) + ("timeoutMs" in cmd ? cmd.timeoutMs : 0) + 30_000;
      const answer = await waitForMessage(
        this.#child,
        (m) =>
          "result" in (m as object) || "error" in (m as object)
            ? (m as { result?: LoadResult; error?: string })
            : undefined,
        limit,
        `ws-load ${cmd.op}`,
      );
      if (answer.error !== undefined || answer.result === undefined)
        throw new Error(`ws-load ${cmd.op}: ${answer.error}`);
      return answer.result;
    } finally {
      this.#child.off("message", onMessage);
    }
  }
}
