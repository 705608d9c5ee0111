// Regression tests for issue 11, "Close every way around the gate": one block per finding, named after it. Each was
// run once against c963d8a (before the fixes) and reproduced its finding there. The witness is an upstream that
// parses with llhttp, the gateway's own parser (test/helpers/recording-upstream.ts): what it records is what the
// gateway would have acted on.
import net from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { COOKIE_NAME, createAuthGate } from "../../src/gate/auth-gate.ts";
import { TokenVerifier, signSession } from "../../src/gate/credentials.ts";
import { ConfigError, loadConfig } from "../../src/options/config.ts";
import type { ClientView } from "../../src/forwarding/forwarded-headers.ts";
import { parseRequestHead } from "../../src/http/http1.ts";
import { createLogger } from "../../src/ops/log.ts";
import { createMetrics } from "../../src/ops/metrics.ts";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { eventually, rawExchange, upgradeRequest } from "../helpers/net.ts";
import { type RecordingUpstream, startRecordingUpstream } from "../helpers/recording-upstream.ts";
import { startTestSidecar, type TestSidecar } from "../helpers/sidecar.ts";

const TOKEN = "correct-horse-battery-staple-0123456789";
const SECRET = "s".repeat(40);
let up: RecordingUpstream;
const started: TestSidecar[] = [];
beforeAll(async () => {
  up = await startRecordingUpstream();
});
afterEach(async () => {
  for (const sc of started.splice(0)) await sc.close();
  up.parsed.length = 0;
});
afterAll(async () => {
  await up?.close();
});

async function sidecar(flags: Record<string, string>): Promise<TestSidecar> {
  const sc = await startTestSidecar({ "--upstream": up.url, ...flags });
  started.push(sc);
  return sc;
}
// The token-field login (on by default for one user) is tested on its own, in test/gate/token-field-login.test.ts.
const identity = (extra: Record<string, string> = {}) =>
  sidecar({
    "--mode": "identity",
    "--token": TOKEN,
    "--user": "alice@example.com",
    "--cookie-secret": SECRET,
    "--control-ui-token-login": "false",
    ...extra,
  });
const local = (extra: Record<string, string> = {}) =>
  sidecar({ "--mode": "local", "--token": TOKEN, "--cookie-secret": SECRET, ...extra });
