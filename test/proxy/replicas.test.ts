// Several sidecar replicas behind a real HAProxy (Debian's haproxy, per-request round robin): what replicas share —
// the cookie secret, so a session or an OIDC login started on one is finished or accepted by another — and what they
// do not — the failed-login limiter, which counts per process — and a rolling restart (SIGTERM one replica at a time)
// under HTTP and WebSocket traffic that loses no request and closes WebSockets only with 1001.
//
// Everything is on 127.0.0.1: the fake gateway (test/helpers/upstream.ts, in this process), three sidecar processes
// (the real CLI), a real OpenID provider process, and HAProxy. Which replica answered a request is read from the
// replicas' own access logs: every request carries a unique `probe=` query parameter.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import WebSocket from "ws";
import { eventually, freePort } from "../helpers/net.ts";
import {
  Browser,
  CLIENT_ID,
  CLIENT_SECRET,
  type ProviderProcess,
  loginThroughProvider,
  signingKey,
  startProvider,
} from "../helpers/oidc.ts";
import { type Child, startSidecarProcess } from "../helpers/processes.ts";
import { describeTier } from "../helpers/tier.ts";
import { type FakeGateway, startFakeGateway } from "../helpers/upstream.ts";

const HAPROXY = "/usr/sbin/haproxy";
const TOKEN = "replica-test-token-0123456789abcdef";
const COOKIE_SECRET = "replica-test-cookie-secret-0123456789abcdef";
const MAX_FAILURES = 3;
const DRAIN_MS = 1500;
const REPLICAS = 3;

function missing(): string[] {
  if (existsSync(HAPROXY)) return [];
  return [`haproxy at ${HAPROXY} (Debian package haproxy)`];
}

interface Replica {
  name: string;
  port: number;
  adminPort: number;
  /** Every process this replica has been, oldest first (a rolling restart adds one). */
  lives: Child[];
}

let gw: FakeGateway;
let provider: ProviderProcess;
let haproxy: ChildProcess;
let haproxyOut = "";
let dir: string;
let front: string;
let statsUrl: string;
const replicas: Replica[] = [];

const current = (r: Replica): Child => r.lives[r.lives.length - 1] as Child;
const logsOf = (r: Replica): string => r.lives.map((c) => c.output()).join("");

/** The access log lines (parsed) of every replica whose URL carries `probe=<id>`, by replica name. */
function whoAnswered(probe: string): Array<{ replica: string; status: number; url: string; client: string }> {
  const out: Array<{ replica: string; status: number; url: string; client: string }> = [];
  for (const r of replicas) {
    for (const line of logsOf(r).split("\n")) {
      if (!line.includes(`probe=${probe}`) && !line.includes(`probe%3D${probe}`)) continue;
      const entry = JSON.parse(line) as { kind?: string; url: string; status: number; client: string };
      if (entry.kind === "http" || entry.kind === "websocket")
        out.push({ replica: r.name, status: entry.status, url: entry.url, client: entry.client });
    }
  }
  return out;
}

/** whoAnswered once `count` lines are there: the sidecar flushes its access log every 250 ms. */
async function answered(
  probe: string,
  count = 1,
): Promise<Array<{ replica: string; status: number; url: string; client: string }>> {
  await eventually(
    () => whoAnswered(probe).length >= count,
    3000,
    `${count} access log line(s) with probe=${probe}`,
  ).catch(() => undefined);
  return whoAnswered(probe);
}

async function startReplica(r: Replica, issuer: string): Promise<void> {
  const child = await startSidecarProcess({
    OPENCLAW_SIDECAR_LISTEN: `127.0.0.1:${r.port}`,
    OPENCLAW_SIDECAR_ADMIN_LISTEN: `127.0.0.1:${r.adminPort}`,
    OPENCLAW_SIDECAR_UPSTREAM: gw.url,
    OPENCLAW_SIDECAR_MODE: "identity",
    OPENCLAW_SIDECAR_TOKEN: TOKEN,
    OPENCLAW_SIDECAR_USER: "ci-bot",
    OPENCLAW_SIDECAR_COOKIE_SECRET: COOKIE_SECRET,
    OPENCLAW_SIDECAR_PUBLIC_ORIGIN: front,
    OPENCLAW_SIDECAR_TRUSTED_HOPS: "127.0.0.1/32",
    OPENCLAW_SIDECAR_AUTH_MAX_FAILURES: String(MAX_FAILURES),
    OPENCLAW_SIDECAR_DRAIN_TIMEOUT_MS: String(DRAIN_MS),
    OPENCLAW_SIDECAR_OIDC_ISSUER: issuer,
    OPENCLAW_SIDECAR_OIDC_CLIENT_ID: CLIENT_ID,
    OPENCLAW_SIDECAR_OIDC_CLIENT_SECRET: CLIENT_SECRET,
    OPENCLAW_SIDECAR_OIDC_SCOPES: "openid email profile groups",
    OPENCLAW_SIDECAR_OIDC_ALLOWED_DOMAINS: "example.com",
    OPENCLAW_SIDECAR_CONTROL_UI_TOKEN_LOGIN: "false",
  });
  r.lives.push(child);
}

