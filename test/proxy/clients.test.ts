// Issue 16 on loopback: what the other OpenClaw clients need from the sidecar — machine credentials and the
// self-authenticating routes of nodes and workers (§3), the MCP Apps sandbox origin (§4), and a pairing-required close
// that says how to approve it (§5). The real-gateway side is in test/gateway/clients.test.ts.
import { createHash } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { loadConfig } from "../../src/options/config.ts";
import { eventually, rawExchange, upgradeRequest } from "../helpers/net.ts";
import { type RecordingUpstream, startRecordingUpstream } from "../helpers/recording-upstream.ts";
import { startTestSidecar, type TestSidecar } from "../helpers/sidecar.ts";
import { type FakeGateway, ROLE_UPGRADE_CLOSE, startFakeGateway } from "../helpers/upstream.ts";

const TOKEN = "alice-token-0123456789abcdefghij";
const SECRET = "m".repeat(40);
const CLIENT_ID = "node-1.access";
const CLIENT_SECRET = "machine-secret-0123456789abcdef";
let up: RecordingUpstream;
let apps: RecordingUpstream;
let gw: FakeGateway;
const started: TestSidecar[] = [];
let tokensFile: string;
beforeAll(async () => {
  up = await startRecordingUpstream();
  apps = await startRecordingUpstream();
  gw = await startFakeGateway();
  tokensFile = path.join(mkdtempSync(path.join(tmpdir(), "ocsc-clients-")), "tokens.json");
  writeFileSync(
    tokensFile,
    JSON.stringify([
      { user: "alice", token: TOKEN },
      {
        user: "node-1",
        clientId: CLIENT_ID,
        clientSecretSha256: createHash("sha256").update(CLIENT_SECRET).digest("hex"),
        scopes: ["operator.read"],
      },
    ]),
  );
});
afterEach(async () => {
  for (const sc of started.splice(0)) await sc.close();
  up.parsed.length = 0;
  apps.parsed.length = 0;
});
afterAll(async () => {
  await up?.close();
  await apps?.close();
  await gw?.close();
});

async function sidecar(flags: Record<string, string>): Promise<TestSidecar> {
  const sc = await startTestSidecar({
    "--upstream": up.url,
    "--mode": "identity",
    "--tokens-file": tokensFile,
    "--cookie-secret": SECRET,
    "--auth-max-failures": "50",
    ...flags,
  });
  started.push(sc);
  return sc;
}
const portOf = (sc: TestSidecar) => Number(new URL(sc.url).port);
const status = (response: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0);
const get = (sc: TestSidecar, target: string, headers = "") =>
  rawExchange(portOf(sc), `GET ${target} HTTP/1.1\r\nHost: x\r\n${headers}Connection: close\r\n\r\n`, 1000);
async function cookieFor(sc: TestSidecar): Promise<string> {
  const res = await fetch(`${sc.url}/?token=${TOKEN}`, { redirect: "manual" });
  return (res.headers.get("set-cookie") ?? "").split(";")[0] as string;
}

