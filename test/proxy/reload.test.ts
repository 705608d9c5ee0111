// Credentials change without a restart (issue 23 §3; src/proxy/reload.ts): the real sidecar in-process, its files in a
// temporary directory, sidecar.reload() standing for SIGHUP (the real signal: one CLI test at the end), and the fake
// gateway's WebSocket echo to show which tunnels stay open. Added tokens work at once, removed ones end their sessions
// and close their WebSockets (1008, REVOKED_REASON) while others' stay, a bad file changes nothing, rotated cookie
// secrets keep the sessions a remaining secret signed, and options that need a restart are named.
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { COOKIE_NAME } from "../../src/gate/auth-gate.ts";
import { REVOKED_REASON } from "../../src/http/forward-upgrade.ts";
import { eventually } from "../helpers/net.ts";
import { startSidecarProcess } from "../helpers/processes.ts";
import { startTestSidecar, type TestSidecar, type TestSidecarOptions } from "../helpers/sidecar.ts";
import { type FakeGateway, startFakeGateway } from "../helpers/upstream.ts";

const ALICE = "alice-token-0123456789abcdefghij";
const BOB = "bob-token-0123456789abcdefghijkl";
const CAROL = "carol-token-0123456789abcdefghij";
const S1 = "first-cookie-secret-0123456789abcdef";
const S2 = "second-cookie-secret-0123456789abcdef";

let gw: FakeGateway;
let dir: string;
const started: TestSidecar[] = [];
const sockets: WebSocket[] = [];
beforeAll(async () => {
  gw = await startFakeGateway();
  dir = mkdtempSync(join(tmpdir(), "ocs-reload-"));
});
afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  for (const sc of started.splice(0)) await sc.close();
});
afterAll(async () => {
  await gw?.close();
  rmSync(dir, { recursive: true, force: true });
});

const file = (name: string, content: unknown): string => {
  const path = join(dir, name);
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content));
  return path;
};
const tokens = (...entries: object[]) => entries;
const alice = { user: "alice@example.com", token: ALICE };
const bob = { user: "bob@example.com", token: BOB, scopes: ["operator.read"] };

async function sidecar(flags: Record<string, string>, options: TestSidecarOptions = {}): Promise<TestSidecar> {
  const sc = await startTestSidecar(
    { "--upstream": gw.url, "--mode": "identity", "--control-ui-token-login": "false", ...flags },
    options,
  );
  started.push(sc);
  return sc;
}

const get = (sc: TestSidecar, headers: Record<string, string>) =>
  fetch(`${sc.url}/api/x`, { headers, redirect: "manual" }).then(async (r) => ({
    status: r.status,
    body: await r.text(),
  }));
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
/** Logs in with ?token= and returns the session cookie. */
async function login(sc: TestSidecar, token: string): Promise<string> {
  const res = await fetch(`${sc.url}/?token=${token}`, { redirect: "manual" });
  expect(res.status).toBe(303);
  const cookie = /openclaw_sidecar_session=([^;]+)/.exec(res.headers.get("set-cookie") ?? "")?.[1];
  expect(cookie).toBeDefined();
  return `${COOKIE_NAME}=${cookie as string}`;
}

/** An open WebSocket through the sidecar to the echo, and how it closed (once it has). */
async function openWs(
  sc: TestSidecar,
  headers: Record<string, string>,
): Promise<{ ws: WebSocket; closed: () => { code: number; reason: string } | undefined; echo(): Promise<string> }> {
  const ws = new WebSocket(`${sc.url.replace("http", "ws")}/echo`, { headers });
  sockets.push(ws);
  let closed: { code: number; reason: string } | undefined;
  ws.on("close", (code, reason) => (closed = { code, reason: reason.toString() }));
  ws.on("error", () => {});
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("unexpected-response", (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
  });
  return {
    ws,
    closed: () => closed,
    echo: () =>
      new Promise((resolve, reject) => {
        // The fake gateway greets with connect.challenge first: the answer is the message that echoes ours.
        const text = `ping ${Math.random()}`;
        const onMessage = (m: WebSocket.RawData) => {
          if (m.toString() !== text) return;
          ws.off("message", onMessage);
          resolve(text);
        };
        ws.on("message", onMessage);
        ws.once("close", () => reject(new Error("closed")));
        ws.send(text);
      }),
  };
}
const reloadLines = (sc: TestSidecar) => sc.logs.filter((l) => l.kind === "reload");

