// Which client credentials ever reach the gateway, one block per row of the table in docs/security.md ("Which
// client credentials reach the gateway"): every request goes through a real sidecar to the recording upstream
// (llhttp, the gateway's own parser), and what it recorded is what the gateway would have seen. What the sidecar
// consumed or refused is never among it; Authorization passes only where the sidecar never reads it (public paths,
// self-authenticating routes) and in local mode, where the Bearer is the gateway's own token.
import { createHash } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { type JWK, SignJWT, exportJWK, generateKeyPair, importJWK } from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { COOKIE_NAME } from "../../src/gate/auth-gate.ts";
import { eventually, rawExchange, upgradeRequest } from "../helpers/net.ts";
import { type Parsed, type RecordingUpstream, startRecordingUpstream } from "../helpers/recording-upstream.ts";
import { startTestSidecar, type TestSidecar } from "../helpers/sidecar.ts";

const TOKEN = "alice-token-0123456789abcdefghij";
const OTHER = "Bearer someone-elses-token-0123456789";
const CLIENT_ID = "node-1.access";
const CLIENT_SECRET = "node-1-client-secret-0123456789abcdef";
const SECRET = "f".repeat(40);
const ASSERTION_HEADER = "x-auth-assertion";

let up: RecordingUpstream;
let jwks: Server;
let jwksUrl: string;
let key: { privateJwk: JWK; publicJwk: JWK };
let tokensFile: string;
const started: TestSidecar[] = [];

