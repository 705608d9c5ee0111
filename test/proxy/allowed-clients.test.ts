// allowedClients (issue 23, item 2) through the in-process sidecar: the client the sidecar resolves — the peer, or
// behind trustedHops the X-Forwarded-For entry the walk ends at — is checked before anything else, for HTTP and
// WebSocket upgrades, in every mode and on the MCP Apps origin. A refused client gets 403 client_not_allowed (JSON, a
// page for a browser, before the 101 for an upgrade), one access line and a count; the recording upstream (llhttp,
// the gateway's parser) proves nothing of it was sent. Refused before authentication: no login page, no failure
// counted by the limiter, no single sign-on verdict asked for.
import net from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type RecordingUpstream, startRecordingUpstream } from "../helpers/recording-upstream.ts";
import { startTestSidecar, type TestSidecar } from "../helpers/sidecar.ts";
import { ASSERTION, assertionSigner } from "../gate/identity-fuzz.ts";

const TOKEN = "allow-list-token-0123456789abcdef";
const SECRET = "a".repeat(40);
const REFUSING = "10.0.0.0/8, 2001:db8::/32";
let up: RecordingUpstream;
let apps: RecordingUpstream;
const started: TestSidecar[] = [];
beforeAll(async () => {
  up = await startRecordingUpstream();
  apps = await startRecordingUpstream();
});
afterEach(async () => {
  for (const sc of started.splice(0)) await sc.close();
  up.parsed.length = 0;
  apps.parsed.length = 0;
});
afterAll(async () => {
  await up?.close();
  await apps?.close();
});

type Mode = "attribution" | "identity" | "local";
const MODE_FLAGS: Record<Mode, Record<string, string>> = {
  attribution: {},
  identity: { "--mode": "identity", "--token": TOKEN, "--cookie-secret": SECRET, "--auth-max-failures": "2" },
  local: { "--mode": "local", "--token": TOKEN, "--cookie-secret": SECRET, "--auth-max-failures": "2" },
};
/** What a client of the mode sends to pass the gate (the gateway authenticates in attribution mode). */
const credential = (mode: Mode) => (mode === "attribution" ? "" : `Authorization: Bearer ${TOKEN}\r\n`);

async function sidecar(flags: Record<string, string>): Promise<TestSidecar> {
  const sc = await startTestSidecar({ "--upstream": up.url, ...flags });
  started.push(sc);
  return sc;
}

/** Raw bytes to host:port; everything until the server closes, or a 101's head (the tunnel is not needed here). */
function exchange(port: number, bytes: string, host = "127.0.0.1"): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, host);
    let out = "";
    const timer = setTimeout(() => socket.destroy(), 1500);
    socket.on("data", (d) => {
      out += d.toString("latin1");
      if (out.startsWith("HTTP/1.1 101") && out.includes("\r\n\r\n")) socket.destroy();
    });
    socket.on("error", (err) => (out ? undefined : reject(err)));
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(out);
    });
    socket.write(bytes);
  });
}
const portOf = (sc: TestSidecar) => sc.sidecar.proxyAddress.port;
const statusOf = (response: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0);
const bodyOf = (response: string) => response.slice(response.indexOf("\r\n\r\n") + 4);
const get = (path: string, extra = "") => `GET ${path} HTTP/1.1\r\nHost: x\r\n${extra}Connection: close\r\n\r\n`;
const upgrade = (path: string, extra = "") =>
  `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`;
const NAVIGATION = "Accept: text/html,application/xhtml+xml\r\n";
const accessLines = (sc: TestSidecar) => sc.logs.filter((l) => l.kind === "http" || l.kind === "websocket");