describe("tokensFile without a restart", () => {
  it("an added token works at once; one line says what changed (counts, never a secret) and the metric counts it", async () => {
    const path = file("add.json", tokens(alice));
    const sc = await sidecar({ "--tokens-file": path, "--cookie-secret": S1 });
    expect((await get(sc, bearer(BOB))).status).toBe(401);
    file("add.json", tokens(alice, bob));
    expect(sc.reload()).toBe(true);
    expect((await get(sc, bearer(BOB))).status).toBe(200);
    const seen = gw.received[gw.received.length - 1];
    expect(seen?.headers["x-forwarded-user"]).toBe("bob@example.com");
    expect(seen?.headers["x-openclaw-scopes"]).toBe("operator.read");
    expect((await get(sc, bearer(ALICE))).status).toBe(200);
    const line = reloadLines(sc).at(-1);
    expect(line).toMatchObject({ level: "info", trigger: "test", users: 2, tokens: 2, added: 1, removed: 0 });
    expect(line?.msg).toBe("credentials reloaded");
    expect(sc.rawLogs()).not.toContain(BOB);
    expect(sc.rawLogs()).not.toContain(S1);
    expect(await sc.metric("openclaw_sidecar_credential_reloads_total", { result: "ok" })).toBe(1);
    expect(await sc.metric("openclaw_sidecar_credential_reloads_total", { result: "refused" })).toBe(0);
  });

  it("a removed token: its cookie is refused, its WebSocket closes with 1008 and the reason; another user's stays open", async () => {
    const path = file("remove.json", tokens(alice, bob));
    const sc = await sidecar({ "--tokens-file": path, "--cookie-secret": S1 });
    const aliceCookie = await login(sc, ALICE);
    const bobCookie = await login(sc, BOB);
    const aliceWs = await openWs(sc, { cookie: aliceCookie });
    const bobWs = await openWs(sc, { cookie: bobCookie });
    const bobBearerWs = await openWs(sc, bearer(BOB));
    expect(await bobWs.echo()).toMatch(/^ping/);
    file("remove.json", tokens(alice));
    expect(sc.reload()).toBe(true);
    await eventually(() => bobWs.closed() !== undefined && bobBearerWs.closed() !== undefined, 3000, "bob's closes");
    expect(bobWs.closed()).toEqual({ code: 1008, reason: REVOKED_REASON });
    expect(bobBearerWs.closed()).toEqual({ code: 1008, reason: REVOKED_REASON });
    expect(await aliceWs.echo()).toMatch(/^ping/);
    expect(aliceWs.closed()).toBeUndefined();
    expect((await get(sc, { cookie: bobCookie })).status).toBe(401);
    expect((await get(sc, { cookie: aliceCookie })).status).toBe(200);
    expect(reloadLines(sc).at(-1)).toMatchObject({ removed: 1, closedWebSockets: 2 });
    await eventually(
      async () =>
        (await sc.metric("openclaw_sidecar_websocket_closes_total", {
          code: "1008",
          initiator: "sidecar",
          reason_class: "credentials_revoked",
        })) === 2,
      3000,
      "the closes counted",
    );
  });

  it("a token whose scopes changed: its WebSocket closes (it was admitted with the old scopes), its cookie gets the new ones", async () => {
    const path = file("scopes.json", tokens(alice, bob));
    const sc = await sidecar({ "--tokens-file": path, "--cookie-secret": S1 });
    const bobCookie = await login(sc, BOB);
    const bobWs = await openWs(sc, { cookie: bobCookie });
    file("scopes.json", tokens(alice, { ...bob, scopes: ["operator.read", "operator.write"] }));
    expect(sc.reload()).toBe(true);
    await eventually(() => bobWs.closed() !== undefined, 3000, "bob's close");
    expect(bobWs.closed()?.code).toBe(1008);
    expect((await get(sc, { cookie: bobCookie })).status).toBe(200);
    expect(gw.received.at(-1)?.headers["x-openclaw-scopes"]).toBe("operator.read,operator.write");
  });

  it("a removed machine credential closes its WebSocket; a kept one stays", async () => {
    const machine = (id: string, secret: string) => ({
      user: `${id}-node`,
      clientId: id,
      clientSecretSha256: createHash("sha256").update(secret).digest("hex"),
    });
    const path = file("machines.json", tokens(alice, machine("one", "secret-one"), machine("two", "secret-two")));
    const sc = await sidecar({ "--tokens-file": path, "--cookie-secret": S1 });
    const pair = (id: string, secret: string) => ({ "cf-access-client-id": id, "cf-access-client-secret": secret });
    const one = await openWs(sc, pair("one", "secret-one"));
    const two = await openWs(sc, pair("two", "secret-two"));
    file("machines.json", tokens(alice, machine("two", "secret-two")));
    expect(sc.reload()).toBe(true);
    await eventually(() => one.closed() !== undefined, 3000, "one's close");
    expect(one.closed()).toEqual({ code: 1008, reason: REVOKED_REASON });
    expect(await two.echo()).toMatch(/^ping/);
    expect((await get(sc, pair("one", "secret-one"))).status).toBe(401);
  });

  it("the file is watched: a change is applied without SIGHUP", async () => {
    const path = file("watched.json", tokens(alice));
    const sc = await sidecar({ "--tokens-file": path, "--cookie-secret": S1 }, { watchIntervalMs: 50 });
    file("watched.json", tokens(alice, bob));
    await eventually(async () => (await get(sc, bearer(BOB))).status === 200, 5000, "bob's token to work");
    expect(reloadLines(sc).at(-1)).toMatchObject({ trigger: `file ${path}`, added: 1 });
  });
});