describe("machine credentials (CF-Access-Client-Id / CF-Access-Client-Secret)", () => {
  it("the pair authenticates as its user with its scopes, and never reaches the gateway", async () => {
    const sc = await sidecar({});
    const r = await get(
      sc,
      "/api/x",
      `CF-Access-Client-Id: ${CLIENT_ID}\r\nCF-Access-Client-Secret: ${CLIENT_SECRET}\r\n`,
    );
    expect(status(r)).toBe(200);
    const seen = up.parsed[0]!;
    expect(up.values(seen, "x-forwarded-user")).toEqual(["node-1"]);
    expect(up.values(seen, "x-openclaw-scopes")).toEqual(["operator.read"]);
    expect(up.values(seen, "cf-access-client-id")).toEqual([]);
    expect(up.values(seen, "cf-access-client-secret")).toEqual([]);
    // And on a WebSocket upgrade, which is where nodes and the CLI send them (gateway.remote.edgeAuth).
    const ws = await rawExchange(
      portOf(sc),
      upgradeRequest("/", `CF-Access-Client-Id: ${CLIENT_ID}\r\nCF-Access-Client-Secret: ${CLIENT_SECRET}\r\n`),
      500,
    );
    expect(status(ws)).toBe(101);
    expect(up.values(up.parsed[1]!, "x-forwarded-user")).toEqual(["node-1"]);
  });

  it("a wrong secret or an unknown id is a 401 counted as a failed attempt; never the HTML login page for a native client", async () => {
    const sc = await sidecar({});
    for (const [id, secret] of [
      [CLIENT_ID, "wrong"],
      ["someone-else", CLIENT_SECRET],
    ]) {
      const r = await get(
        sc,
        "/api/x",
        `CF-Access-Client-Id: ${id}\r\nCF-Access-Client-Secret: ${secret}\r\nAccept: */*\r\n`,
      );
      expect(status(r)).toBe(401);
      expect(r).toContain("application/json");
      expect(r).not.toContain("<html");
    }
    expect(await sc.metric("openclaw_sidecar_auth_failures_total", { reason: "bad_token" })).toBe(2);
    expect(up.parsed).toEqual([]);
  });

  it("a machine credential is no token: it opens no login and no session", async () => {
    const sc = await sidecar({});
    expect((await fetch(`${sc.url}/?token=${CLIENT_SECRET}`, { redirect: "manual" })).status).toBe(401);
    expect((await fetch(`${sc.url}/a`, { headers: { authorization: `Bearer ${CLIENT_SECRET}` } })).status).toBe(401);
  });

  it("bad machine entries are refused at startup with a clear message", () => {
    const file = path.join(path.dirname(tokensFile), "bad.json");
    const check = (entries: unknown[]) => {
      writeFileSync(file, JSON.stringify(entries));
      return () => loadConfig({ env: {}, flags: { "--mode": "identity", "--tokens-file": file } });
    };
    expect(check([{ user: "n", clientId: "x" }])).toThrow(
      'tokensFile: entry 0: a machine credential needs "clientSecretSha256" (the SHA-256 of its client secret, 64 hex digits)',
    );
    expect(check([{ user: "n", clientId: "x", clientSecretSha256: "a".repeat(64), token: "t" }])).toThrow(
      "tokensFile: entry 0: a machine credential (clientId) cannot also have a token",
    );
    expect(
      check([
        { user: "n", clientId: "x", clientSecretSha256: "a".repeat(64) },
        { user: "m", clientId: "x", clientSecretSha256: "b".repeat(64) },
      ]),
    ).toThrow('tokensFile: two machine credentials share the clientId "x"');
  });
});