/**
 * HAProxy as "Several replicas" (docs/kubernetes.md) has it: per-request round robin (`option http-server-close`: a
 * fresh server connection per request), X-Forwarded-For overwritten with the peer (`set-header`, not `option
 * forwardfor`, which appends), health checks on each replica's admin /readyz (503 while draining), and L7 retries
 * that redispatch to another replica when a connection is refused or closed without an answer, or a 503 comes back.
 * A health check may take 2 s (`timeout check`): without it HAProxy allows `inter` (250 ms), and on a loaded machine
 * slow answers from healthy replicas marked them all down at once — 503 from HAProxy itself, no replica at fault.
 */
function haproxyConfig(frontPort: number, statsPort: number): string {
  return `global
  maxconn 2000
defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  timeout tunnel 1h
  timeout http-keep-alive 10s
  timeout check 2s
  option http-server-close
  retries 3
  option redispatch 1
  retry-on conn-failure empty-response 503
frontend front
  bind 127.0.0.1:${frontPort}
  http-request set-header X-Forwarded-For %[src]
  http-request set-header X-Forwarded-Proto http
  default_backend sidecars
backend sidecars
  balance roundrobin
  option httpchk GET /readyz
  http-check expect status 200
  default-server inter 250 fall 1 rise 2
${replicas.map((r) => `  server ${r.name} 127.0.0.1:${r.port} check port ${r.adminPort}`).join("\n")}
frontend stats
  bind 127.0.0.1:${statsPort}
  stats enable
  stats uri /stats
`;
}

/** Server name → HAProxy's health status ("UP", "DOWN", "UP 1/2" …), from its CSV stats page. */
async function serverStates(): Promise<Record<string, string>> {
  const csv = await (await fetch(`${statsUrl};csv`)).text();
  const states: Record<string, string> = {};
  for (const line of csv.split("\n")) {
    const cols = line.split(",");
    if (cols[0] === "sidecars" && cols[1] !== "BACKEND" && cols[1] !== "FRONTEND")
      states[cols[1] as string] = cols[17] as string;
  }
  return states;
}

const allUp = async (): Promise<boolean> =>
  Object.values(await serverStates()).filter((s) => s === "UP").length === REPLICAS;

