// The soak's clients, run as one process inside the client network namespace (so every connection comes from
// 10.77.0.2 through the emulated bridge) until a deadline, then one JSON line of tallies on stdout:
//
//   node bench/soak-traffic.ts '{"base":"https://10.77.0.3:8443","token":"…","untilMs":…}'
//
// Well-behaved traffic: Control UI loads (GET / and every asset it names), ?token= logins, CLI-like calls (HTTP with
// a Bearer, and short WebSocket connects through the scripted protocol client), 1 MiB uploads, held WebSockets with a
// request every few seconds. Misbehaving clients: slow readers, connections reset mid-request and mid-response,
// pipelined requests. The sidecar's certificate is trusted through NODE_EXTRA_CA_CERTS (the soak's test CA).
//
// The rotating user (credential reloads): bench/soak.ts writes one JSON line on stdin when it has added a user to the
// sidecar's tokensFile, `{"rotating":{"user":"…","token":"…","generation":N}}`, and `{"rotating":null}` just before it
// removes it. While a user is active, its Bearer calls `GET /health` every second (kind `rotating`) and holds two
// WebSockets (reconnected after a close); once told it goes, nothing of it starts any more and its open WebSockets are
// left for the sidecar to close. Every held WebSocket is recorded with its user and generation.
import net from "node:net";
import { createInterface } from "node:readline";
import tls from "node:tls";
import { connectGateway } from "../test/gateway/protocol-client.ts";
import { type HeldRecord, holdWebSocket } from "./soak-ws.ts";

interface Options {
  base: string;
  token: string;
  untilMs: number;
}
const opts = JSON.parse(process.argv[2] ?? "{}") as Options;
const base = new URL(opts.base);
const bearer = { authorization: `Bearer ${opts.token}` };

/** Per kind of request: how many were sent, answered (by status), or got no answer (by reason); and when. */
interface Tally {
  sent: number;
  statuses: Record<string, number>;
  failed: Record<string, number>;
  events: Array<[number, string]>;
}
const http: Record<string, Tally> = {};
const tally = (kind: string): Tally => (http[kind] ??= { sent: 0, statuses: {}, failed: {}, events: [] });
const misbehaving = {
  slowReader: { runs: 0, completed: 0, failed: 0, answered502: 0 },
  resetMidRequest: { runs: 0 },
  resetMidResponse: { runs: 0 },
  pipelined: { runs: 0, requests: 0, answered: 0, failed: 0 },
};
const held: HeldRecord[] = [];
const cliWs: Record<string, number> = {};
let cookie = "";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const running = (): boolean => Date.now() < opts.untilMs;

function reasonOf(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).name ?? String(err);
}

/** One request; every outcome is tallied. Non-2xx/3xx answers and failures are kept with their time. */
async function request(kind: string, path: string, init: RequestInit = {}): Promise<Response | undefined> {
  const t = tally(kind);
  t.sent++;
  try {
    const res = await fetch(new URL(path, base), { redirect: "manual", signal: AbortSignal.timeout(30_000), ...init });
    await res.arrayBuffer().catch(() => undefined);
    t.statuses[res.status] = (t.statuses[res.status] ?? 0) + 1;
    if (res.status >= 400) t.events.push([Date.now(), String(res.status)]);
    return res;
  } catch (err) {
    const reason = reasonOf(err);
    t.failed[reason] = (t.failed[reason] ?? 0) + 1;
    t.events.push([Date.now(), reason]);
    return undefined;
  }
}

const crashes: string[] = [];
async function every(ms: number, body: () => Promise<void>): Promise<void> {
  while (running()) {
    const started = Date.now();
    await body().catch((err: unknown) => void crashes.push(String(err)));
    await sleep(Math.max(0, ms - (Date.now() - started)));
  }
}

async function login(): Promise<void> {
  const res = await request("login", `/?token=${opts.token}`, { headers: { accept: "text/html" } });
  const set = res?.headers
    .getSetCookie()
    .map((c) => c.split(";")[0])
    .join("; ");
  if (set) cookie = set;
}