describe.each(["attribution", "identity", "local"] as const)("allowedClients in %s mode", (mode) => {
  it("a client inside the list passes: HTTP and the upgrade reach the gateway", async () => {
    const sc = await sidecar({ ...MODE_FLAGS[mode], "--allowed-clients": "10.0.0.0/8, 127.0.0.0/8" });
    expect(statusOf(await exchange(portOf(sc), get("/api/x", credential(mode))))).toBe(200);
    const ws = await exchange(portOf(sc), upgrade("/ws", credential(mode)));
    expect(statusOf(ws)).toBe(101);
    expect(up.parsed.map((p) => `${p.method} ${p.url} ${p.upgrade}`)).toEqual(["GET /api/x false", "GET /ws true"]);
    expect(await sc.metric("openclaw_sidecar_clients_refused_total")).toBe(0);
  });

  it("a client outside it: 403 client_not_allowed (JSON; a page for a browser), counted, logged, nothing sent upstream", async () => {
    const sc = await sidecar({ ...MODE_FLAGS[mode], "--allowed-clients": REFUSING });
    const api = await exchange(portOf(sc), get("/api/x", credential(mode)));
    expect(statusOf(api)).toBe(403);
    expect(api).toContain("Content-Type: application/json");
    expect(JSON.parse(bodyOf(api))).toEqual({
      error: {
        type: "client_not_allowed",
        message: "the client address 127.0.0.1 is not in the sidecar's allowedClients",
      },
    });
    const page = await exchange(portOf(sc), get("/", NAVIGATION + credential(mode)));
    expect(statusOf(page)).toBe(403);
    expect(page).toContain("Content-Type: text/html");
    expect(bodyOf(page)).toContain("<h1>Not open to this address</h1>");
    expect(bodyOf(page)).toContain("403 client_not_allowed");
    // A body is not read on: the connection closes after the answer, and none of it reaches the gateway.
    const post = await exchange(
      portOf(sc),
      `POST /api/x HTTP/1.1\r\nHost: x\r\n${credential(mode)}Content-Length: 5\r\n\r\nhello`,
    );
    expect(statusOf(post)).toBe(403);
    expect(post).toContain("Connection: close");
    expect(up.parsed).toEqual([]);
    expect(await sc.metric("openclaw_sidecar_clients_refused_total")).toBe(3);
    expect(accessLines(sc)).toEqual([
      expect.objectContaining({ kind: "http", client: "127.0.0.1", url: "/api/x", status: 403, sentUpstream: 0 }),
      expect.objectContaining({ kind: "http", client: "127.0.0.1", url: "/", status: 403, sentUpstream: 0 }),
      expect.objectContaining({ kind: "http", method: "POST", status: 403, sentUpstream: 0 }),
    ]);
    for (const line of accessLines(sc)) expect(line.error).toBe("client_not_allowed");
  });

  it("an upgrade from outside it: 403 before any 101, its tunnel bytes dropped, counted by result", async () => {
    const sc = await sidecar({ ...MODE_FLAGS[mode], "--allowed-clients": REFUSING });
    const ws = await exchange(portOf(sc), `${upgrade("/ws", credential(mode))}tunnel-bytes`);
    expect(statusOf(ws)).toBe(403);
    expect(ws).not.toContain("101");
    expect(JSON.parse(bodyOf(ws)).error.type).toBe("client_not_allowed");
    expect(up.parsed).toEqual([]);
    expect(await sc.metric("openclaw_sidecar_websocket_upgrades_total", { result: "client_not_allowed" })).toBe(1);
    expect(await sc.metric("openclaw_sidecar_websocket_upgrades_total", { result: "ok" })).toBe(0);
    // Upgrades are counted by their result, not twice.
    expect(await sc.metric("openclaw_sidecar_clients_refused_total")).toBe(0);
    expect(accessLines(sc)).toEqual([
      expect.objectContaining({
        kind: "websocket",
        client: "127.0.0.1",
        url: "/ws",
        result: "client_not_allowed",
        status: 403,
        sentUpstream: 0,
      }),
    ]);
  });
});

