// The token-field login of identity mode (issue 16 §1; src/http/connect-frame.ts): the Control UI's shell loads without
// a session, and a session-less WebSocket is held until its first message — `connect` with `params.auth.token` — proves
// the sidecar token. The recording upstream (llhttp) shows what the gateway would have seen; the fake gateway (ws, with
// permessage-deflate) shows the held frame reaching a real WebSocket server intact.
import { rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { LOCKED_ANSWER_DELAY_MS } from "../../src/gate/auth-gate.ts";
import { ConfigError, loadConfig } from "../../src/options/config.ts";
import { eventually, rawExchange, upgradeRequest } from "../helpers/net.ts";
import { type RecordingUpstream, startRecordingUpstream } from "../helpers/recording-upstream.ts";
import { startTestSidecar, type TestSidecar } from "../helpers/sidecar.ts";
import { type FakeGateway, startFakeGateway } from "../helpers/upstream.ts";

const TOKEN = "alice-sidecar-token-0123456789abcdef";
const SECRET = "c".repeat(40);
let up: RecordingUpstream;
let gw: FakeGateway;
const started: TestSidecar[] = [];
beforeAll(async () => {
  up = await startRecordingUpstream();
  gw = await startFakeGateway();
});
afterEach(async () => {
  for (const sc of started.splice(0)) await sc.close();
  up.parsed.length = 0;
});
afterAll(async () => {
  await up?.close();
  await gw?.close();
});

async function sidecar(upstream: string, extra: Record<string, string> = {}): Promise<TestSidecar> {
  const sc = await startTestSidecar({
    "--upstream": upstream,
    "--mode": "identity",
    "--token": TOKEN,
    "--user": "alice@example.com",
    "--cookie-secret": SECRET,
    "--auth-max-failures": "3",
    ...extra,
  });
  started.push(sc);
  return sc;
}
const portOf = (sc: TestSidecar) => Number(new URL(sc.url).port);
const connectFrame = (token: string | undefined) =>
  JSON.stringify({
    type: "req",
    id: "c1",
    method: "connect",
    params: {
      minProtocol: 4,
      maxProtocol: 4,
      client: { id: "openclaw-control-ui", mode: "webchat" },
      auth: token === undefined ? {} : { token },
    },
  });

/** A masked client frame (what browsers send). */
function clientFrame(opcode: number, payload: Buffer, fin = true): Buffer {
  const mask = Buffer.from([1, 2, 3, 4]);
  const masked = Buffer.from(payload.map((b, i) => b ^ (mask[i & 3] as number)));
  const n = payload.length;
  const len =
    n < 126
      ? Buffer.from([0x80 | n])
      : n < 65536
        ? Buffer.from([0x80 | 126, n >> 8, n & 0xff])
        : Buffer.concat([
            Buffer.from([0x80 | 127, 0, 0, 0, 0]),
            Buffer.from([n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]),
          ]);
  return Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | opcode]), len, mask, masked]);
}

/** Opens a raw upgrade through the sidecar; returns the socket once the 101 is in, and everything received. */
async function rawUpgrade(sc: TestSidecar, extra = ""): Promise<{ socket: net.Socket; received: () => Buffer }> {
  const socket = net.connect(portOf(sc), "127.0.0.1");
  const chunks: Buffer[] = [];
  socket.on("data", (d: Buffer) => chunks.push(d));
  socket.on("error", () => {});
  socket.write(upgradeRequest("/", extra));
  const received = () => Buffer.concat(chunks);
  await eventually(() => received().includes("\r\n\r\n"), 3000, "the 101");
  expect(received().toString("latin1")).toMatch(/^HTTP\/1\.1 101/);
  return { socket, received };
}

/** The frames the server sent after the 101: [opcode, payload]. */
function serverFrames(bytes: Buffer): Array<[number, Buffer]> {
  let at = bytes.indexOf("\r\n\r\n") + 4;
  const out: Array<[number, Buffer]> = [];
  while (at + 2 <= bytes.length) {
    const opcode = (bytes[at] as number) & 0x0f;
    let n = (bytes[at + 1] as number) & 0x7f;
    let head = 2;
    if (n === 126) {
      n = bytes.readUInt16BE(at + 2);
      head = 4;
    }
    out.push([opcode, bytes.subarray(at + head, at + head + n)]);
    at += head + n;
  }
  return out;
}
const textOf = (frames: Array<[number, Buffer]>) => frames.find(([op]) => op === 0x1)?.[1].toString("utf8") ?? "{}";
const closeOf = (frames: Array<[number, Buffer]>) => {
  const payload = frames.find(([op]) => op === 0x8)?.[1] ?? Buffer.alloc(2);
  return { code: payload.readUInt16BE(0), reason: payload.subarray(2).toString("utf8") };
};