let assets: string[] = [];
/** The Control UI's build id, from its index.html: Control UI clients must send it in their connect frame. */
let buildId = "";
async function controlUi(): Promise<void> {
  const res = await request("ui", "/", { headers: { accept: "text/html", cookie } });
  if (res === undefined) return;
  // The body was consumed by request(); fetch the page once more only when the asset list is unknown.
  if (assets.length === 0 && res.status === 200) {
    const html = await fetch(new URL("/", base), { headers: { accept: "text/html", cookie } })
      .then((r) => r.text())
      .catch(() => "");
    buildId = /data-openclaw-control-ui-build-id="([^"]+)"/.exec(html)?.[1]?.replace(/-[0-9a-f]{64}$/, "") ?? "";
    assets = [...html.matchAll(/(?:src|href)="\.?\/?((?:assets|favicon)[^"]*)"/g)].map((m) => `/${m[1]}`);
  }
  await Promise.all(assets.map((a) => request("asset", a, { headers: { cookie } })));
}

const MiB = Buffer.alloc(1 << 20, 0x5a);
const upload = () =>
  request("upload", "/soak/upload", {
    method: "POST",
    body: MiB,
    headers: { ...bearer, "content-type": "application/octet-stream" },
  }).then(() => undefined);
const cliHttp = () =>
  request("cli", "/health", { headers: { ...bearer, accept: "application/json" } }).then(() => undefined);

async function cliConnect(): Promise<void> {
  const r = await connectGateway({
    url: `${opts.base.replace("https", "wss")}/`,
    headers: bearer,
    origin: opts.base,
    clientId: "openclaw-control-ui",
    buildId,
    scopes: ["operator.read"],
    timeoutMs: 15_000,
  });
  const key = r.kind === "close" ? `close ${r.code}` : r.kind === "http" ? `http ${r.status}` : r.kind;
  cliWs[key] = (cliWs[key] ?? 0) + 1;
}

/**
 * One held WebSocket slot: connected, held until closed, reconnected a second later while `active()` (the soak runs
 * and, for the rotating user, its credential is still meant to be there).
 */
async function heldSlot(
  who = { user: "main", generation: 0, token: opts.token },
  active: () => boolean = running,
): Promise<void> {
  while (active()) {
    const headers = { authorization: `Bearer ${who.token}`, origin: opts.base };
    const h = holdWebSocket(`${opts.base.replace("https", "wss")}/`, headers, 3000, buildId);
    const stopAt = setTimeout(() => h.stop(), Math.max(0, opts.untilMs - Date.now()));
    held.push({ ...(await h.done), user: who.user, generation: who.generation });
    clearTimeout(stopAt);
    await sleep(1000);
  }
}

/** The rotating user in force, as the soak last said; undefined while it has none. */
let rotating: { user: string; token: string; generation: number } | undefined;
const rotatingWork: Array<Promise<void>> = [];
function startRotating(who: { user: string; token: string; generation: number }): void {
  rotating = who;
  const active = () => running() && rotating?.generation === who.generation;
  const calls = async (): Promise<void> => {
    while (active()) {
      await request("rotating", "/health", { headers: { authorization: `Bearer ${who.token}` } });
      await sleep(1000);
    }
  };
  rotatingWork.push(calls(), heldSlot(who, active), heldSlot(who, active));
}
createInterface({ input: process.stdin }).on("line", (line) => {
  const msg = JSON.parse(line) as { rotating?: { user: string; token: string; generation: number } | null };
  if (msg.rotating === null) rotating = undefined;
  else if (msg.rotating !== undefined) startRotating(msg.rotating);
});

/** A TLS connection over a TCP socket of our own: a TLS socket cannot send a reset, its TCP socket can. */
function rawTls(): tls.TLSSocket & { tcp: net.Socket } {
  const tcp = net.connect(Number(base.port), base.hostname);
  tcp.on("error", () => {});
  const s = tls.connect({ socket: tcp, host: base.hostname, servername: undefined }) as tls.TLSSocket & {
    tcp: net.Socket;
  };
  s.tcp = tcp;
  s.on("error", () => {});
  return s;
}

