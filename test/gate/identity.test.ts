// Identity and local modes on loopback, against the fake gateway: the sidecar is the authentication point.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { COOKIE_NAME, LOCKED_ANSWER_DELAY_MS } from "../../src/gate/auth-gate.ts";
import { rawExchange, upgradeRequest } from "../helpers/net.ts";
import { startTestSidecar, type TestSidecar } from "../helpers/sidecar.ts";
import { type FakeGateway, startFakeGateway } from "../helpers/upstream.ts";

const TOKEN = "correct-horse-battery-staple-0123456789";
const SECRET = "k".repeat(40);
let gw: FakeGateway;
let a: TestSidecar;
let b: TestSidecar;
const identityFlags = () => ({
  "--upstream": gw.url,
  "--mode": "identity",
  "--token": TOKEN,
  "--user": "alice@example.com",
  "--cookie-secret": SECRET,
  "--auth-max-failures": "20",
  "--control-ui-token-login": "false",
});

beforeAll(async () => {
  gw = await startFakeGateway();
  a = await startTestSidecar(identityFlags());
  b = await startTestSidecar(identityFlags()); // a second replica with the same cookie secret
});
afterAll(async () => {
  await a?.close();
  await b?.close();
  await gw?.close();
});

async function login(
  sc: TestSidecar,
  path = "/chat?session=1&token=" + TOKEN,
): Promise<{ cookie: string; location: string }> {
  const res = await fetch(`${sc.url}${path}`, { redirect: "manual", headers: { accept: "text/html" } });
  expect(res.status).toBe(303);
  const setCookie = res.headers.get("set-cookie") ?? "";
  expect(setCookie).toMatch(new RegExp(`^${COOKIE_NAME}=[^;]+; Path=/; HttpOnly; SameSite=Lax; Max-Age=\\d+$`));
  return { cookie: setCookie.split(";")[0] as string, location: res.headers.get("location") ?? "" };
}

const upgradeWith = (sc: TestSidecar, headers: Record<string, string>) =>
  new Promise<{ opened: boolean; status?: number }>((resolve) => {
    const ws = new WebSocket(`${sc.url.replace("http", "ws")}/`, { headers });
    ws.once("open", () => {
      ws.close();
      resolve({ opened: true });
    });
    ws.once("unexpected-response", (_req, res) => resolve({ opened: false, status: res.statusCode ?? 0 }));
    ws.once("error", () => resolve({ opened: false }));
  });