describeTier("replicas behind HAProxy", missing(), () => {
  beforeAll(async () => {
    gw = await startFakeGateway();
    const frontPort = await freePort();
    const statsPort = await freePort();
    front = `http://127.0.0.1:${frontPort}`;
    statsUrl = `http://127.0.0.1:${statsPort}/stats`;
    provider = await startProvider({
      redirectUris: [`${front}/oauth2/callback`],
      postLogoutRedirectUris: [`${front}/logout`],
      keys: [await signingKey("replicas")],
    });
    for (let i = 1; i <= REPLICAS; i++)
      replicas.push({ name: `r${i}`, port: await freePort(), adminPort: await freePort(), lives: [] });
    await Promise.all(replicas.map((r) => startReplica(r, provider.issuer)));
    dir = mkdtempSync(path.join(tmpdir(), "replicas-haproxy-"));
    const file = path.join(dir, "haproxy.cfg");
    writeFileSync(file, haproxyConfig(frontPort, statsPort));
    execFileSync(HAPROXY, ["-c", "-q", "-f", file]);
    haproxy = spawn(HAPROXY, ["-db", "-f", file], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    haproxy.stdout?.on("data", (d: Buffer) => (haproxyOut += d.toString()));
    haproxy.stderr?.on("data", (d: Buffer) => (haproxyOut += d.toString()));
    await eventually(async () => allUp().catch(() => false), 15_000, `HAProxy to see ${REPLICAS} replicas up`);
  });

  afterAll(async () => {
    if (haproxy && haproxy.exitCode === null) {
      const exited = new Promise((r) => haproxy.once("exit", r));
      haproxy.kill("SIGTERM");
      await exited;
    }
    await Promise.all(replicas.map((r) => current(r).kill("SIGTERM")));
    await provider?.stop();
    await gw?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("a session cookie issued by one replica (?token= login) is accepted by the others", async () => {
    const login = await fetch(`${front}/?token=${TOKEN}&probe=login`, {
      redirect: "manual",
      headers: { accept: "text/html" },
    });
    expect(login.status).toBe(303);
    const cookie = login.headers
      .getSetCookie()
      .map((c) => c.split(";")[0])
      .join("; ");
    expect(cookie).not.toBe("");
    const issuer = await answered("login");
    expect(issuer).toHaveLength(1);

    const answeredBy = new Set<string>();
    for (let i = 0; i < 2 * REPLICAS; i++) {
      const res = await fetch(`${front}/api/whoami?probe=cookie${i}`, { headers: { cookie } });
      expect(res.status).toBe(200);
      const seen = (await res.json()) as { headers: Record<string, string> };
      expect(seen.headers["x-forwarded-user"]).toBe("ci-bot");
      const by = await answered(`cookie${i}`);
      expect(by).toHaveLength(1);
      answeredBy.add((by[0] as { replica: string }).replica);
    }
    // Every replica accepted the cookie, including the REPLICAS - 1 that did not issue it.
    expect([...answeredBy].sort()).toEqual(replicas.map((r) => r.name));
  });

  it("HAProxy overwrites X-Forwarded-For: a client's forged value is never believed through the trusted hop", async () => {
    const res = await fetch(`${front}/api/whoami?probe=xff`, {
      headers: { authorization: `Bearer ${TOKEN}`, "x-forwarded-for": "203.0.113.9" },
    });
    expect(res.status).toBe(200);
    const seen = (await res.json()) as { headers: Record<string, string> };
    // The client is loopback (HAProxy's view of it), sent on as the loopback substitute; 203.0.113.9 went nowhere.
    expect(seen.headers["x-forwarded-for"]).toBe("192.0.2.1");
    expect((await answered("xff")).map((e) => e.client)).toEqual(["127.0.0.1"]);
  });

  it("an OIDC login started on one replica completes on another", async () => {
    const browser = new Browser();
    const { final } = await loginThroughProvider(browser, front, "/chat?probe=oidcstart", "alice");
    expect(final.status).toBe(200);
    expect(final.url).toBe(`${front}/chat?probe=oidcstart`);
    const seen = JSON.parse(final.body) as { headers: Record<string, string> };
    expect(seen.headers["x-forwarded-user"]).toBe("alice@example.com");
    // The start (303 to the provider), the callback and the return to /chat: three requests, each on its own replica.
    const started = await answered("oidcstart", 2);
    await eventually(
      () => replicas.some((r) => logsOf(r).includes('"url":"/oauth2/callback')),
      3000,
      "the callback's access log line",
    );
    const start = started.find((e) => e.status === 303 && e.url.startsWith("/chat"));
    const back = started.find((e) => e.status === 200 && e.url.startsWith("/chat"));
    const callbacks = replicas.flatMap((r) =>
      logsOf(r)
        .split("\n")
        .filter((l) => l.includes('"url":"/oauth2/callback'))
        .map(() => r.name),
    );
    expect(start).toBeDefined();
    expect(callbacks).toHaveLength(1);
    expect(callbacks[0]).not.toBe(start?.replica);
    expect(back).toBeDefined();
  });

  it("the failed-login limiter is per replica: each locks out on its own count", async () => {
    // REPLICAS × MAX_FAILURES wrong tokens spread by round robin: each replica sees MAX_FAILURES, none yet locked out,
    // though one sidecar alone would have locked the address out after MAX_FAILURES.
    const statuses: number[] = [];
    for (let i = 0; i < REPLICAS * MAX_FAILURES; i++) {
      const res = await fetch(`${front}/?token=wrong-token-${i}-0123456789&probe=wrong${i}`, {
        redirect: "manual",
        headers: { accept: "text/html" },
      });
      statuses.push(res.status);
    }
    expect(statuses.every((s) => s === 401)).toBe(true);
    const perReplica = new Map<string, number>();
    for (let i = 0; i < statuses.length; i++) {
      const by = await answered(`wrong${i}`);
      expect(by).toHaveLength(1);
      const name = (by[0] as { replica: string }).replica;
      perReplica.set(name, (perReplica.get(name) ?? 0) + 1);
    }
    expect(Object.fromEntries(perReplica)).toEqual(Object.fromEntries(replicas.map((r) => [r.name, MAX_FAILURES])));
    // The next wrong token on each replica is its first past MAX_FAILURES: 429, on every one of them.
    const locked = await Promise.all(
      replicas.map(async (_, i) => {
        const res = await fetch(`${front}/?token=wrong-token-late-${i}-0123456789&probe=late${i}`, {
          redirect: "manual",
          headers: { accept: "text/html" },
        });
        return res.status;
      }),
    );
    expect(locked).toEqual(replicas.map(() => 429));
    const lateBy = await Promise.all(replicas.map(async (_, i) => (await answered(`late${i}`))[0]?.replica));
    expect(new Set(lateBy).size).toBe(REPLICAS);
    // The right token still passes on every replica (and clears that replica's count).
    for (let i = 0; i < REPLICAS; i++) {
      const res = await fetch(`${front}/?token=${TOKEN}&probe=right${i}`, {
        redirect: "manual",
        headers: { accept: "text/html" },
      });
      expect(res.status).toBe(303);
    }
  });

  it("a rolling restart under HTTP and WebSocket traffic loses no request and closes WebSockets only with 1001", async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const result = { sent: 0, ok: 0, failed: [] as string[] };
    let running = true;
    // Two client loops: each request waits for the previous answer, as a dashboard's fetches do.
    const loop = async (id: number): Promise<void> => {
      for (let n = 0; running; n++) {
        result.sent++;
        try {
          const res = await fetch(`${front}/api/poll?probe=roll${id}-${n}`, {
            headers: auth,
            signal: AbortSignal.timeout(10_000),
          });
          await res.arrayBuffer();
          if (res.status >= 200 && res.status < 300) result.ok++;
          else result.failed.push(`status ${res.status}`);
        } catch (err) {
          result.failed.push(String((err as Error).cause ?? err));
        }
      }
    };
    // Six WebSockets, each echoing a message every 100 ms; a closed one is replaced (a client reconnecting).
    const closeCodes: number[] = [];
    const echoes = { sent: 0, received: 0 };
    const sockets = new Set<WebSocket>();
    const openSocket = (): void => {
      const ws = new WebSocket(`${front.replace("http", "ws")}/ws?probe=ws`, { headers: { ...auth, origin: front } });
      sockets.add(ws);
      let timer: NodeJS.Timeout | undefined;
      ws.on("message", () => echoes.received++);
      ws.on("open", () => {
        timer = setInterval(() => {
          echoes.sent++;
          ws.send("ping");
        }, 100);
      });
      ws.on("error", () => {});
      ws.on("close", (code) => {
        clearInterval(timer);
        sockets.delete(ws);
        closeCodes.push(code);
        if (running) openSocket();
      });
    };
    for (let i = 0; i < 6; i++) openSocket();
    const loops = [loop(1), loop(2)];
    await new Promise((r) => setTimeout(r, 500));

    for (const r of replicas) {
      const old = current(r);
      await old.kill("SIGTERM");
      expect(await old.exited).toBe(0);
      expect(old.output()).toContain('"drained"');
      await startReplica(r, provider.issuer);
      await eventually(allUp, 15_000, `HAProxy to see ${r.name} up again`);
    }
    await new Promise((r) => setTimeout(r, 500));
    running = false;
    await Promise.all(loops);
    for (const ws of sockets) ws.close(1000);
    await eventually(() => sockets.size === 0, 5000, "the WebSockets to close");

    expect(result.failed).toEqual([]);
    expect(result.ok).toBe(result.sent);
    expect(result.sent).toBeGreaterThan(50);
    // Every close the clients saw during the roll was the draining replica's 1001; the last six are our own 1000.
    const duringRoll = closeCodes.slice(0, -6);
    expect(duringRoll.length).toBeGreaterThanOrEqual(6);
    expect(new Set(duringRoll)).toEqual(new Set([1001]));
    expect(closeCodes.slice(-6)).toEqual([1000, 1000, 1000, 1000, 1000, 1000]);
    expect(echoes.received).toBeGreaterThan(100);
    console.log(
      `rolling restart: ${result.sent} requests, ${result.ok} answered 2xx; WebSocket closes during the roll: ${duringRoll.length}, codes ${[...new Set(duringRoll)].join(",")}; echoes ${echoes.received}/${echoes.sent}`,
    );
  }, 90_000);
});