const portOf = (sc: TestSidecar) => Number(new URL(sc.url).port);
const statusOf = (response: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0);
const statuses = (response: string) => [...response.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
/** A valid session cookie for the identity() sidecar's credential, made the way the sidecar makes one. */
const sessionCookie = () => {
  const cred = { user: "alice@example.com", token: TOKEN };
  const session = signSession(
    { current: Buffer.from(SECRET), previous: [] },
    { user: cred.user, credential: new TokenVerifier([cred]).idOf(cred) },
    Date.now(),
    60_000,
  );
  return `${COOKIE_NAME}=${session}`;
};
const tmp = () => mkdtempSync(path.join(tmpdir(), "ocsc-gate-"));

// The smuggled request of the finding: forged identity, scopes and client address.
const SMUGGLED =
  "GET /x HTTP/1.1\r\nHost: x\r\nx-forwarded-user: mallory\r\nx-openclaw-scopes: operator.admin\r\nX-Forwarded-For: 10.9.9.9\r\n\r\n";

describe("finding 1: request smuggling through Connection: content-length", () => {
  const cases: Array<[string, () => Promise<TestSidecar>, string]> = [
    ["attribution", () => sidecar({}), ""],
    ["identity, public path", () => identity({ "--public-paths": "/healthz" }), ""],
    ["identity, valid token (becoming another user)", () => identity(), `Authorization: Bearer ${TOKEN}\r\n`],
    ["local, valid token", () => local(), `Authorization: Bearer ${TOKEN}\r\n`],
  ];
  it.each(cases)("%s: the body never becomes a second request upstream", async (_name, start, auth) => {
    const sc = await start();
    for (const connection of ["content-length", "Content-Length, keep-alive", "close, content-length"]) {
      up.parsed.length = 0;
      const attack = `POST /healthz HTTP/1.1\r\nHost: x\r\n${auth}Connection: ${connection}\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`;
      const next = `GET /next HTTP/1.1\r\nHost: x\r\n${auth}\r\n`;
      const response = await rawExchange(portOf(sc), attack + next, 1000);
      expect(up.parsed.map((p) => p.url)).not.toContain("/x");
      for (const p of up.parsed) expect(up.values(p, "x-forwarded-user")).not.toContain("mallory");
      // A proxy may refuse a Connection header that names a framing field (RFC 9110 §7.6.1): it does.
      expect(statusOf(response)).toBe(400);
      expect(response).toContain("connection_names_framing_field");
    }
  });

  it("also through Connection: transfer-encoding (a chunked body read as a request)", async () => {
    const sc = await sidecar({});
    const chunk = `${SMUGGLED.length.toString(16)}\r\n${SMUGGLED}\r\n0\r\n\r\n`;
    const response = await rawExchange(
      portOf(sc),
      `POST /a HTTP/1.1\r\nHost: x\r\nConnection: transfer-encoding\r\nTransfer-Encoding: chunked\r\n\r\n${chunk}`,
      1000,
    );
    expect(statusOf(response)).toBe(400);
    expect(up.parsed.map((p) => p.url)).not.toContain("/x");
  });

  it("the framing sent upstream is always the parsed framing, whatever a header rule removed", async () => {
    // Connection may still name ordinary fields, which are dropped as hop-by-hop; the body keeps its length.
    const sc = await sidecar({});
    const response = await rawExchange(
      portOf(sc),
      `POST /a HTTP/1.1\r\nHost: x\r\nConnection: x-hop\r\nx-hop: 1\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      1000,
    );
    expect(statuses(response)).toEqual([200, 200]);
    expect(up.parsed.map((p) => [p.url, p.body.toString()])).toEqual([
      ["/a", "hello"],
      ["/b", ""],
    ]);
    expect(up.values(up.parsed[0]!, "x-hop")).toEqual([]);
    expect(up.values(up.parsed[0]!, "content-length")).toEqual(["5"]);
  });
});

describe("finding 2: WebSocket upgrades to a publicPaths path skip authentication", () => {
  it.each([
    ["identity", () => identity({ "--public-paths": "/healthz,/assets/" })],
    ["local", () => local({ "--public-paths": "/healthz,/assets/" })],
  ])("%s: an upgrade to a public path still needs a credential", async (_mode, start) => {
    const sc = await start();
    for (const target of ["/healthz", "/assets/x.js"]) {
      const response = await rawExchange(portOf(sc), upgradeRequest(target), 1000);
      expect(statusOf(response)).toBe(401);
    }
    expect(up.parsed).toEqual([]);
    // The same path over plain HTTP stays public.
    expect(
      statusOf(await rawExchange(portOf(sc), "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 1000)),
    ).toBe(200);
  });
});

describe("finding 3: path traversal through prefix public paths", () => {
  it("matching is on the path the gateway resolves; encoded slashes never match", async () => {
    const sc = await identity({ "--public-paths": "/static/,/healthz" });
    const walkarounds = [
      "/static/../api/x",
      "/static/%2e%2e/api/x",
      "/static/%2E%2e/api/x",
      "/static/.%2e/api/x",
      "/static/..%2fapi",
      "/static/..%2Fapi",
      "/static/%2e%2e%2fapi",
      "/static/..\\api",
      "/static\\..\\api",
      "/static/./../api/x",
      "/static/x/../../api",
      "/static/..;/api",
      "/static/%2e%2e;/api",
      "/healthz/../api",
      "/static/%5c..%5capi",
      "/static/..%5capi",
      "/%73tatic/../api",
    ];
    for (const target of walkarounds) {
      const response = await rawExchange(
        portOf(sc),
        `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
        1000,
      );
      expect([target, statusOf(response)]).toEqual([target, 401]);
    }
    expect(up.parsed).toEqual([]);
    // What resolves inside the prefix stays public, including unreserved characters sent percent-encoded.
    for (const target of [
      "/static/app.js",
      "/static/a/../b.css",
      "/static/%61pp.js",
      "/st%61tic/app.js",
      "/healthz",
      "/static/./x",
    ]) {
      const response = await rawExchange(
        portOf(sc),
        `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
        1000,
      );
      expect([target, statusOf(response)]).toEqual([target, 200]);
    }
  });
});

describe("finding 4: a session cookie can carry another credential's scopes", () => {
  it("two tokensFile entries for one user with different scopes are refused at startup", () => {
    const dir = tmp();
    const file = path.join(dir, "tokens.json");
    writeFileSync(
      file,
      JSON.stringify([
        { user: "alice", token: "read-only-token-0123456789", scopes: ["operator.read"] },
        { user: "alice", token: "admin-token-0123456789abcd", scopes: ["operator.admin"] },
      ]),
    );
    let error: unknown;
    try {
      loadConfig({ env: {}, flags: { "--mode": "identity", "--tokens-file": file } });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toContain(
      'tokensFile: user "alice" has entries with different scopes (entries 0 and 1): a session could not tell which applies; give each scope set its own user name',
    );
  });

  it("a session is bound to the credential it was issued for: retiring that token ends it", async () => {
    const dir = tmp();
    const file = path.join(dir, "tokens.json");
    writeFileSync(
      file,
      JSON.stringify([{ user: "alice", token: "first-token-0123456789abcdef", scopes: ["operator.read"] }]),
    );
    const first = await sidecar({
      "--mode": "identity",
      "--tokens-file": file,
      "--cookie-secret": SECRET,
      "--control-ui-token-login": "false",
    });
    const login = await fetch(`${first.url}/?token=first-token-0123456789abcdef`, { redirect: "manual" });
    const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0] as string;
    expect((await fetch(`${first.url}/a`, { headers: { cookie } })).status).toBe(200);
    expect(up.values(up.parsed.at(-1)!, "x-openclaw-scopes")).toEqual(["operator.read"]);
    // The same user keeps a new token, with other scopes; the old token's session must not open it.
    writeFileSync(
      file,
      JSON.stringify([
        { user: "alice", token: "second-token-0123456789abcd", scopes: ["operator.admin", "operator.read"] },
      ]),
    );
    const second = await sidecar({
      "--mode": "identity",
      "--tokens-file": file,
      "--cookie-secret": SECRET,
      "--control-ui-token-login": "false",
    });
    const before = up.parsed.length;
    const res = await fetch(`${second.url}/a`, { headers: { cookie } });
    expect(res.status).toBe(401);
    expect(up.parsed.length).toBe(before);
  });
});

describe("finding 5: open redirect after login", () => {
  it.each([
    ["identity", () => identity(), ""],
    ["local", () => local(), `#token=${TOKEN}`],
  ])("%s: the redirect target is always a same-origin path", async (_mode, start, fragment) => {
    const sc = await start();
    for (const [target, location] of [
      ["/.//evil.com/", "/evil.com/"],
      ["//evil.com/", "/evil.com/"],
      ["/\\evil.com/", "/evil.com/"],
      ["/./\\/evil.com", "/evil.com"],
      ["/a/..//evil.com", "/evil.com"],
      ["/chat", "/chat"],
    ] as const) {
      const response = await rawExchange(
        portOf(sc),
        `GET ${target}?token=${TOKEN} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
        1000,
      );
      expect(statusOf(response)).toBe(303);
      expect([target, /\r\nLocation: ([^\r]*)\r\n/.exec(response)?.[1]]).toEqual([target, `${location}${fragment}`]);
    }
  });
});

describe("finding 6: trailers bypass header hygiene", () => {
  it.each([
    "x-forwarded-user: mallory",
    "X-Openclaw-Scopes: operator.admin",
    "x-forwarded-for: 10.9.9.9",
    "cf-connecting-ip: 10.9.9.9",
    "content-length: 5",
    "host: evil",
  ])("a request trailer %s is refused and never reaches the gateway", async (field) => {
    const sc = await identity();
    const response = await rawExchange(
      portOf(sc),
      `POST /a HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n${field}\r\n\r\n`,
      1000,
    );
    expect(statusOf(response)).toBe(400);
    expect(response).toContain("forbidden_trailer_field");
    for (const p of up.parsed) expect(p.rawTrailers).toEqual([]);
  });

  it("ordinary trailer fields still pass", async () => {
    const sc = await sidecar({});
    const response = await rawExchange(
      portOf(sc),
      "POST /a HTTP/1.1\r\nHost: x\r\nTrailer: x-checksum\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\nx-checksum: 1234\r\n\r\n",
      1000,
    );
    expect(statusOf(response)).toBe(200);
    expect(up.parsed[0]!.rawTrailers).toEqual(["x-checksum", "1234"]);
  });
});

describe("finding 7: no request-body deadline and no connection limit", () => {
  it("a body that stops arriving is answered 408 after bodyTimeoutMs, and both connections are closed", async () => {
    const sc = await sidecar({ "--body-timeout-ms": "300" });
    const started = Date.now();
    const response = await rawExchange(portOf(sc), "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nh", 3000);
    expect(statusOf(response)).toBe(408);
    expect(response).toContain("request_body_timeout");
    expect(Date.now() - started).toBeLessThan(2500);
    await eventually(() => up.parsed.length === 1 && up.parsed[0]!.complete === false);
  });

  it("a body trickling in a byte at a time is fine as long as each byte comes within the timeout", async () => {
    const sc = await sidecar({ "--body-timeout-ms": "400" });
    const socket = net.connect(portOf(sc), "127.0.0.1");
    let out = "";
    socket.on("data", (d) => (out += d.toString()));
    socket.write("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nConnection: close\r\n\r\n");
    for (const c of "trickl") {
      await new Promise((r) => setTimeout(r, 150));
      socket.write(c);
    }
    await eventually(() => out.includes("\r\n\r\n"), 3000, "the response");
    socket.destroy();
    expect(statusOf(out)).toBe(200);
    expect(up.parsed[0]!.body.toString()).toBe("trickl");
  });

  it("connections beyond maxConnections get a clear 503 and are closed; a freed slot is usable again", async () => {
    const sc = await sidecar({ "--max-connections": "3" });
    const held = await Promise.all(
      [0, 1, 2].map(
        () =>
          new Promise<net.Socket>((resolve) => {
            const s = net.connect(portOf(sc), "127.0.0.1", () => resolve(s));
          }),
      ),
    );
    await eventually(async () => (await sc.metric("openclaw_sidecar_active_connections", { kind: "http" })) === 3);
    const refused = await rawExchange(portOf(sc), "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 2000);
    expect(statusOf(refused)).toBe(503);
    expect(refused).toContain("too_many_connections");
    expect(await sc.metric("openclaw_sidecar_connections_refused_total")).toBe(1);
    held[0]!.destroy();
    await eventually(async () => (await sc.metric("openclaw_sidecar_active_connections", { kind: "http" })) === 2);
    expect(
      statusOf(await rawExchange(portOf(sc), "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 2000)),
    ).toBe(200);
    for (const s of held) s.destroy();
  });
});

describe("finding 8: a pipelining client that never reads grows memory without bound", () => {
  it("the next pipelined request waits until the previous response has drained to the client", async () => {
    // Each answer fits in one read (a larger one would stall inside the response, which was always bounded).
    const big = await startRecordingUpstream({ responseBytes: 4096 });
    try {
      const sc = await sidecar({ "--upstream": big.url });
      const socket = net.connect(portOf(sc), "127.0.0.1");
      socket.pause(); // never reads
      const request = "GET /p HTTP/1.1\r\nHost: x\r\n\r\n";
      await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
      // 20,000 pipelined requests, 80 MiB of answers if the sidecar kept answering into its own buffers.
      const burst = request.repeat(1000);
      for (let i = 0; i < 20; i++) socket.write(burst);
      await new Promise((r) => setTimeout(r, 1500));
      // Bounded by the kernel's socket buffers (a few MiB here), not by what the client sent.
      expect(big.parsed.length).toBeLessThan(5000);
      expect(big.parsed.length).toBeGreaterThan(0);
      const parsedWhilePaused = big.parsed.length;
      socket.resume(); // now it reads: everything is answered, in order
      let got = 0;
      socket.on("data", (d: Buffer) => (got += d.length));
      await eventually(() => big.parsed.length === 20_000, 60_000, "all pipelined requests answered");
      expect(big.parsed.length).toBeGreaterThan(parsedWhilePaused);
      socket.destroy();
    } finally {
      await big.close();
    }
  }, 90_000);
});

describe("finding 9: client bytes sent after the upgrade head but before the gateway's 101", () => {
  it("are relayed after the 101, never dropped", async () => {
    const slow = await startRecordingUpstream({ upgradeDelayMs: 300 });
    try {
      const sc = await sidecar({ "--upstream": slow.url });
      const socket = net.connect(portOf(sc), "127.0.0.1");
      let out = "";
      socket.on("data", (d) => (out += d.toString("latin1")));
      socket.write(upgradeRequest("/ws"));
      await new Promise((r) => setTimeout(r, 100));
      socket.write("early-bytes-1");
      await new Promise((r) => setTimeout(r, 50));
      socket.write("early-bytes-2");
      await eventually(() => out.includes("101"), 3000, "the 101");
      socket.write("late-bytes");
      await eventually(
        () => slow.parsed[0]?.tunnel.toString() === "early-bytes-1early-bytes-2late-bytes",
        3000,
        "every client byte upstream, in order",
      );
      socket.destroy();
    } finally {
      await slow.close();
    }
  });
});

describe("finding 10: hardening", () => {
  const view = (clientAddress: string): ClientView => ({
    clientAddress,
    forwardedFor: clientAddress,
    proto: "http",
    host: "x",
    allowed: true,
  });
  const gateFor = () => {
    const config = loadConfig({
      env: {},
      flags: {
        "--mode": "identity",
        "--token": TOKEN,
        "--cookie-secret": SECRET,
        "--auth-max-failures": "3",
        "--control-ui-token-login": "false",
      },
    });
    return createAuthGate(config, createLogger("silent"), createMetrics());
  };
  const head = (target: string, headers = "") =>
    parseRequestHead(`GET ${target} HTTP/1.1\r\nHost: x\r\n${headers}`.replace(/\r\n$/, ""), {
      maxHeaderBytes: 16384,
      maxHeaderCount: 100,
    });
  const statusFrom = (verdict: unknown) =>
    typeof verdict === "object" && verdict !== null && "status" in verdict
      ? (verdict as { status: number }).status
      : 200;

  it("the failed-login limiter buckets IPv6 clients by /64", async () => {
    const gate = gateFor();
    for (const host of ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:aaaa::3"])
      gate.checkRequest(head("/?token=wrong"), view(host));
    expect(statusFrom(await gate.checkRequest(head("/?token=wrong-again"), view("2001:db8:1:2:ffff::9")))).toBe(429);
    expect(statusFrom(await gate.checkRequest(head("/?token=wrong-again"), view("2001:db8:1:3::1")))).toBe(401);
    // IPv4 stays per address.
    for (let i = 0; i < 3; i++) gate.checkRequest(head("/?token=wrong"), view("10.0.0.1"));
    expect(statusFrom(await gate.checkRequest(head("/?token=wrong-again"), view("10.0.0.1")))).toBe(429);
    expect(statusFrom(await gate.checkRequest(head("/?token=wrong-again"), view("10.0.0.2")))).toBe(401);
  });

  it("a locked-out address's wrong tokens wait LOCKED_ANSWER_DELAY_MS, a bounded number at once; its right token never waits", async () => {
    const gate = gateFor();
    for (let i = 0; i < 3; i++) gate.checkRequest(head("/?token=wrong"), view("10.0.0.1"));
    const answers = Array.from({ length: 300 }, () =>
      gate.checkRequest(head("/a", "Authorization: Bearer wrong\r\n"), view("10.0.0.1")),
    );
    // 256 wait; past that bound the answer goes at once (a timer each, never an unbounded queue).
    expect(answers.filter((a) => a instanceof Promise).length).toBe(256);
    for (const a of answers) expect(statusFrom(await a)).toBe(429);
    const right = gate.checkRequest(head("/a", `Authorization: Bearer ${TOKEN}\r\n`), view("10.0.0.1"));
    expect(right).toEqual({ user: "operator" });
    expect(statusFrom(gate.checkRequest(head(`/?token=${TOKEN}`), view("10.0.0.1")))).toBe(303);
  });

  it("a valid session cookie, and the right token, pass during a lockout; only wrong tokens are refused", async () => {
    const sc = await identity({ "--auth-max-failures": "3" });
    const cookie = sessionCookie();
    for (let i = 0; i < 3; i++) await fetch(`${sc.url}/?token=wrong-${i}`, { redirect: "manual" });
    expect((await fetch(`${sc.url}/?token=wrong-3`, { redirect: "manual" })).status).toBe(429);
    expect((await fetch(`${sc.url}/a`, { headers: { authorization: "Bearer wrong-4" } })).status).toBe(429);
    expect((await fetch(`${sc.url}/?token=${TOKEN}`, { redirect: "manual" })).status).toBe(303);
    expect((await fetch(`${sc.url}/a`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    expect((await fetch(`${sc.url}/a`, { headers: { cookie } })).status).toBe(200);
    const ws = await rawExchange(
      portOf(sc),
      upgradeRequest("/", `Cookie: ${cookie}\r\nOrigin: http://127.0.0.1\r\n`).replace(
        "Host: 127.0.0.1",
        `Host: 127.0.0.1`,
      ),
      500,
    );
    expect(statusOf(ws)).toBe(101);
  });

  it("the same-origin WebSocket check compares the scheme too", async () => {
    const sc = await identity();
    const cookie = sessionCookie();
    const host = new URL(sc.url).host;
    const withOrigin = (origin: string) =>
      rawExchange(
        portOf(sc),
        upgradeRequest("/", `Cookie: ${cookie}\r\nOrigin: ${origin}\r\n`).replace("Host: 127.0.0.1", `Host: ${host}`),
        500,
      );
    expect(statusOf(await withOrigin(`https://${host}`))).toBe(403);
    expect(statusOf(await withOrigin(`http://${host}`))).toBe(101);
  });

  const extraIdentityHeaders = [
    "cf-connecting-ip",
    "true-client-ip",
    "x-client-ip",
    "x-cluster-client-ip",
    "fastly-client-ip",
    "x-original-forwarded-for",
    "x-remote-user",
    "remote-user",
    "x-auth-request-user",
    "x-auth-request-email",
    "x-auth-request-groups",
    "x-original-url",
    "x-rewrite-url",
    "x_forwarded_for",
    "x_forwarded_user",
    "x_real_ip",
    "x-real_ip",
    "x_openclaw_scopes",
    "forwarded-for",
    "x-forwarded",
    "x-remote-addr",
    "x-proxyuser-ip",
  ];
  it("strips, by default, the other identity and forwarding headers proxies and plugins commonly trust", async () => {
    const sc = await sidecar({});
    const headers = extraIdentityHeaders.map((h) => `${h}: forged\r\n`).join("");
    expect(
      statusOf(
        await rawExchange(portOf(sc), `GET /a HTTP/1.1\r\nHost: x\r\n${headers}Connection: close\r\n\r\n`, 1000),
      ),
    ).toBe(200);
    const seen = up.parsed[0]!;
    for (const h of extraIdentityHeaders) expect([h, up.values(seen, h)]).toEqual([h, []]);
  });

  it("passHeaders lets one through on purpose; the gateway's own trust headers can never be allowed", async () => {
    const sc = await sidecar({ "--pass-headers": "cf-connecting-ip,X-Auth-Request-Email" });
    await rawExchange(
      portOf(sc),
      "GET /a HTTP/1.1\r\nHost: x\r\ncf-connecting-ip: 203.0.113.7\r\nx-auth-request-email: a@b\r\ntrue-client-ip: 1.2.3.4\r\nConnection: close\r\n\r\n",
      1000,
    );
    expect(up.values(up.parsed[0]!, "cf-connecting-ip")).toEqual(["203.0.113.7"]);
    expect(up.values(up.parsed[0]!, "x-auth-request-email")).toEqual(["a@b"]);
    expect(up.values(up.parsed[0]!, "true-client-ip")).toEqual([]);
    for (const core of [
      "x-forwarded-for",
      "forwarded",
      "x-real-ip",
      "x-openclaw-scopes",
      "x-forwarded-user",
      "tailscale-user-login",
      "x_forwarded_for",
    ]) {
      expect(() => loadConfig({ env: {}, flags: { "--pass-headers": core } })).toThrow(
        /passHeaders: ".*" is a header the gateway trusts/,
      );
    }
  });
});