describe("refused before authentication", () => {
  it.each(["identity", "local"] as const)(
    "%s: no login page, no failure counted, no lockout — and the same requests from an allowed client are",
    async (mode) => {
      for (const [allowed, refused] of [
        ["127.0.0.0/8", false],
        [REFUSING, true],
      ] as const) {
        const sc = await sidecar({ ...MODE_FLAGS[mode], "--allowed-clients": allowed });
        const sent = up.parsed.length;
        const page = await exchange(portOf(sc), get("/", NAVIGATION));
        const wrong = [];
        for (let i = 0; i < 4; i++)
          wrong.push(statusOf(await exchange(portOf(sc), get("/api/x", "Authorization: Bearer wrong-token\r\n"))));
        const right = statusOf(await exchange(portOf(sc), get("/api/x", credential(mode))));
        const failures = await sc.metric("openclaw_sidecar_auth_failures_total");
        if (refused) {
          expect(statusOf(page)).toBe(403);
          expect(page).not.toContain('name="token"');
          expect(wrong).toEqual([403, 403, 403, 403]);
          expect(right).toBe(403);
          expect(failures).toBe(0);
          expect(await sc.metric("openclaw_sidecar_clients_refused_total")).toBe(6);
          expect(up.parsed.length).toBe(sent);
        } else {
          // The control: the gate does see these requests — failures counted, the limiter locks out (max 2).
          expect(wrong).toContain(401);
          expect(wrong).toContain(429);
          expect(failures).toBeGreaterThan(0);
        }
        await sc.close();
      }
    },
  );

  it("single sign-on (verified assertions) is not asked: no JWKS fetch, no assertion_unverifiable", async () => {
    const signer = assertionSigner();
    const assertion = `${ASSERTION.header}: ${signer.sign({ email: "alice@example.com" })}\r\n`;
    const results: Array<[number, number]> = [];
    for (const allowed of ["127.0.0.0/8", REFUSING]) {
      const sc = await sidecar({
        "--mode": "identity",
        "--trust-assertion": "generic",
        "--assertion-header": ASSERTION.header,
        // Nothing listens there: asking it is a 503 assertion_unverifiable.
        "--assertion-jwks-url": "http://127.0.0.1:9/jwks",
        "--assertion-audience": ASSERTION.audience,
        "--assertion-issuer": ASSERTION.issuer,
        "--cookie-secret": SECRET,
        "--allowed-clients": allowed,
      });
      const status = statusOf(await exchange(portOf(sc), get("/api/x", assertion)));
      results.push([
        status,
        await sc.metric("openclaw_sidecar_auth_failures_total", { reason: "assertion_unverifiable" }),
      ]);
      await sc.close();
    }
    expect(results).toEqual([
      [503, 1],
      [403, 0],
    ]);
  });
});

describe("behind a trusted hop, the client the X-Forwarded-For walk ends at decides", () => {
  const xff = (value: string) => `X-Forwarded-For: ${value}\r\n`;

  it("an allowed client behind the hop passes, and the gateway is told that client", async () => {
    const sc = await sidecar({ "--trusted-hops": "127.0.0.1", "--allowed-clients": "203.0.113.0/24" });
    expect(statusOf(await exchange(portOf(sc), get("/api/x", xff("203.0.113.5"))))).toBe(200);
    expect(statusOf(await exchange(portOf(sc), get("/api/x", xff("203.0.113.5, 127.0.0.1"))))).toBe(200);
    expect(statusOf(await exchange(portOf(sc), upgrade("/ws", xff("203.0.113.5"))))).toBe(101);
    expect(up.parsed.map((p) => up.values(p, "x-forwarded-for"))).toEqual([
      ["203.0.113.5"],
      ["203.0.113.5"],
      ["203.0.113.5"],
    ]);
  });

  it.each([
    ["198.51.100.1", "a client outside the list"],
    ["203.0.113.5, 198.51.100.1", "an allowed address the client wrote left of its own"],
    ["203.0.113.5, garbage", "a chain the hop garbled: the hop is the client"],
    [undefined, "no X-Forwarded-For: the hop is the client"],
  ] as Array<[string | undefined, string]>)("refused: X-Forwarded-For %s (%s)", async (value) => {
    const sc = await sidecar({ "--trusted-hops": "127.0.0.1", "--allowed-clients": "203.0.113.0/24" });
    const extra = value === undefined ? "" : xff(value);
    expect(statusOf(await exchange(portOf(sc), get("/api/x", extra)))).toBe(403);
    expect(statusOf(await exchange(portOf(sc), upgrade("/ws", extra)))).toBe(403);
    expect(up.parsed).toEqual([]);
  });

  it("allow-listing the hop instead of the clients (the Traefik pitfall) lets no forwarded client in", async () => {
    const sc = await sidecar({ "--trusted-hops": "127.0.0.1", "--allowed-clients": "127.0.0.1" });
    const r = await exchange(portOf(sc), get("/api/x", xff("198.51.100.1")));
    expect(statusOf(r)).toBe(403);
    expect(JSON.parse(bodyOf(r)).error.message).toContain("198.51.100.1");
    expect(up.parsed).toEqual([]);
  });

  it("from a peer that is not a trusted hop, an X-Forwarded-For naming an allowed client does not help", async () => {
    const sc = await sidecar({ "--trusted-hops": "10.0.0.0/8", "--allowed-clients": "203.0.113.0/24" });
    expect(statusOf(await exchange(portOf(sc), get("/api/x", xff("203.0.113.5"))))).toBe(403);
    expect(statusOf(await exchange(portOf(sc), upgrade("/ws", xff("203.0.113.5"))))).toBe(403);
    expect(accessLines(sc).map((l) => l.client)).toEqual(["127.0.0.1", "127.0.0.1"]);
    expect(up.parsed).toEqual([]);
  });
});