describe("identity mode", () => {
  it("?token= login sets a signed HttpOnly cookie and redirects to the same URL without the token", async () => {
    const { location } = await login(a);
    expect(location).toBe("/chat?session=1");
  });

  it("the cookie opens HTTP and WebSocket; the gateway gets the user header, never the cookie or a client's identity", async () => {
    const { cookie } = await login(a);
    const before = gw.received.length;
    const res = await fetch(`${a.url}/control-ui-config.json`, {
      headers: { cookie: `${cookie}; theme=dark`, "x-forwarded-user": "mallory" },
    });
    expect(res.status).toBe(200);
    const seen = gw.received[before]!;
    expect(seen.headers["x-forwarded-user"]).toBe("alice@example.com");
    expect(seen.headers.cookie).toBe("theme=dark");
    expect(seen.headers["x-forwarded-proto"]).toBe("http");
    expect(await upgradeWith(a, { cookie, "x-forwarded-user": "mallory" })).toEqual({ opened: true });
    const upgrade = gw.received.findLast((r) => r.headers.upgrade === "websocket")!;
    expect(upgrade.headers["x-forwarded-user"]).toBe("alice@example.com");
  });

  it("Bearer works for API clients and is not forwarded", async () => {
    const before = gw.received.length;
    const res = await fetch(`${a.url}/tools/invoke`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}` },
      body: "{}",
    });
    expect(res.status).toBe(200);
    expect(gw.received[before]!.headers.authorization).toBeUndefined();
    expect(gw.received[before]!.headers["x-forwarded-user"]).toBe("alice@example.com");
  });

  it("without credentials: a login page for browsers, 401 JSON for APIs, 401 for upgrades — and nothing reaches the gateway", async () => {
    const before = gw.received.length;
    const page = await fetch(`${a.url}/`, { headers: { accept: "text/html" } });
    expect(page.status).toBe(401);
    expect(await page.text()).toContain('name="token"');
    const api = await fetch(`${a.url}/api`, { headers: { accept: "application/json" } });
    expect(api.status).toBe(401);
    expect(((await api.json()) as { error: { type: string } }).error.type).toBe("unauthorized");
    expect((await rawExchange(a.sidecar.proxyAddress.port, upgradeRequest("/"))).slice(0, 12)).toBe("HTTP/1.1 401");
    expect(await upgradeWith(a, { authorization: "Bearer wrong" })).toEqual({ opened: false, status: 401 });
    expect(gw.received.length).toBe(before);
    expect(
      await a.metric("openclaw_sidecar_websocket_upgrades_total", { result: "unauthenticated" }),
    ).toBeGreaterThanOrEqual(2);
  });

  it("a cookie from replica A is accepted by replica B (stateless HMAC)", async () => {
    const { cookie } = await login(a);
    expect((await fetch(`${b.url}/x`, { headers: { cookie } })).status).toBe(200);
  });

  it("a tampered or foreign-key cookie is refused", async () => {
    const { cookie } = await login(a);
    const tampered = cookie.slice(0, -2) + (cookie.endsWith("A") ? "BB" : "AA");
    expect((await fetch(`${a.url}/x`, { headers: { cookie: tampered, accept: "application/json" } })).status).toBe(401);
    const other = await startTestSidecar({ ...identityFlags(), "--cookie-secret": "z".repeat(40) });
    try {
      expect((await fetch(`${other.url}/x`, { headers: { cookie, accept: "application/json" } })).status).toBe(401);
    } finally {
      await other.close();
    }
  });

  it("an expired cookie is refused", async () => {
    const short = await startTestSidecar({ ...identityFlags(), "--cookie-ttl-seconds": "60" });
    try {
      const { cookie } = await login(short);
      const realNow = Date.now;
      Date.now = () => realNow() + 61_000;
      try {
        const res = await fetch(`${short.url}/x`, { headers: { cookie, accept: "application/json" } });
        expect(res.status).toBe(401);
      } finally {
        Date.now = realNow;
      }
      expect(await short.metric("openclaw_sidecar_auth_failures_total", { reason: "expired_cookie" })).toBe(1);
    } finally {
      await short.close();
    }
  });

  it("a stale cookie sent with many requests never locks its user out of logging in again", async () => {
    const sc = await startTestSidecar({
      ...identityFlags(),
      "--auth-max-failures": "5",
      "--cookie-secret": "n".repeat(40),
    });
    try {
      const { cookie } = await login(a); // signed with another secret: what a browser holds after a secret rotation
      for (let i = 0; i < 20; i++)
        expect((await fetch(`${sc.url}/asset-${i}.js`, { headers: { cookie } })).status).toBe(401);
      expect(await sc.metric("openclaw_sidecar_auth_failures_total", { reason: "bad_cookie" })).toBe(20);
      await login(sc, `/?token=${TOKEN}`); // 303 with a fresh cookie, not 429
    } finally {
      await sc.close();
    }
  });

  it("20 wrong tokens lock the address out: wrong tokens are then 429, answered late; counted and logged without the secret", async () => {
    const sc = await startTestSidecar({ ...identityFlags(), "--auth-max-failures": "20" });
    try {
      for (let i = 0; i < 20; i++) {
        const res = await fetch(`${sc.url}/?token=wrong-guess-${i}`, { redirect: "manual" });
        expect(res.status).toBe(401);
      }
      const late = async (attempt: () => Promise<unknown>) => {
        const t0 = Date.now();
        const result = await attempt();
        expect(Date.now() - t0).toBeGreaterThanOrEqual(LOCKED_ANSWER_DELAY_MS - 50);
        return result;
      };
      expect(
        await late(async () => (await fetch(`${sc.url}/?token=wrong-guess-link`, { redirect: "manual" })).status),
      ).toBe(429);
      expect(
        await late(
          async () =>
            (
              await fetch(`${sc.url}/x`, {
                headers: { authorization: "Bearer wrong-guess-bearer", accept: "application/json" },
              })
            ).status,
        ),
      ).toBe(429);
      expect(await late(() => upgradeWith(sc, { authorization: "Bearer wrong-guess-upgrade" }))).toEqual({
        opened: false,
        status: 429,
      });
      expect(await sc.metric("openclaw_sidecar_auth_failures_total", { reason: "bad_token" })).toBe(20);
      expect(await sc.metric("openclaw_sidecar_auth_failures_total", { reason: "rate_limited" })).toBe(3);
      expect(sc.rawLogs()).not.toContain("wrong-guess-");
      expect(sc.rawLogs()).not.toContain(TOKEN);
    } finally {
      await sc.close();
    }
  });

  it("someone else's wrong tokens from the same address never lock the real user out: the right token passes at once (?token=, Bearer, WebSocket)", async () => {
    const sc = await startTestSidecar({ ...identityFlags(), "--auth-max-failures": "3" });
    try {
      // Other clients behind the same docker-proxy/NAT address (here: loopback) guess until the address is locked.
      for (let i = 0; i < 3; i++)
        expect(
          (await fetch(`${sc.url}/x`, { headers: { authorization: `Bearer guess-${i}`, accept: "application/json" } }))
            .status,
        ).toBe(401);
      expect((await fetch(`${sc.url}/?token=guess-3`, { redirect: "manual" })).status).toBe(429);
      const quick = async <T>(attempt: () => Promise<T>): Promise<T> => {
        const t0 = Date.now();
        const result = await attempt();
        expect(Date.now() - t0).toBeLessThan(LOCKED_ANSWER_DELAY_MS);
        return result;
      };
      const { cookie } = await quick(() => login(sc, `/chat?token=${TOKEN}`));
      expect((await fetch(`${sc.url}/x`, { headers: { cookie } })).status).toBe(200);
      const before = gw.received.length;
      expect(
        await quick(
          async () =>
            (
              await fetch(`${sc.url}/tools/invoke`, {
                method: "POST",
                headers: { authorization: `Bearer ${TOKEN}` },
                body: "{}",
              })
            ).status,
        ),
      ).toBe(200);
      expect(gw.received[before]?.headers["x-forwarded-user"]).toBe("alice@example.com");
      expect(await quick(() => upgradeWith(sc, { authorization: `Bearer ${TOKEN}` }))).toEqual({ opened: true });
      // Still locked for the guessers.
      expect(
        (await fetch(`${sc.url}/x`, { headers: { authorization: "Bearer guess-4", accept: "application/json" } }))
          .status,
      ).toBe(429);
    } finally {
      await sc.close();
    }
  });

  it("refuses a cross-site upgrade (CSWSH) by Origin", async () => {
    const { cookie } = await login(a);
    expect(await upgradeWith(a, { cookie, origin: "http://evil.example" })).toEqual({ opened: false, status: 403 });
    expect(await upgradeWith(a, { cookie, origin: a.url })).toEqual({ opened: true });
    expect(await a.metric("openclaw_sidecar_websocket_upgrades_total", { result: "origin_not_allowed" })).toBe(1);
  });

  it("allow-listed public paths pass without credentials and without identity", async () => {
    const sc = await startTestSidecar({ ...identityFlags(), "--public-paths": "/healthz" });
    try {
      const before = gw.received.length;
      expect((await fetch(`${sc.url}/healthz`)).status).toBe(200);
      expect(gw.received[before]!.headers["x-forwarded-user"]).toBeUndefined();
      expect((await fetch(`${sc.url}/healthz2`, { headers: { accept: "application/json" } })).status).toBe(401);
    } finally {
      await sc.close();
    }
  });
});

describe("local mode", () => {
  it("validated clients reach the gateway with no forwarding header at all; the login hands the token on in the fragment", async () => {
    const sc = await startTestSidecar({
      "--upstream": gw.url,
      "--mode": "local",
      "--token": TOKEN,
      "--cookie-secret": SECRET,
    });
    try {
      const { cookie, location } = await login(sc, `/?token=${TOKEN}`);
      expect(location).toBe(`/#token=${TOKEN}`);
      const before = gw.received.length;
      expect((await fetch(`${sc.url}/x`, { headers: { cookie, "x-forwarded-for": "1.2.3.4" } })).status).toBe(200);
      const seen = gw.received[before]!.headers;
      expect(
        Object.keys(seen).filter((h) => h.startsWith("x-forwarded") || h === "forwarded" || h === "x-real-ip"),
      ).toEqual([]);
      expect(await upgradeWith(sc, { cookie })).toEqual({ opened: true });
      expect(await upgradeWith(sc, {})).toEqual({ opened: false, status: 401 });
    } finally {
      await sc.close();
    }
  });
});