beforeAll(async () => {
  up = await startRecordingUpstream();
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  key = {
    privateJwk: await exportJWK(privateKey),
    publicJwk: { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256", use: "sig" },
  };
  jwks = createServer((_req, res) =>
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [key.publicJwk] })),
  );
  await new Promise<void>((r) => jwks.listen(0, "127.0.0.1", r));
  jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`;
  tokensFile = path.join(mkdtempSync(path.join(tmpdir(), "ocsc-forwarded-")), "tokens.json");
  writeFileSync(
    tokensFile,
    JSON.stringify([
      { user: "alice", token: TOKEN },
      {
        user: "node-1",
        clientId: CLIENT_ID,
        clientSecretSha256: createHash("sha256").update(CLIENT_SECRET).digest("hex"),
      },
    ]),
  );
});
afterEach(async () => {
  for (const sc of started.splice(0)) await sc.close();
  up.parsed.length = 0;
});
afterAll(async () => {
  await up?.close();
  await new Promise((r) => jwks?.close(r));
});

/** Identity mode with every kind of credential at once: token (and its token-field login), machine, assertion. */
async function identity(): Promise<TestSidecar> {
  const sc = await startTestSidecar({
    "--upstream": up.url,
    "--mode": "identity",
    "--tokens-file": tokensFile,
    "--cookie-secret": SECRET,
    "--public-paths": "/healthz",
    "--self-authenticating-routes": "true",
    "--control-ui-token-login": "true",
    "--trust-assertion": "generic",
    "--assertion-header": ASSERTION_HEADER,
    "--assertion-jwks-url": jwksUrl,
    "--assertion-audience": "openclaw",
    "--assertion-issuer": "https://proxy.example.com",
  });
  started.push(sc);
  return sc;
}
const assertion = async (user: string) => {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    aud: "openclaw",
    iss: "https://proxy.example.com",
    sub: user,
    email: `${user}@example.com`,
    exp: now + 60,
    iat: now,
  })
    .setProtectedHeader({ alg: "ES256", kid: "k1", typ: "JWT" })
    .sign(await importJWK(key.privateJwk, "ES256"));
};
const portOf = (sc: TestSidecar) => Number(new URL(sc.url).port);
const statusOf = (response: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0);
async function sessionCookie(sc: TestSidecar): Promise<string> {
  const res = await fetch(`${sc.url}/chat?token=${TOKEN}`, { redirect: "manual" });
  expect(res.status).toBe(303);
  return (res.headers.get("set-cookie") ?? "").split(";")[0] as string;
}

/** One request through the sidecar; its status and what the gateway received (undefined: nothing). */
async function send(
  sc: TestSidecar,
  target: string,
  lines: string,
): Promise<{ status: number; seen: Parsed | undefined }> {
  up.parsed.length = 0;
  const response = await rawExchange(
    portOf(sc),
    `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${lines}Connection: close\r\n\r\n`,
    2000,
  );
  return { status: statusOf(response), seen: up.parsed[0] };
}
async function upgrade(
  sc: TestSidecar,
  target: string,
  lines: string,
): Promise<{ status: number; seen: Parsed | undefined }> {
  up.parsed.length = 0;
  const response = await rawExchange(portOf(sc), upgradeRequest(target, lines), 500);
  if (statusOf(response) === 101) await eventually(() => up.parsed.length === 1, 2000, "the upgrade upstream");
  return { status: statusOf(response), seen: up.parsed[0] };
}
/** The credential headers the gateway received. */
function credentials(seen: Parsed | undefined): Record<string, string[]> {
  if (seen === undefined) throw new Error("nothing reached the gateway");
  const names = [
    "authorization",
    "cookie",
    ASSERTION_HEADER,
    "cf-access-client-id",
    "cf-access-client-secret",
    "x-forwarded-user",
  ];
  return Object.fromEntries(names.map((n) => [n, up.values(seen, n)]));
}
const none = {
  authorization: [],
  cookie: [],
  [ASSERTION_HEADER]: [],
  "cf-access-client-id": [],
  "cf-access-client-secret": [],
};
const machine = `CF-Access-Client-Id: ${CLIENT_ID}\r\nCF-Access-Client-Secret: ${CLIENT_SECRET}\r\n`;

describe("which client credentials reach the gateway (docs/security.md table), identity mode", () => {
  it("public path: Authorization passes as sent (the gateway's route checks it); the session cookie and the assertion never", async () => {
    const sc = await identity();
    const cookie = await sessionCookie(sc);
    const r = await send(
      sc,
      "/healthz",
      `Authorization: Bearer hooks-token-0123456789\r\nCookie: ${cookie}; theme=dark\r\n${ASSERTION_HEADER}: ${await assertion("mallory")}\r\n${machine}`,
    );
    expect(r.status).toBe(200);
    expect(credentials(r.seen)).toEqual({
      ...none,
      authorization: ["Bearer hooks-token-0123456789"],
      cookie: ["theme=dark"],
      "x-forwarded-user": [],
    });
  });

  it("Control UI shell: a wrong Bearer is dropped and the page loads without an identity; a right one is consumed", async () => {
    const sc = await identity();
    const wrong = await send(sc, "/", "Accept: text/html\r\nAuthorization: Bearer stale-token-0123456789abcdef\r\n");
    expect(wrong.status).toBe(200);
    expect(credentials(wrong.seen)).toEqual({ ...none, "x-forwarded-user": [] });
    const right = await send(sc, "/assets/index.js", `Authorization: Bearer ${TOKEN}\r\n`);
    expect(credentials(right.seen)).toEqual({ ...none, "x-forwarded-user": ["alice"] });
    const cookie = await sessionCookie(sc);
    const withCookie = await send(sc, "/", `Accept: text/html\r\nCookie: ${cookie}; theme=dark\r\n`);
    expect(credentials(withCookie.seen)).toEqual({ ...none, cookie: ["theme=dark"], "x-forwarded-user": ["alice"] });
  });

  it("self-authenticating route: its own Authorization (a worker admission token) passes; the session cookie and the assertion never", async () => {
    const sc = await identity();
    const cookie = await sessionCookie(sc);
    const lines = `Authorization: Bearer worker-admission-token\r\nCookie: ${cookie}; theme=dark\r\n${ASSERTION_HEADER}: ${await assertion("mallory")}\r\n`;
    const artifact = await send(sc, "/__openclaw__/worker-bootstrap/artifacts/a.tgz", lines);
    expect(artifact.status).toBe(200);
    expect(credentials(artifact.seen)).toEqual({
      ...none,
      authorization: ["Bearer worker-admission-token"],
      cookie: ["theme=dark"],
      "x-forwarded-user": [],
    });
    const join = await send(sc, "/j/abc123", `Cookie: ${cookie}\r\n`);
    expect(credentials(join.seen)).toEqual({ ...none, "x-forwarded-user": [] });
    const worker = await upgrade(
      sc,
      "/__openclaw__/worker",
      `Authorization: Bearer worker-admission-token\r\nCookie: ${cookie}\r\n`,
    );
    expect(worker.status).toBe(101);
    expect(credentials(worker.seen)).toEqual({
      ...none,
      authorization: ["Bearer worker-admission-token"],
      "x-forwarded-user": [],
    });
    // An assertion riding along on the worker WebSocket gives it no identity either (it was verified first, before).
    const asserted = await upgrade(
      sc,
      "/__openclaw__/worker",
      `Authorization: Bearer worker-admission-token\r\n${ASSERTION_HEADER}: ${await assertion("mallory")}\r\n`,
    );
    expect(asserted.status).toBe(101);
    expect(credentials(asserted.seen)).toEqual({
      ...none,
      authorization: ["Bearer worker-admission-token"],
      "x-forwarded-user": [],
    });
  });

  it("authenticated request: whichever credential decided, no Authorization reaches the gateway — not even someone else's token riding along", async () => {
    const sc = await identity();
    const cookie = await sessionCookie(sc);
    const byCookie = await send(sc, "/api/x", `Cookie: ${cookie}; theme=dark\r\nAuthorization: Basic Ym9iOnB3\r\n`);
    expect(credentials(byCookie.seen)).toEqual({ ...none, cookie: ["theme=dark"], "x-forwarded-user": ["alice"] });
    const byBearer = await send(sc, "/api/x", `Authorization: Bearer ${TOKEN}\r\n`);
    expect(credentials(byBearer.seen)).toEqual({ ...none, "x-forwarded-user": ["alice"] });
    const byMachine = await send(sc, "/api/x", `${machine}Authorization: ${OTHER}\r\nCookie: ${cookie}\r\n`);
    expect(byMachine.status).toBe(200);
    expect(credentials(byMachine.seen)).toEqual({ ...none, "x-forwarded-user": ["node-1"] });
    const byAssertion = await send(
      sc,
      "/api/x",
      `${ASSERTION_HEADER}: ${await assertion("carol")}\r\nAuthorization: ${OTHER}\r\nCookie: ${cookie}; theme=dark\r\n`,
    );
    expect(byAssertion.status).toBe(200);
    expect(credentials(byAssertion.seen)).toEqual({
      ...none,
      cookie: ["theme=dark"],
      "x-forwarded-user": ["carol@example.com"],
    });
  });

  it("a ?token= login link is answered by the sidecar: nothing reaches the gateway", async () => {
    const sc = await identity();
    const r = await send(sc, `/chat?token=${TOKEN}`, "");
    expect(r.status).toBe(303);
    expect(r.seen).toBeUndefined();
  });

  it("upgrade: cookie, Bearer, machine credential, assertion or the token field's hold — no Authorization, cookie or assertion upstream", async () => {
    const sc = await identity();
    const cookie = await sessionCookie(sc);
    const byCookie = await upgrade(sc, "/", `Cookie: ${cookie}\r\nAuthorization: Basic Ym9iOnB3\r\n`);
    expect(byCookie.status).toBe(101);
    expect(credentials(byCookie.seen)).toEqual({ ...none, "x-forwarded-user": ["alice"] });
    expect(credentials((await upgrade(sc, "/", `Authorization: Bearer ${TOKEN}\r\n`)).seen)).toEqual({
      ...none,
      "x-forwarded-user": ["alice"],
    });
    expect(credentials((await upgrade(sc, "/", `${machine}Authorization: ${OTHER}\r\n`)).seen)).toEqual({
      ...none,
      "x-forwarded-user": ["node-1"],
    });
    const byAssertion = await upgrade(
      sc,
      "/",
      `${ASSERTION_HEADER}: ${await assertion("carol")}\r\nAuthorization: ${OTHER}\r\nCookie: ${cookie}\r\n`,
    );
    expect(credentials(byAssertion.seen)).toEqual({ ...none, "x-forwarded-user": ["carol@example.com"] });
    // Held for the token field's connect frame: the upgrade goes on with the one user, and a non-Bearer Authorization
    // (which decided nothing) does not come along.
    const held = await upgrade(sc, "/", "Authorization: Basic Ym9iOnB3\r\n");
    expect(held.status).toBe(101);
    expect(credentials(held.seen)).toEqual({ ...none, "x-forwarded-user": ["alice"] });
  });
});

describe("which client credentials reach the gateway (docs/security.md table), local mode", () => {
  it("the Bearer is the gateway's own token and passes; the session cookie never", async () => {
    const sc = await startTestSidecar({
      "--upstream": up.url,
      "--mode": "local",
      "--token": TOKEN,
      "--cookie-secret": SECRET,
      "--public-paths": "/healthz",
    });
    started.push(sc);
    const cookie = await sessionCookie(sc);
    const bearer = await send(sc, "/api/x", `Authorization: Bearer ${TOKEN}\r\nCookie: ${cookie}; theme=dark\r\n`);
    expect(bearer.status).toBe(200);
    expect(credentials(bearer.seen)).toEqual({
      ...none,
      authorization: [`Bearer ${TOKEN}`],
      cookie: ["theme=dark"],
      "x-forwarded-user": [],
    });
    // Found by the gate fuzzer (seed 20261205): a Bearer spelled with a tab and another case was checked, then
    // forwarded as sent. The gateway gets the one token the sidecar checked, in one spelling.
    const spelled = await send(sc, "/api/x", `Authorization: bearer \t${TOKEN}\r\n`);
    expect(spelled.status).toBe(200);
    expect(credentials(spelled.seen)).toEqual({ ...none, authorization: [`Bearer ${TOKEN}`], "x-forwarded-user": [] });
    const byCookie = await send(sc, "/api/x", `Cookie: ${cookie}\r\n`);
    expect(credentials(byCookie.seen)).toEqual({ ...none, "x-forwarded-user": [] });
    const ws = await upgrade(sc, "/", `Authorization: Bearer ${TOKEN}\r\n`);
    expect(credentials(ws.seen)).toEqual({ ...none, authorization: [`Bearer ${TOKEN}`], "x-forwarded-user": [] });
    const wrong = await send(
      sc,
      "/api/x",
      "Authorization: Bearer wrong-token-0123456789abcdef\r\nAccept: application/json\r\n",
    );
    expect([wrong.status, wrong.seen]).toEqual([401, undefined]);
    const open = await send(sc, "/healthz", `Authorization: Bearer hooks-token-0123456789\r\nCookie: ${cookie}\r\n`);
    expect(credentials(open.seen)).toEqual({
      ...none,
      authorization: ["Bearer hooks-token-0123456789"],
      "x-forwarded-user": [],
    });
    expect(COOKIE_NAME).toBe("openclaw_sidecar_session");
  });
});