describe("IPv6 and IPv4-mapped peers", () => {
  it("an IPv6 client (::1) is matched as IPv6: inside ::1/128, not inside 127.0.0.0/8", async () => {
    const inside = await sidecar({ "--listen": "[::1]:0", "--allowed-clients": "::1" });
    expect(statusOf(await exchange(portOf(inside), get("/api/x"), "::1"))).toBe(200);
    const outside = await sidecar({ "--listen": "[::1]:0", "--allowed-clients": "127.0.0.0/8, ::ffff:127.0.0.0/104" });
    const r = await exchange(portOf(outside), get("/api/x"), "::1");
    expect(statusOf(r)).toBe(403);
    expect(JSON.parse(bodyOf(r)).error.message).toContain("address ::1 is");
    expect(up.parsed).toHaveLength(1);
  });

  it("a client connecting over ::ffff:127.0.0.1 matches 127.0.0.0/8 (and the mapped form of it)", async () => {
    for (const allowed of ["127.0.0.0/8", "::ffff:127.0.0.0/104", "::ffff:127.0.0.1"]) {
      const sc = await sidecar({ "--listen": "[::ffff:127.0.0.1]:0", "--allowed-clients": allowed });
      expect(statusOf(await exchange(portOf(sc), get("/api/x")))).toBe(200);
      expect(statusOf(await exchange(portOf(sc), upgrade("/ws")))).toBe(101);
      expect(accessLines(sc)[0]?.client).toBe("127.0.0.1");
    }
    const refused = await sidecar({ "--listen": "[::ffff:127.0.0.1]:0", "--allowed-clients": "10.0.0.0/8" });
    const r = await exchange(portOf(refused), get("/api/x"));
    expect(statusOf(r)).toBe(403);
    expect(JSON.parse(bodyOf(r)).error.message).toContain("address 127.0.0.1 is");
    expect(up.parsed).toHaveLength(6);
  });
});

describe("the MCP Apps origin (appsListen)", () => {
  it("is held to the same list: refused there too, for HTTP and upgrades, with nothing sent to its upstream", async () => {
    for (const [allowed, http, ws] of [
      [REFUSING, 403, 403],
      ["127.0.0.0/8", 200, 101],
    ] as const) {
      const sc = await sidecar({
        "--apps-listen": "127.0.0.1:0",
        "--apps-upstream": apps.url,
        "--allowed-clients": allowed,
      });
      const appsPort = sc.sidecar.appsAddress?.port as number;
      const page = await exchange(appsPort, get("/mcp-app/x", NAVIGATION));
      expect(statusOf(page)).toBe(http);
      expect(statusOf(await exchange(appsPort, upgrade("/mcp-app/ws")))).toBe(ws);
      if (http === 403) {
        expect(bodyOf(page)).toContain("403 client_not_allowed");
        expect(apps.parsed).toEqual([]);
        expect(await sc.metric("openclaw_sidecar_clients_refused_total")).toBe(1);
        expect(await sc.metric("openclaw_sidecar_websocket_upgrades_total", { result: "client_not_allowed" })).toBe(1);
        expect(accessLines(sc).map((l) => [l.kind, l.status, l.sentUpstream])).toEqual([
          ["http", 403, 0],
          ["websocket", 403, 0],
        ]);
      } else expect(apps.parsed).toHaveLength(2);
      await sc.close();
    }
    expect(up.parsed).toEqual([]);
  });
});
