// The WebSocket load generator, in its own process (run.ts forks it) so it never shares an event loop with a proxy.
// It obeys one IPC command at a time and answers with one result; every loop is bounded by a count and a deadline.
//   setup: open → send one message → await the echo → close → await the close, `concurrency` loops in parallel
//   echo:  `conns` connections, each with one message in flight (closed loop); latency per round trip
//   open / closeAll: hold `count` idle connections open (for RSS per connection), then close them
// Before a measured window starts it sends {event:"start"} so run.ts can snapshot the proxy's CPU exactly there.
import { performance } from "node:perf_hooks";
import WebSocket from "ws";

export type LoadCommand =
  | { op: "setup"; url: string; concurrency: number; durationMs: number }
  | { op: "echo"; url: string; conns: number; size: number; durationMs: number; warmupMs: number }
  | { op: "open"; url: string; count: number; concurrency: number; timeoutMs: number }
  | { op: "closeAll"; timeoutMs: number };

export interface LoadResult {
  ok: number; // completed setups, echoed messages, or connections opened/closed
  failed: number;
  elapsedMs: number;
  p50Us?: number;
  p99Us?: number;
  /** Why attempts failed (error message → count), so a failed row can be explained. */
  reasons?: Record<string, number>;
}

/** Per-attempt limit: a connection that takes longer than this counts as failed, and the loop moves on. */
const ATTEMPT_TIMEOUT_MS = 5000;
/** Bounds the latency sample buffer (at most 16 MB); beyond it the rest of the window is counted but not sampled. */
const MAX_SAMPLES = 2_000_000;
const CLIENT_OPTIONS = { perMessageDeflate: false, maxPayload: 16 * 1024 * 1024 } as const;

const held: WebSocket[] = [];
let reasons: Record<string, number> = {};
const noteFailure = (why: string) => {
  reasons[why] = (reasons[why] ?? 0) + 1;
};

function connect(url: string): Promise<WebSocket | undefined> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, CLIENT_OPTIONS);
    const timer = setTimeout(() => {
      noteFailure("attempt timeout");
      ws.terminate();
    }, ATTEMPT_TIMEOUT_MS);
    ws.once("open", () => {
      clearTimeout(timer);
      resolve(ws);
    });
    ws.once("error", (err) => {
      noteFailure(err.message);
      clearTimeout(timer);
      ws.terminate();
      resolve(undefined);
    });
  });
}

/** One full WebSocket life: upgrade, first echo, closing handshake. Resolves true when all of it happened. */
function oneSetup(url: string, payload: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, CLIENT_OPTIONS);
    let echoed = false;
    const timer = setTimeout(() => {
      noteFailure("attempt timeout");
      ws.terminate();
    }, ATTEMPT_TIMEOUT_MS);
    ws.once("open", () => ws.send(payload));
    ws.once("message", () => {
      echoed = true;
      ws.close(1000);
    });
    ws.on("error", (err) => {
      noteFailure(err.message);
      ws.terminate();
    });
    ws.once("close", (code) => {
      clearTimeout(timer);
      if (echoed && code !== 1000) noteFailure(`closed with ${code}`);
      resolve(echoed && code === 1000);
    });
  });
}

async function setup(cmd: Extract<LoadCommand, { op: "setup" }>): Promise<LoadResult> {
  const payload = Buffer.alloc(100, "s");
  let ok = 0;
  let failed = 0;
  process.send?.({ event: "start" });
  const started = performance.now();
  const deadline = started + cmd.durationMs;
  const loop = async () => {
    while (performance.now() < deadline) {
      if (await oneSetup(cmd.url, payload)) ok++;
      else failed++;
    }
  };
  await Promise.all(Array.from({ length: cmd.concurrency }, loop));
  return { ok, failed, elapsedMs: performance.now() - started };
}

async function echo(cmd: Extract<LoadCommand, { op: "echo" }>): Promise<LoadResult> {
  const sockets = (await Promise.all(Array.from({ length: cmd.conns }, () => connect(cmd.url)))).filter((s) => s !== undefined);
  const failedConnects = cmd.conns - sockets.length;
  const payload = Buffer.alloc(cmd.size, "e");
  const samples = new Float64Array(MAX_SAMPLES);
  let sampled = 0;
  let ok = 0;
  let measuring = false;
  let stopped = false;
  let started = 0;
  const finished: Promise<void>[] = sockets.map(
    (ws) =>
      new Promise<void>((resolve) => {
        let sentAt = 0;
        const send = () => {
          sentAt = performance.now();
          ws.send(payload);
        };
        ws.on("message", () => {
          if (measuring) {
            ok++;
            if (sampled < MAX_SAMPLES) samples[sampled++] = performance.now() - sentAt;
          }
          if (stopped) resolve();
          else send();
        });
        ws.once("close", () => resolve());
        send();
      }),
  );
  await new Promise((r) => setTimeout(r, cmd.warmupMs));
  process.send?.({ event: "start" });
  measuring = true;
  started = performance.now();
  await new Promise((r) => setTimeout(r, cmd.durationMs));
  measuring = false;
  const elapsedMs = performance.now() - started;
  stopped = true;
  // The messages still in flight come back (or the socket closes) within the attempt timeout.
  await Promise.race([Promise.all(finished), new Promise((r) => setTimeout(r, ATTEMPT_TIMEOUT_MS))]);
  for (const ws of sockets) ws.terminate();
  const sorted = samples.subarray(0, sampled).sort();
  const pct = (p: number) => (sampled === 0 ? 0 : Math.round((sorted[Math.min(sampled - 1, Math.floor(p * sampled))] ?? 0) * 1000));
  return { ok, failed: failedConnects, elapsedMs, p50Us: pct(0.5), p99Us: pct(0.99) };
}

async function open(cmd: Extract<LoadCommand, { op: "open" }>): Promise<LoadResult> {
  const started = performance.now();
  const deadline = started + cmd.timeoutMs;
  let next = 0;
  let failed = 0;
  const loop = async () => {
    while (next < cmd.count && performance.now() < deadline) {
      next++;
      const ws = await connect(cmd.url);
      if (ws) {
        ws.on("error", () => {});
        held.push(ws);
      } else failed++;
    }
  };
  await Promise.all(Array.from({ length: cmd.concurrency }, loop));
  return { ok: held.length, failed: failed + (cmd.count - next), elapsedMs: performance.now() - started };
}

async function closeAll(cmd: Extract<LoadCommand, { op: "closeAll" }>): Promise<LoadResult> {
  const started = performance.now();
  const closing = held.splice(0).map(
    (ws) =>
      new Promise<boolean>((resolve) => {
        if (ws.readyState === WebSocket.CLOSED) return resolve(false);
        ws.once("close", () => resolve(true));
        ws.close(1000);
      }),
  );
  const done = await Promise.race([Promise.all(closing), new Promise<boolean[]>((r) => setTimeout(() => r([]), cmd.timeoutMs))]);
  const ok = done.filter(Boolean).length;
  return { ok, failed: closing.length - ok, elapsedMs: performance.now() - started };
}

process.on("message", (cmd: LoadCommand) => {
  reasons = {};
  const run = cmd.op === "setup" ? setup(cmd) : cmd.op === "echo" ? echo(cmd) : cmd.op === "open" ? open(cmd) : closeAll(cmd);
  run.then(
    (result) => process.send?.({ result: Object.keys(reasons).length ? { ...result, reasons } : result }),
    (err: Error) => process.send?.({ error: err.message }),
  );
});
process.on("disconnect", () => process.exit(0));