describe("selfAuthenticatingRoutes (join links, the worker WebSocket, worker artifacts)", () => {
  it("off by default: they need a credential like every route", async () => {
    const sc = await sidecar({ "--control-ui-token-login": "false" });
    expect(status(await get(sc, "/j/AAAAAAAAAAAAAAAAAAAAAA"))).toBe(401);
    expect(status(await rawExchange(portOf(sc), upgradeRequest("/__openclaw__/worker"), 500))).toBe(401);
    expect(up.parsed).toEqual([]);
  });

  it("on: forwarded without an identity — never inheriting one — with their own Authorization kept", async () => {
    const sc = await sidecar({ "--self-authenticating-routes": "true" });
    const cookie = await cookieFor(sc);
    expect(
      status(
        await get(sc, "/j/AAAAAAAAAAAAAAAAAAAAAA", `Cookie: ${cookie}; theme=dark\r\nx-forwarded-user: mallory\r\n`),
      ),
    ).toBe(200);
    expect(
      status(
        await get(
          sc,
          "/__openclaw__/worker-bootstrap/artifacts/abc123",
          "Authorization: Bearer worker-admission-token\r\n",
        ),
      ),
    ).toBe(200);
    expect(
      status(await rawExchange(portOf(sc), upgradeRequest("/__openclaw__/worker", `Cookie: ${cookie}\r\n`), 500)),
    ).toBe(101);
    const [join, artifact, worker] = up.parsed;
    for (const p of [join!, artifact!, worker!]) {
      expect(up.values(p, "x-forwarded-user")).toEqual([]);
      expect(up.values(p, "x-openclaw-scopes")).toEqual([]);
      expect(up.values(p, "x-forwarded-for")).toEqual(["192.0.2.1"]);
    }
    expect(up.values(join!, "cookie")).toEqual(["theme=dark"]);
    expect(up.values(artifact!, "authorization")).toEqual(["Bearer worker-admission-token"]);
    expect(up.values(worker!, "cookie")).toEqual([]);
  });

  it("on: only those routes, as the gateway resolves them", async () => {
    const sc = await sidecar({ "--self-authenticating-routes": "true" });
    for (const target of [
      "/j/../api/x",
      "/j/%2e%2e/api",
      "/__openclaw__/worker/../../api",
      "/__openclaw__/workers",
      "/__openclaw__/worker-transfer/v1/x",
      "/xj/abc",
    ]) {
      expect([target, status(await get(sc, target))]).toEqual([target, 401]);
    }
    expect(up.parsed).toEqual([]);
  });

  it("only in identity mode: in local mode a join through the sidecar would pair as a local client", () => {
    expect(() =>
      loadConfig({ env: {}, flags: { "--mode": "local", "--token": TOKEN, "--self-authenticating-routes": "true" } }),
    ).toThrow(/selfAuthenticatingRoutes: only identity mode has it \(mode is "local"/);
  });
});

describe("the MCP Apps sandbox origin (appsListen)", () => {
  it("forwards to the sandbox listener plainly: no identity, none of the main origin's credentials", async () => {
    const sc = await sidecar({ "--apps-listen": "127.0.0.1:0", "--apps-upstream": apps.url });
    const cookie = await cookieFor(sc);
    const appsPort = sc.sidecar.appsAddress!.port;
    const r = await rawExchange(
      appsPort,
      `GET /apps/view.html HTTP/1.1\r\nHost: apps\r\nCookie: ${cookie}; app=1\r\nAuthorization: Bearer ${TOKEN}\r\nx-forwarded-user: mallory\r\nX-Forwarded-For: 10.9.9.9\r\nConnection: close\r\n\r\n`,
      1000,
    );
    expect(status(r)).toBe(200);
    const seen = apps.parsed[0]!;
    expect(seen.url).toBe("/apps/view.html");
    expect(up.values(seen, "cookie")).toEqual(["app=1"]);
    expect(up.values(seen, "authorization")).toEqual([]);
    expect(up.values(seen, "x-forwarded-user")).toEqual([]);
    expect(up.values(seen, "x-forwarded-for")).toEqual(["192.0.2.1"]);
    // The two origins are apart: nothing of it reached the main gateway listener, and the main origin still gates.
    expect(up.parsed.filter((p) => p.url === "/apps/view.html")).toEqual([]);
    expect(status(await get(sc, "/apps/view.html"))).toBe(401);
    expect(apps.parsed).toHaveLength(1);
  });

  it("the sandbox listener's default is the gateway's port + 1; its public origin must differ from the main one", () => {
    const c = loadConfig({ env: {}, flags: { "--upstream": "http://openclaw-gateway:18789" } });
    expect(c.appsUpstream.href).toBe("http://openclaw-gateway:18790/");
    expect(() =>
      loadConfig({
        env: {},
        flags: { "--public-origin": "https://claw.example", "--apps-public-origin": "https://claw.example" },
      }),
    ).toThrow("appsPublicOrigin: must differ from publicOrigin");
  });
});

describe("a pairing-required close says how to approve it", () => {
  it("the log line carries the request id and the command; the metrics stay bounded", async () => {
    const sc = await startTestSidecar({ "--upstream": gw.url });
    started.push(sc);
    const ws = new WebSocket(`${sc.url.replace("http", "ws")}/close-1008`);
    ws.on("error", () => {});
    await new Promise((resolve) => ws.once("close", resolve));
    await eventually(
      () => sc.logs.some((l) => l.msg !== undefined && String(l.msg).startsWith("websocket closed")),
      3000,
      "the close line",
    );
    const line = sc.logs.find((l) => String(l.msg).startsWith("websocket closed"))!;
    expect(line).toMatchObject({
      reasonClass: "pairing_required",
      requestId: "0000",
      approve: "openclaw devices approve 0000",
    });
    expect(String(line.msg)).toContain("openclaw devices approve 0000");
    expect(await sc.metric("openclaw_sidecar_websocket_closes_total", { reason_class: "pairing_required" })).toBe(1);
    expect(await sc.sidecar.metrics.registry.metrics()).not.toMatch(/\{[^}]*0000[^}]*\}/); // never in a label
  });

  it("a request id the gateway's 120-byte close reason cuts (the gateway's role-upgrade close) is never named", async () => {
    expect(Buffer.byteLength(ROLE_UPGRADE_CLOSE)).toBe(120);
    const sc = await startTestSidecar({ "--upstream": gw.url });
    started.push(sc);
    const ws = new WebSocket(`${sc.url.replace("http", "ws")}/close-1008-cut`);
    ws.on("error", () => {});
    await new Promise((resolve) => ws.once("close", resolve));
    await eventually(
      () => sc.logs.some((l) => l.msg !== undefined && String(l.msg).startsWith("websocket closed")),
      3000,
      "the close line",
    );
    const line = sc.logs.find((l) => String(l.msg).startsWith("websocket closed"))!;
    expect(line).toMatchObject({ reasonClass: "pairing_required", approve: "openclaw devices list" });
    expect(line).not.toHaveProperty("requestId");
    expect(String(line.msg)).toContain("openclaw devices list");
    expect(JSON.stringify(line)).not.toContain("c7157971");
  });
});