/** A client that asks for the largest asset and reads it 4 KiB at a time, pausing 50 ms between reads. */
function slowReader(): Promise<void> {
  misbehaving.slowReader.runs++;
  const path = assets.at(-1) ?? "/";
  return new Promise((resolve) => {
    const s = rawTls();
    let got = "";
    const timer = setTimeout(() => s.destroy(), 60_000);
    s.once("secureConnect", () => {
      s.write(`GET ${path} HTTP/1.1\r\nHost: ${base.host}\r\nCookie: ${cookie}\r\nConnection: close\r\n\r\n`);
      s.pause();
      const tick = setInterval(() => {
        const chunk = s.read(4096) as Buffer | null;
        if (chunk) got += chunk.toString("latin1");
      }, 50);
      s.once("end", () => clearInterval(tick));
      s.once("close", () => {
        clearInterval(tick);
        clearTimeout(timer);
        if (/^HTTP\/1\.1 200/.test(got)) misbehaving.slowReader.completed++;
        else if (/^HTTP\/1\.1 502/.test(got)) misbehaving.slowReader.answered502++;
        else misbehaving.slowReader.failed++;
        resolve();
      });
    });
    s.once("close", () => resolve());
  });
}

/** Half a 1 MiB upload, then a TCP reset. */
function resetMidRequest(): Promise<void> {
  misbehaving.resetMidRequest.runs++;
  return new Promise((resolve) => {
    const s = rawTls();
    s.once("secureConnect", () => {
      s.write(
        `POST /soak/upload HTTP/1.1\r\nHost: ${base.host}\r\nAuthorization: Bearer ${opts.token}\r\nContent-Length: ${1 << 20}\r\n\r\n`,
      );
      s.write(MiB.subarray(0, 512 << 10), () => setTimeout(() => s.tcp.resetAndDestroy(), 20));
    });
    s.once("close", () => resolve());
  });
}

/** A large asset asked for, then a reset once its first bytes arrived. */
function resetMidResponse(): Promise<void> {
  misbehaving.resetMidResponse.runs++;
  return new Promise((resolve) => {
    const s = rawTls();
    s.once("secureConnect", () =>
      s.write(`GET ${assets.at(-1) ?? "/"} HTTP/1.1\r\nHost: ${base.host}\r\nCookie: ${cookie}\r\n\r\n`),
    );
    s.once("data", () => s.tcp.resetAndDestroy());
    s.once("close", () => resolve());
    setTimeout(() => s.destroy(), 10_000);
  });
}

/** Three requests in one write; counts the status lines that come back before the server closes. */
function pipelined(): Promise<void> {
  misbehaving.pipelined.runs++;
  misbehaving.pipelined.requests += 3;
  return new Promise((resolve) => {
    const s = rawTls();
    let got = "";
    const req = (last: boolean) =>
      `GET /healthz HTTP/1.1\r\nHost: ${base.host}\r\nAuthorization: Bearer ${opts.token}\r\n${last ? "Connection: close\r\n" : ""}\r\n`;
    s.once("secureConnect", () => s.write(req(false) + req(false) + req(true)));
    s.on("data", (d: Buffer) => (got += d.toString("latin1")));
    const timer = setTimeout(() => s.destroy(), 15_000);
    s.once("close", () => {
      clearTimeout(timer);
      // A status line follows the previous body directly (no CRLF after a JSON body): count them anywhere.
      const answers = (got.match(/HTTP\/1\.1 \d{3} /g) ?? []).length;
      misbehaving.pipelined.answered += answers;
      misbehaving.pipelined.failed += 3 - answers;
      resolve();
    });
  });
}

await login();
await controlUi();
await Promise.all([
  every(5000, login),
  every(1500, controlUi),
  every(1000, cliHttp),
  every(2000, upload),
  every(5000, cliConnect),
  ...Array.from({ length: 6 }, () => heldSlot()),
  every(4000, slowReader),
  every(3000, resetMidRequest),
  every(3000, resetMidResponse),
  every(2000, pipelined),
]);
await Promise.all(rotatingWork);
process.stdout.write(
  `${JSON.stringify({ http, misbehaving, held, cliWs, assets: assets.length, crashes: crashes.slice(0, 20) })}\n`,
);
process.exit(0);
