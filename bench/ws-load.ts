// The WebSocket load generator, in its own process (run.ts forks it) so it never shares an event loop with a proxy.
// It obeys one IPC command at a time and answers with one result; every loop is bounded by a count and a deadline.
//   setup: open → send one message → await the echo → close → await the close, `concurrency` loops in parallel
//   echo:  `conns` connections, each with one message in flight (closed loop); latency per round trip
//   open / closeAll: hold `count` idle connections open (for RSS per connection), then close them
//   uiload: Control UI cold loads one after another (control-ui.ts: index, then its modules and CSS, then one view's
//           lazy chunks, over up to 6 fresh keep-alive connections with a browser's request headers; then one
//           WebSocket upgrade and its first message); latency is the time of one whole load
// Before a measured window starts it sends {event:"start"} so run.ts can snapshot the proxy's CPU exactly there.
import net from "node:net";
import { performance } from "node:perf_hooks";
import WebSocket from "ws";
import { uiLoadPlan } from "./control-ui.ts";

export type LoadCommand =
  | { op: "setup"; url: string; concurrency: number; durationMs: number }
  | { op: "echo"; url: string; conns: number; size: number; durationMs: number; warmupMs: number }
  | { op: "open"; url: string; count: number; concurrency: number; timeoutMs: number }
  | { op: "closeAll"; timeoutMs: number }
  | { op: "uiload"; base: string; connections: number; durationMs: number };

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
  const sockets = (await Promise.all(Array.from({ length: cmd.conns }, () => connect(cmd.url)))).filter(
    (s) => s !== undefined,
  );
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
  const pct = (p: number) =>
    sampled === 0 ? 0 : Math.round((sorted[Math.min(sampled - 1, Math.floor(p * sampled))] ?? 0) * 1000);
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
  const done = await Promise.race([
    Promise.all(closing),
    new Promise<boolean[]>((r) => setTimeout(() => r([]), cmd.timeoutMs)),
  ]);
  const ok = done.filter(Boolean).length;
  return { ok, failed: closing.length - ok, elapsedMs: performance.now() - started };
}