describe("local mode", () => {
  it("a changed tokenFile (the gateway's token rotated): WebSockets admitted by the old token close, the new token works", async () => {
    const path = file("local-token", ALICE);
    const sc = await sidecar({ "--mode": "local", "--token-file": path, "--cookie-secret": S1 });
    const cookie = await login(sc, ALICE);
    const byCookie = await openWs(sc, { cookie });
    const byBearer = await openWs(sc, bearer(ALICE));
    file("local-token", CAROL);
    expect(sc.reload()).toBe(true);
    await eventually(() => byCookie.closed() !== undefined && byBearer.closed() !== undefined, 3000, "both closes");
    expect(byCookie.closed()).toEqual({ code: 1008, reason: REVOKED_REASON });
    expect(byBearer.closed()).toEqual({ code: 1008, reason: REVOKED_REASON });
    expect((await get(sc, bearer(ALICE))).status).toBe(401);
    expect((await get(sc, { cookie })).status).toBe(401);
    expect((await get(sc, bearer(CAROL))).status).toBe(200);
    // Local mode forwards its Bearer (the gateway's own token) and no identity.
    expect(gw.received.at(-1)?.headers.authorization).toBe(`Bearer ${CAROL}`);
    expect(gw.received.at(-1)?.headers["x-forwarded-user"]).toBeUndefined();
    expect(await (await openWs(sc, bearer(CAROL))).echo()).toMatch(/^ping/);
  });
});