describe("token-field login (identity mode, one user)", () => {
  it("the Control UI shell loads without a session; its config and other routes still need one", async () => {
    const sc = await sidecar(up.url);
    for (const path of ["/", "/index.html", "/assets/index-abc.js", "/favicon.svg", "/manifest.webmanifest"]) {
      const res = await fetch(`${sc.url}${path}`, { headers: { accept: "text/html" } });
      expect([path, res.status]).toEqual([path, 200]);
    }
    for (const p of up.parsed) expect(up.values(p, "x-forwarded-user")).toEqual([]);
    expect((await fetch(`${sc.url}/control-ui-config.json`)).status).toBe(401);
    expect((await fetch(`${sc.url}/chat`, { headers: { accept: "text/html" } })).status).toBe(401);
    // What the Control UI sends once it has the token from #token=: a Bearer, which identifies the user.
    const before = up.parsed.length;
    expect(
      (await fetch(`${sc.url}/control-ui-config.json`, { headers: { authorization: `Bearer ${TOKEN}` } })).status,
    ).toBe(200);
    expect(up.values(up.parsed[before]!, "x-forwarded-user")).toEqual(["alice@example.com"]);
    expect(up.values(up.parsed[before]!, "authorization")).toEqual([]);
    // A ?token= login on the shell is still a login.
    expect((await fetch(`${sc.url}/?token=${TOKEN}`, { redirect: "manual" })).status).toBe(303);
  });

  it("a session-less upgrade is forwarded, but no client byte reaches the gateway before a connect with the token", async () => {
    const sc = await sidecar(up.url);
    const { socket } = await rawUpgrade(sc);
    await eventually(() => up.parsed.length === 1, 2000, "the upgrade upstream");
    expect(up.values(up.parsed[0]!, "x-forwarded-user")).toEqual(["alice@example.com"]);
    // A fragmented connect with a ping in between: held until its last fragment, then relayed exactly as sent.
    const text = Buffer.from(connectFrame(TOKEN));
    const bytes = Buffer.concat([
      clientFrame(0x1, text.subarray(0, 20), false),
      clientFrame(0x9, Buffer.from("p")),
      clientFrame(0x0, text.subarray(20)),
    ]);
    socket.write(bytes.subarray(0, 30));
    await new Promise((r) => setTimeout(r, 100));
    expect(up.parsed[0]!.tunnel.length).toBe(0);
    socket.write(bytes.subarray(30));
    await eventually(() => up.parsed[0]!.tunnel.equals(bytes), 2000, "the held frames upstream, unchanged");
    socket.write(clientFrame(0x1, Buffer.from("after")));
    await eventually(() => up.parsed[0]!.tunnel.length > bytes.length, 2000, "later frames relayed");
    expect(await sc.metric("openclaw_sidecar_websocket_upgrades_total", { result: "ok" })).toBe(1);
    socket.destroy();
  });

  it.each([
    ["a wrong token", connectFrame("wrong-token"), "AUTH_TOKEN_MISMATCH", /^unauthorized: gateway token mismatch/],
    ["no token", connectFrame(undefined), "AUTH_TOKEN_MISSING", /^unauthorized: gateway token missing/],
    [
      "a first message that is no connect",
      JSON.stringify({ type: "req", id: "x", method: "chat.send", params: {} }),
      "AUTH_TOKEN_MISSING",
      /^unauthorized: gateway token missing/,
    ],
    ["a first message that is no JSON", "hello", "AUTH_TOKEN_MISSING", /^unauthorized: gateway token missing/],
  ])(
    "%s: the gateway's own answer shape, close 1008, and the gateway never sees the frame",
    async (_name, message, detail, reason) => {
      const sc = await sidecar(up.url);
      const { socket, received } = await rawUpgrade(sc);
      socket.write(clientFrame(0x1, Buffer.from(message)));
      await eventually(() => socket.destroyed || received().includes(Buffer.from([0x88])), 2000, "the close");
      await eventually(() => serverFrames(received()).some(([op]) => op === 0x8), 2000, "a close frame");
      const frames = serverFrames(received());
      const res = JSON.parse(textOf(frames)) as {
        type: string;
        ok: boolean;
        error: { code: string; message: string; details: { code: string } };
      };
      expect(res).toMatchObject({
        type: "res",
        ok: false,
        error: { code: "INVALID_REQUEST", details: { code: detail } },
      });
      expect(res.error.message).toMatch(reason);
      const close = closeOf(frames);
      expect(close.code).toBe(1008);
      expect(close.reason).toMatch(reason);
      expect(up.parsed[0]!.tunnel.length).toBe(0);
      expect(await sc.metric("openclaw_sidecar_websocket_upgrades_total", { result: "unauthenticated" })).toBe(1);
      expect(await sc.metric("openclaw_sidecar_websocket_upgrades_total", { result: "ok" })).toBe(0);
      await eventually(
        async () =>
          (await sc.metric("openclaw_sidecar_websocket_closes_total", {
            code: "1008",
            initiator: "sidecar",
            reason_class: "unauthorized",
          })) === 1,
        2000,
        "the close counted",
      );
      socket.destroy();
    },
  );

  it("wrong tokens in connect frames go through the limiter: then wrong ones are refused late, and the right one still logs in", async () => {
    const sc = await sidecar(up.url);
    const attempt = async (token: string) => {
      const { socket, received } = await rawUpgrade(sc);
      socket.write(clientFrame(0x1, Buffer.from(connectFrame(token))));
      await eventually(
        () => serverFrames(received()).some(([op]) => op === 0x8),
        LOCKED_ANSWER_DELAY_MS + 3000,
        "a close frame",
      );
      socket.destroy();
      return JSON.parse(textOf(serverFrames(received()))) as { error: { details: { code: string } } };
    };
    // Other clients behind the same address (docker-proxy, NAT: here loopback) lock it out.
    for (let i = 0; i < 3; i++) expect((await attempt(`wrong-${i}`)).error.details.code).toBe("AUTH_TOKEN_MISMATCH");
    const t0 = Date.now();
    expect((await attempt("wrong-3")).error.details.code).toBe("AUTH_RATE_LIMITED");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(LOCKED_ANSWER_DELAY_MS - 50);
    expect(await sc.metric("openclaw_sidecar_auth_failures_total", { reason: "bad_token" })).toBe(3);
    expect(await sc.metric("openclaw_sidecar_auth_failures_total", { reason: "rate_limited" })).toBe(1);
    await eventually(
      async () => (await sc.metric("openclaw_sidecar_websocket_upgrades_total", { result: "rate_limited" })) === 1,
      2000,
      "the refusal counted",
    );
    // The real user, same address, during the lockout: the token field's connect frame is released at once.
    up.parsed.length = 0;
    const { socket } = await rawUpgrade(sc);
    await eventually(() => up.parsed.length === 1, 2000, "the upgrade upstream");
    const frame = clientFrame(0x1, Buffer.from(connectFrame(TOKEN)));
    const t1 = Date.now();
    socket.write(frame);
    await eventually(() => up.parsed[0]!.tunnel.equals(frame), 2000, "the right connect frame upstream");
    expect(Date.now() - t1).toBeLessThan(LOCKED_ANSWER_DELAY_MS);
    expect(await sc.metric("openclaw_sidecar_websocket_upgrades_total", { result: "ok" })).toBe(1);
    socket.destroy();
    // A Bearer is judged the same way: the right one opens, a wrong one is 429.
    expect(await rawExchange(portOf(sc), upgradeRequest("/", `Authorization: Bearer ${TOKEN}\r\n`), 500)).toMatch(
      /^HTTP\/1\.1 101/,
    );
    expect(
      await rawExchange(
        portOf(sc),
        upgradeRequest("/", "Authorization: Bearer wrong-5\r\n"),
        LOCKED_ANSWER_DELAY_MS + 1000,
      ),
    ).toMatch(/^HTTP\/1\.1 429/);
  });

  it("a first message over the gateway's 64 KiB pre-auth limit is refused with 1009", async () => {
    const sc = await sidecar(up.url);
    const { socket, received } = await rawUpgrade(sc);
    socket.write(clientFrame(0x1, Buffer.alloc(70_000, 0x61)));
    await eventually(() => serverFrames(received()).some(([op]) => op === 0x8), 2000, "a close frame");
    expect(closeOf(serverFrames(received())).code).toBe(1009);
    expect(up.parsed[0]!.tunnel.length).toBe(0);
    socket.destroy();
  });

  it("a client that leaves before its first message is counted client_aborted", async () => {
    const sc = await sidecar(up.url);
    const { socket } = await rawUpgrade(sc);
    socket.destroy();
    await eventually(
      async () => (await sc.metric("openclaw_sidecar_websocket_upgrades_total", { result: "client_aborted" })) === 1,
      3000,
      "client_aborted",
    );
    expect(await sc.metric("openclaw_sidecar_websocket_upgrades_total", { result: "ok" })).toBe(0);
  });

  it("a held upgrade whose first message never comes is closed with 1008 after heldUpgradeTimeoutMs, the gateway's socket with it", async () => {
    const sc = await sidecar(gw.url, { "--held-upgrade-timeout-ms": "300" });
    const timeoutsBefore = process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const ws = new WebSocket(`${sc.url.replace("http", "ws")}/`);
    const messages: string[] = [];
    ws.on("message", (d) => messages.push(d.toString()));
    const opened = new Promise<number>((resolve) => ws.once("open", () => resolve(Date.now())));
    const closed = new Promise<{ code: number; reason: string; at: number }>((resolve) =>
      ws.once("close", (code, reason) => resolve({ code, reason: reason.toString(), at: Date.now() })),
    );
    const openedAt = await opened;
    await eventually(() => gw.sockets.size === 1, 2000, "the gateway's socket");
    const close = await closed;
    expect(close).toMatchObject({ code: 1008, reason: "handshake timeout: no connect frame within 300 ms" });
    // Measured from the client's open, which comes a moment after the sidecar relayed the 101 and armed the deadline.
    expect(close.at - openedAt).toBeGreaterThanOrEqual(250);
    // The gateway's connect.challenge was relayed; no `res` (there is no request to answer) and nothing else.
    expect(messages.map((m) => (JSON.parse(m) as { event?: string }).event)).toEqual(["connect.challenge"]);
    await eventually(() => gw.sockets.size === 0, 2000, "the gateway's socket closed");
    await eventually(
      async () => (await sc.metric("openclaw_sidecar_websocket_upgrades_total", { result: "held_timeout" })) === 1,
      2000,
      "held_timeout counted",
    );
    expect(await sc.metric("openclaw_sidecar_websocket_upgrades_total", { result: "ok" })).toBe(0);
    expect(await sc.metric("openclaw_sidecar_websocket_upgrades_total", { result: "client_aborted" })).toBe(0);
    expect(await sc.metric("openclaw_sidecar_websocket_closes_total", { code: "1008", initiator: "sidecar" })).toBe(1);
    const lines = sc.logs.filter((l) => l.result === "held_timeout");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      kind: "websocket",
      code: 1008,
      initiator: "sidecar",
      msg: "websocket closed: no connect frame within heldUpgradeTimeoutMs (300 ms)",
    });
    await eventually(
      async () => (await sc.metric("openclaw_sidecar_active_connections", { kind: "websocket" })) === 0,
      2000,
      "no open tunnels",
    );
    await eventually(
      async () => (await sc.metric("openclaw_sidecar_active_connections", { kind: "http" })) === 0,
      7000,
      "no open client connections",
    );
    expect(process.getActiveResourcesInfo().filter((r) => r === "Timeout").length).toBeLessThanOrEqual(timeoutsBefore);
  });

  it("a connect sent in time is relayed, and the WebSocket stays open past heldUpgradeTimeoutMs", async () => {
    const sc = await sidecar(gw.url, { "--held-upgrade-timeout-ms": "300" });
    const timeoutsBefore = process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const ws = new WebSocket(`${sc.url.replace("http", "ws")}/`);
    const messages: string[] = [];
    ws.on("message", (d) => messages.push(d.toString()));
    let closedWith: number | undefined;
    ws.on("close", (code) => (closedWith = code));
    await new Promise((resolve) => ws.once("open", resolve));
    ws.send(connectFrame(TOKEN));
    await eventually(() => messages.length === 2, 2000, "the connect echoed by the gateway");
    expect(JSON.parse(messages[1] as string)).toMatchObject({ method: "connect", params: { auth: { token: TOKEN } } });
    await new Promise((r) => setTimeout(r, 600));
    expect(closedWith).toBeUndefined();
    ws.send("still here");
    await eventually(() => messages.includes("still here"), 2000, "a message after the deadline");
    expect(await sc.metric("openclaw_sidecar_websocket_upgrades_total", { result: "ok" })).toBe(1);
    expect(await sc.metric("openclaw_sidecar_websocket_upgrades_total", { result: "held_timeout" })).toBe(0);
    ws.close(1000);
    await eventually(() => closedWith !== undefined, 2000, "the close");
    await eventually(
      async () => (await sc.metric("openclaw_sidecar_active_connections", { kind: "websocket" })) === 0,
      2000,
      "no open tunnels",
    );
    await eventually(
      async () => (await sc.metric("openclaw_sidecar_active_connections", { kind: "http" })) === 0,
      7000,
      "no open client connections",
    );
    expect(process.getActiveResourcesInfo().filter((r) => r === "Timeout").length).toBeLessThanOrEqual(timeoutsBefore);
  });

  it("a held upgrade whose client leaves before heldUpgradeTimeoutMs takes its deadline with it (no timer left behind)", async () => {
    // A deadline far beyond the test: a timer not cleared would still be pending at the end.
    const sc = await sidecar(gw.url, { "--held-upgrade-timeout-ms": "60000" });
    const timeouts = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const before = timeouts();
    const { socket } = await rawUpgrade(sc);
    await eventually(() => gw.sockets.size === 1, 2000, "the gateway's socket");
    expect(timeouts()).toBeGreaterThan(before);
    socket.destroy();
    await eventually(
      async () => (await sc.metric("openclaw_sidecar_websocket_upgrades_total", { result: "client_aborted" })) === 1,
      2000,
      "client_aborted",
    );
    await eventually(() => gw.sockets.size === 0, 2000, "the gateway's socket closed");
    await eventually(
      async () => (await sc.metric("openclaw_sidecar_active_connections", { kind: "websocket" })) === 0,
      2000,
      "no open tunnels",
    );
    await eventually(
      async () => (await sc.metric("openclaw_sidecar_active_connections", { kind: "http" })) === 0,
      7000,
      "no open client connections",
    );
    expect(timeouts()).toBeLessThanOrEqual(before);
    expect(await sc.metric("openclaw_sidecar_websocket_upgrades_total", { result: "held_timeout" })).toBe(0);
  });

  it("with permessage-deflate, a compressed connect is read and relayed to a real WebSocket server", async () => {
    const sc = await sidecar(gw.url);
    const open = (token: string) =>
      new Promise<{ messages: string[]; close: { code: number; reason: string } }>((resolve) => {
        const ws = new WebSocket(`${sc.url.replace("http", "ws")}/`, { perMessageDeflate: { threshold: 0 } });
        const messages: string[] = [];
        ws.on("message", (d) => {
          messages.push(d.toString());
          if (messages.length === 2) ws.close(1000);
        });
        ws.once("open", () => ws.send(connectFrame(token)));
        ws.once("close", (code, reason) => resolve({ messages, close: { code, reason: reason.toString() } }));
      });
    const good = await open(TOKEN);
    // The fake gateway's connect.challenge, then its echo of the connect: the held (compressed) frame arrived whole.
    expect(JSON.parse(good.messages[0] as string)).toMatchObject({ event: "connect.challenge" });
    expect(JSON.parse(good.messages[1] as string)).toMatchObject({
      method: "connect",
      params: { auth: { token: TOKEN } },
    });
    const bad = await open("wrong-token");
    expect(bad.close.code).toBe(1008);
    expect(bad.messages.some((m) => m.includes("AUTH_TOKEN_MISMATCH"))).toBe(true);
    expect(bad.messages.filter((m) => m.includes('"method":"connect"'))).toEqual([]);
  });

  it("a valid session or Bearer is used as before, never held", async () => {
    const sc = await sidecar(up.url);
    const { socket } = await rawUpgrade(sc, `Authorization: Bearer ${TOKEN}\r\n`);
    socket.write(clientFrame(0x1, Buffer.from("not a connect, and that is fine")));
    await eventually(() => (up.parsed[0]?.tunnel.length ?? 0) > 0, 2000, "relayed at once");
    socket.destroy();
  });

  it("several users: off by default (the identity goes on the upgrade before the frame); asking for it is a config error", () => {
    const base = { "--mode": "identity", "--cookie-secret": SECRET };
    const file = `${process.env.TMPDIR ?? "/tmp"}/ocsc-token-field-${process.pid}.json`;
    writeFileSync(
      file,
      JSON.stringify([
        { user: "a", token: "token-a-0123456789abcdef" },
        { user: "b", token: "token-b-0123456789abcdef" },
      ]),
    );
    expect(loadConfig({ env: {}, flags: { ...base, "--tokens-file": file } }).controlUiTokenLogin).toBe(false);
    expect(() =>
      loadConfig({ env: {}, flags: { ...base, "--tokens-file": file, "--control-ui-token-login": "true" } }),
    ).toThrow(ConfigError);
    expect(() =>
      loadConfig({ env: {}, flags: { ...base, "--tokens-file": file, "--control-ui-token-login": "true" } }),
    ).toThrow(/controlUiTokenLogin: needs exactly one user, and the credentials name 2/);
    expect(() =>
      loadConfig({ env: {}, flags: { "--mode": "local", "--token": TOKEN, "--control-ui-token-login": "true" } }),
    ).toThrow(/controlUiTokenLogin: only identity mode has it/);
    rmSync(file);
  });
});