/** A browser's HTTP/1.1 connection: one request at a time, Content-Length framed responses (all the gateway sends). */
class BrowserConnection {
  readonly socket: net.Socket;
  #buf: Buffer | undefined;
  #pending: { resolve: (bytes: number) => void; reject: (err: Error) => void } | undefined;
  #need = -1; // body bytes of the response being read, -1 while its head is
  #bodyBytes = 0;
  constructor(host: string, port: number) {
    this.socket = net.connect({ host, port, noDelay: true });
    this.socket.on("data", (chunk: Buffer) => this.#onData(chunk));
    this.socket.on("error", (err) => this.#fail(err));
    this.socket.on("close", () => this.#fail(new Error("connection closed")));
  }
  get(target: string, headers: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject };
      this.socket.write(`GET ${target} HTTP/1.1\r\n${headers}\r\n`, "latin1");
    });
  }
  #fail(err: Error): void {
    const p = this.#pending;
    this.#pending = undefined;
    p?.reject(err);
  }
  #onData(chunk: Buffer): void {
    let buf = this.#buf === undefined ? chunk : Buffer.concat([this.#buf, chunk]);
    this.#buf = undefined;
    if (this.#need < 0) {
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) {
        this.#buf = buf;
        return;
      }
      const head = buf.toString("latin1", 0, end);
      const status = Number(head.slice(9, 12));
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      if (status !== 200 || !length)
        return this.#fail(new Error(status !== 200 ? `status ${status}` : "no content-length"));
      this.#need = Number(length[1]);
      this.#bodyBytes = this.#need;
      buf = buf.subarray(end + 4);
    }
    this.#need -= buf.length;
    if (this.#need > 0) return;
    if (this.#need < 0) return this.#fail(new Error("bytes after the response"));
    this.#need = -1;
    const p = this.#pending;
    this.#pending = undefined;
    p?.resolve(this.#bodyBytes);
  }
}

const CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36";
function browserHeaders(host: string, file: string): string {
  const common = `Host: ${host}\r\nConnection: keep-alive\r\nsec-ch-ua: "Chromium";v="142", "Not_A Brand";v="99"\r\nsec-ch-ua-mobile: ?0\r\nsec-ch-ua-platform: "Linux"\r\nUser-Agent: ${CHROME}\r\n`;
  const tail = "Accept-Encoding: gzip, deflate, br, zstd\r\nAccept-Language: en-US,en;q=0.9\r\n";
  if (file === "")
    return `${common}Upgrade-Insecure-Requests: 1\r\nAccept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8\r\nSec-Fetch-Site: none\r\nSec-Fetch-Mode: navigate\r\nSec-Fetch-User: ?1\r\nSec-Fetch-Dest: document\r\n${tail}`;
  const referer = `Referer: http://${host}/\r\n`;
  if (file.endsWith(".js"))
    return `${common}Origin: http://${host}\r\nAccept: */*\r\nSec-Fetch-Site: same-origin\r\nSec-Fetch-Mode: cors\r\nSec-Fetch-Dest: script\r\n${referer}${tail}`;
  if (file.endsWith(".css"))
    return `${common}Accept: text/css,*/*;q=0.1\r\nSec-Fetch-Site: same-origin\r\nSec-Fetch-Mode: no-cors\r\nSec-Fetch-Dest: style\r\n${referer}${tail}`;
  if (file.endsWith(".webmanifest"))
    return `${common}Accept: */*\r\nSec-Fetch-Site: same-origin\r\nSec-Fetch-Mode: cors\r\nSec-Fetch-Dest: manifest\r\n${referer}${tail}`;
  return `${common}Accept: image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8\r\nSec-Fetch-Site: same-origin\r\nSec-Fetch-Mode: no-cors\r\nSec-Fetch-Dest: image\r\n${referer}${tail}`;
}

/** The first message a Control UI sends on its WebSocket: a connect request of about this size. */
const CONNECT_FRAME = Buffer.from(
  JSON.stringify({
    type: "req",
    id: "0f9d3c1e-6a4b-4c1d-9e2f-1a2b3c4d5e6f",
    method: "connect",
    params: {
      minProtocol: 4,
      maxProtocol: 4,
      client: { id: "openclaw-control-ui", version: "2026.9.6", platform: "Linux x86_64", mode: "webchat" },
      role: "operator",
      scopes: ["operator.admin", "operator.approvals", "operator.pairing"],
      caps: [],
      auth: { token: "x".repeat(48) },
      userAgent: CHROME,
      locale: "en-US",
    },
  }),
);

/** One cold load; resolves with the time its WebSocket's first answer arrived (the load is done), after the close. */
async function oneUiLoad(base: URL, phases: string[][], connections: number): Promise<number> {
  const host = base.host;
  const port = Number(base.port);
  const conns: BrowserConnection[] = [];
  const connection = (i: number) => (conns[i] ??= new BrowserConnection(base.hostname, port));
  try {
    for (const phase of phases) {
      let next = 0;
      const worker = async (i: number) => {
        while (next < phase.length) {
          const file = phase[next++] as string;
          await connection(i).get(`/${file}`, browserHeaders(host, file));
        }
      };
      await Promise.all(Array.from({ length: Math.min(connections, phase.length) }, (_, i) => worker(i)));
    }
    return await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`ws://${host}/ws`, {
        ...CLIENT_OPTIONS,
        origin: `http://${host}`,
        headers: { "User-Agent": CHROME },
      });
      let answered = 0;
      const timer = setTimeout(() => ws.terminate(), ATTEMPT_TIMEOUT_MS);
      ws.once("open", () => ws.send(CONNECT_FRAME));
      ws.once("message", () => {
        answered = performance.now();
        ws.close(1000);
      });
      ws.once("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      ws.once("close", () => {
        clearTimeout(timer);
        if (answered) resolve(answered);
        else reject(new Error("WebSocket closed before its first message"));
      });
    });
  } finally {
    for (const c of conns) c.socket.destroy();
  }
}

async function uiload(cmd: Extract<LoadCommand, { op: "uiload" }>): Promise<LoadResult> {
  const base = new URL(cmd.base);
  const phases = uiLoadPlan().phases;
  const samples: number[] = [];
  let failed = 0;
  process.send?.({ event: "start" });
  const started = performance.now();
  const deadline = started + cmd.durationMs;
  while (performance.now() < deadline) {
    const t0 = performance.now();
    try {
      samples.push((await oneUiLoad(base, phases, cmd.connections)) - t0);
    } catch (err) {
      failed++;
      noteFailure((err as Error).message);
    }
  }
  const elapsedMs = performance.now() - started;
  samples.sort((a, b) => a - b);
  const pct = (p: number) =>
    samples.length === 0
      ? 0
      : Math.round((samples[Math.min(samples.length - 1, Math.floor(p * samples.length))] ?? 0) * 1000);
  return { ok: samples.length, failed, elapsedMs, p50Us: pct(0.5), p99Us: pct(0.99) };
}

process.on("message", (cmd: LoadCommand) => {
  reasons = {};
  const run =
    cmd.op === "setup"
      ? setup(cmd)
      : cmd.op === "echo"
        ? echo(cmd)
        : cmd.op === "open"
          ? open(cmd)
          : cmd.op === "uiload"
            ? uiload(cmd)
            : closeAll(cmd);
  run.then(
    (result) => process.send?.({ result: Object.keys(reasons).length ? { ...result, reasons } : result }),
    (err: Error) => process.send?.({ error: err.message }),
  );
});
process.on("disconnect", () => process.exit(0));