describe("a bad new configuration is refused whole: one error line names the problem, the old credentials stay", () => {
  const cases: Array<[string, (path: string) => void, RegExp]> = [
    ["invalid JSON", (p) => writeFileSync(p, '[{"user": "bob@example.com", '), /tokensFile/],
    ["unreadable (removed)", (p) => rmSync(p), /tokensFile.*(ENOENT|no such file|cannot be read|not readable)/i],
    [
      "a too-short token",
      (p) => writeFileSync(p, JSON.stringify([alice, { user: "bob@example.com", token: "short" }])),
      /at least 16|too short/i,
    ],
    [
      "an invalid identity",
      (p) =>
        writeFileSync(p, JSON.stringify([alice, { user: "bob\r\nx-openclaw-scopes: operator.admin", token: BOB }])),
      /user/,
    ],
    [
      "two users with one token",
      (p) => writeFileSync(p, JSON.stringify([alice, { user: "bob@example.com", token: ALICE }])),
      /share one token/,
    ],
    ["no credentials left", (p) => writeFileSync(p, "[]"), /needs credentials/],
  ];
  for (const [what, spoil, problem] of cases) {
    it(what, async () => {
      const path = file(`bad-${what.replace(/\W+/g, "-")}.json`, tokens(alice, bob));
      const sc = await sidecar({ "--tokens-file": path, "--cookie-secret": S1 });
      const bobCookie = await login(sc, BOB);
      const bobWs = await openWs(sc, { cookie: bobCookie });
      spoil(path);
      expect(sc.reload()).toBe(false);
      const errors = reloadLines(sc).filter((l) => l.level === "error");
      expect(errors).toHaveLength(1);
      expect(String(errors[0]?.problem)).toMatch(problem);
      expect(errors[0]?.msg).toMatch(/^credential reload refused: .*; the previous credentials stay in force$/);
      expect((await get(sc, bearer(BOB))).status).toBe(200);
      expect((await get(sc, { cookie: bobCookie })).status).toBe(200);
      expect(await bobWs.echo()).toMatch(/^ping/);
      expect(await sc.metric("openclaw_sidecar_credential_reloads_total", { result: "refused" })).toBe(1);
      expect(await sc.metric("openclaw_sidecar_credential_reloads_total", { result: "ok" })).toBe(0);
      expect(sc.rawLogs()).not.toContain(BOB);
    });
  }
});

describe("cookie secrets without a restart", () => {
  it("rotation: sessions signed with a secret still listed stay; with a removed one they end and their WebSockets close", async () => {
    const path = file("secrets", `${S1}\n`);
    const sc = await sidecar({ "--tokens-file": file("rot.json", tokens(alice, bob)), "--cookie-secret-file": path });
    const old = await login(sc, ALICE);
    const oldWs = await openWs(sc, { cookie: old });
    // The new secret first (it signs), the old one kept (it still verifies).
    file("secrets", `${S2}\n${S1}\n`);
    expect(sc.reload()).toBe(true);
    const fresh = await login(sc, BOB);
    const freshWs = await openWs(sc, { cookie: fresh });
    expect((await get(sc, { cookie: old })).status).toBe(200);
    expect(await oldWs.echo()).toMatch(/^ping/);
    // The old secret retired.
    file("secrets", `${S2}\n`);
    expect(sc.reload()).toBe(true);
    await eventually(() => oldWs.closed() !== undefined, 3000, "the old session's close");
    expect(oldWs.closed()).toEqual({ code: 1008, reason: REVOKED_REASON });
    expect((await get(sc, { cookie: old })).status).toBe(401);
    expect((await get(sc, { cookie: fresh })).status).toBe(200);
    expect(await freshWs.echo()).toMatch(/^ping/);
    expect(reloadLines(sc).at(-1)).toMatchObject({ cookieKeys: 1, cookieKeysRemoved: 1, closedWebSockets: 1 });
    expect(sc.rawLogs()).not.toContain(S2);
  });

  it("without a configured secret, a reload keeps the random one: sessions survive it", async () => {
    const path = file("nosecret.json", tokens(alice));
    const sc = await sidecar({ "--tokens-file": path });
    const cookie = await login(sc, ALICE);
    file("nosecret.json", tokens(alice, bob));
    expect(sc.reload()).toBe(true);
    expect((await get(sc, { cookie })).status).toBe(200);
  });
});

describe("options that need a restart", () => {
  it("a changed option outside the reloadable slice is named in a warning and left as it was; the credentials apply", async () => {
    const tokensPath = file("cfg-tokens.json", tokens(alice));
    const config = file("config.json", { tokensFile: tokensPath, cookieSecret: S1, upstreamTimeoutMs: 30000 });
    const sc = await sidecar({}, { file: config });
    file("cfg-tokens.json", tokens(alice, bob));
    file("config.json", { tokensFile: tokensPath, cookieSecret: S1, upstreamTimeoutMs: 1234, authMaxFailures: 3 });
    expect(sc.reload()).toBe(true);
    const warning = reloadLines(sc).find((l) => l.level === "warn");
    expect(warning?.options).toEqual(["upstreamTimeoutMs", "authMaxFailures"]);
    expect(warning?.msg).toMatch(/upstreamTimeoutMs, authMaxFailures \(needs a restart\)/);
    expect((await get(sc, bearer(BOB))).status).toBe(200);
  });
});

describe("the token-field login (controlUiTokenLogin)", () => {
  it("a WebSocket admitted by the token in its connect frame closes when that token is removed", async () => {
    const path = file("field.json", tokens(alice));
    const sc = await sidecar({ "--tokens-file": path, "--cookie-secret": S1, "--control-ui-token-login": "true" });
    const held = await openWs(sc, {});
    const connect = { type: "req", id: "c1", method: "connect", params: { auth: { token: ALICE } } };
    const text = JSON.stringify(connect);
    const answered = new Promise<void>((resolve) => held.ws.on("message", (m) => m.toString() === text && resolve()));
    held.ws.send(text);
    await answered; // the echo: the connect frame passed the check and reached the gateway
    file("field.json", tokens({ user: "alice@example.com", token: CAROL }));
    expect(sc.reload()).toBe(true);
    await eventually(() => held.closed() !== undefined, 3000, "the held WebSocket's close");
    expect(held.closed()).toEqual({ code: 1008, reason: REVOKED_REASON });
  });
});

describe("SIGHUP, with the real CLI", () => {
  it("reloads the tokensFile; a bad one is refused and the process keeps serving", async () => {
    const path = file("hup.json", tokens(alice));
    const child = await startSidecarProcess({
      OPENCLAW_SIDECAR_UPSTREAM: gw.url,
      OPENCLAW_SIDECAR_MODE: "identity",
      OPENCLAW_SIDECAR_TOKENS_FILE: path,
      OPENCLAW_SIDECAR_COOKIE_SECRET: S1,
      OPENCLAW_SIDECAR_LOG_FORMAT: "json",
    });
    try {
      const url = `http://127.0.0.1:${child.port}/api/x`;
      const status = (token: string) => fetch(url, { headers: bearer(token) }).then((r) => r.status);
      expect(await status(BOB)).toBe(401);
      file("hup.json", tokens(alice, bob));
      child.child.kill("SIGHUP");
      await eventually(async () => (await status(BOB)) === 200, 5000, "bob's token after SIGHUP");
      await eventually(() => child.output().includes('"trigger":"SIGHUP"'), 5000, "the SIGHUP reload line");
      writeFileSync(path, "not json");
      child.child.kill("SIGHUP");
      await eventually(() => child.output().includes("credential reload refused"), 5000, "the refusal");
      expect(await status(BOB)).toBe(200);
      expect(child.child.exitCode).toBeNull();
    } finally {
      await child.kill();
    }
  });
});
