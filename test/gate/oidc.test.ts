// OIDC login in identity mode against a REAL OpenID provider (node-oidc-provider, started on loopback in its own
// process with test users and groups), the real sidecar, and the fake gateway recording what reaches it. Every hop of
// the login is a real HTTP request: the sidecar's redirect, the provider's own login form, its redirects back, the
// sidecar's back-channel code exchange, discovery and JWKS fetches.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { COOKIE_NAME } from "../../src/gate/auth-gate.ts";
import { OIDC_TX_COOKIE } from "../../src/gate/sso/oidc-login.ts";
import { sealTransaction } from "../../src/gate/sso/oidc-transaction.ts";
import { freePort } from "../helpers/net.ts";
import {
  Browser,
  CLIENT_ID,
  CLIENT_SECRET,
  type ProviderProcess,
  loginThroughProvider,
  signingKey,
  startProvider,
} from "../helpers/oidc.ts";
import { startTestSidecar, type TestSidecar } from "../helpers/sidecar.ts";
import { type FakeGateway, startFakeGateway } from "../helpers/upstream.ts";

const SECRET = "oidc-test-cookie-secret-0123456789abcdef";
const TOKEN = "script-token-0123456789abcdefghij";
const SCOPES_BY_GROUP = {
  "openclaw-operators": ["operator.read", "operator.write", "operator.approvals"],
  "openclaw-readers": ["operator.read"],
};

let gw: FakeGateway;
let provider: ProviderProcess;
let providerPort: number;
let sc: TestSidecar;
let origin: string;
let k1: object;

function sidecarFlags(port: number, issuer: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    "--listen": `127.0.0.1:${port}`,
    "--upstream": gw.url,
    "--mode": "identity",
    "--public-origin": `http://127.0.0.1:${port}`,
    "--cookie-secret": SECRET,
    "--oidc-issuer": issuer,
    "--oidc-client-id": CLIENT_ID,
    "--oidc-client-secret": CLIENT_SECRET,
    "--oidc-scopes": "openid email profile groups",
    "--oidc-allowed-domains": "example.com",
    "--oidc-scopes-by-group": JSON.stringify(SCOPES_BY_GROUP),
    "--oidc-timeout-ms": "1500",
    "--token": TOKEN,
    "--user": "ci-bot",
    "--control-ui-token-login": "false",
    ...extra,
  };
}

const providerSpec = (keys: object[], extra: object = {}) => ({
  port: providerPort,
  redirectUris: [`${origin}/oauth2/callback`],
  postLogoutRedirectUris: [`${origin}/logout`],
  keys,
  ...extra,
});

beforeAll(async () => {
  gw = await startFakeGateway();
  k1 = await signingKey("key-1");
  const port = await freePort();
  origin = `http://127.0.0.1:${port}`;
  providerPort = await freePort();
  provider = await startProvider(providerSpec([k1]));
  sc = await startTestSidecar(sidecarFlags(port, provider.issuer));
}, 30_000);
afterAll(async () => {
  await sc?.close();
  await provider?.stop();
  await gw?.close();
});

const lastReceived = () => gw.received[gw.received.length - 1];

describe("OIDC login against a real provider", () => {
  it("a browser is sent to the provider, signs in on its form, and comes back with the sidecar's session: the gateway sees the user and the mapped scopes", async () => {
    const browser = new Browser();
    const before = gw.received.length;
    const { form, final } = await loginThroughProvider(browser, sc.url, "/chat?session=main", "alice");
    // The first hop: our 303 to the provider's authorization endpoint with PKCE (S256), state and nonce.
    const auth = new URL(form.hops[0]?.location as string);
    expect(form.hops[0]?.status).toBe(303);
    expect(auth.origin).toBe(new URL(provider.issuer).origin);
    expect(Object.fromEntries(auth.searchParams)).toMatchObject({
      client_id: CLIENT_ID,
      response_type: "code",
      code_challenge_method: "S256",
      redirect_uri: `${origin}/oauth2/callback`,
      scope: "openid email profile groups",
    });
    for (const p of ["state", "nonce", "code_challenge"])
      expect(auth.searchParams.get(p)?.length).toBeGreaterThanOrEqual(43);
    // Nothing reached the gateway before the login finished: the one request it saw is the page after it.
    expect(gw.received.length).toBe(before + 1);
    // Back through the callback: a 303 to where the user started, with the session cookie.
    const callbackHop = final.hops.find((h) => h.url.startsWith(`${origin}/oauth2/callback`));
    expect(callbackHop?.status).toBe(303);
    expect(callbackHop?.location).toBe("/chat?session=main");
    expect(final.status).toBe(200);
    expect(browser.cookie(sc.url, COOKIE_NAME)).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(browser.cookie(sc.url, OIDC_TX_COOKIE)).toBeUndefined(); // the transaction is over
    const seen = lastReceived();
    expect(seen?.url).toBe("/chat?session=main");
    expect(seen?.headers["x-forwarded-user"]).toBe("alice@example.com");
    expect(seen?.headers["x-openclaw-scopes"]).toBe("operator.approvals,operator.read,operator.write");
    expect(seen?.headers.cookie).toBeUndefined();
    expect(
      sc.logs.some((l) => l.msg === "login (single sign-on)" && l.user === "alice@example.com" && l.sub === "alice"),
    ).toBe(true);
  });

  it("the session cookie opens HTTP and WebSocket as that user; a client's own identity and scope headers are replaced", async () => {
    const browser = new Browser();
    await loginThroughProvider(browser, sc.url, "/", "bob");
    const cookie = `${COOKIE_NAME}=${browser.cookie(sc.url, COOKIE_NAME)}`;
    const res = await fetch(`${sc.url}/control-ui-config.json`, {
      headers: { cookie, "x-forwarded-user": "alice@example.com", "x-openclaw-scopes": "operator.admin" },
    });
    expect(res.status).toBe(200);
    expect(lastReceived()?.headers["x-forwarded-user"]).toBe("bob@example.com");
    expect(lastReceived()?.headers["x-openclaw-scopes"]).toBe("operator.read"); // the readers group
    const opened = await new Promise<boolean>((resolve) => {
      const ws = new WebSocket(`${sc.url.replace("http", "ws")}/`, {
        headers: { cookie, "x-forwarded-user": "mallory", origin },
      });
      ws.once("open", () => {
        ws.close();
        resolve(true);
      });
      ws.once("error", () => resolve(false));
    });
    expect(opened).toBe(true);
    const upgrade = gw.received.findLast((r) => r.headers.upgrade === "websocket");
    expect(upgrade?.headers["x-forwarded-user"]).toBe("bob@example.com");
    expect(upgrade?.headers["x-openclaw-scopes"]).toBe("operator.read");
  });

  it("a WebSocket never starts a login: without a session it is refused with 401, no redirect, nothing reaches the gateway", async () => {
    const before = gw.received.length;
    const failuresBefore = await sc.metric("openclaw_sidecar_auth_failures_total", { reason: "missing" });
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${sc.url.replace("http", "ws")}/`, { headers: { accept: "text/html", origin } });
      ws.once("unexpected-response", (_req, r) => resolve(r.statusCode ?? 0));
      ws.once("open", () => resolve(101));
      ws.once("error", () => resolve(-1));
    });
    expect(status).toBe(401);
    expect(gw.received.length).toBe(before);
    expect(await sc.metric("openclaw_sidecar_auth_failures_total", { reason: "missing" })).toBe(failuresBefore + 1);
    expect(await sc.metric("openclaw_sidecar_websocket_upgrades_total", { result: "unauthenticated" })).toBeGreaterThan(
      0,
    );
  });

  it("API clients without a session get 401 JSON, not a redirect; token login for scripts works beside OIDC", async () => {
    const api = await fetch(`${sc.url}/api/x`, { headers: { accept: "application/json" }, redirect: "manual" });
    expect(api.status).toBe(401);
    const bearer = await fetch(`${sc.url}/tools/invoke`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}` },
      body: "{}",
    });
    expect(bearer.status).toBe(200);
    expect(lastReceived()?.headers["x-forwarded-user"]).toBe("ci-bot");
  });

  it.each([
    ["mallory", "mallory@evil.example is not allowed here"],
    ["carol", "carol@example.com is in none of the groups of oidcScopesByGroup (groups: staff)"],
    ["eve", "eve@example.com is not verified at the provider"],
  ])(
    "a user the policy does not allow (%s) is refused with 403 after the provider's login, and never reaches the gateway",
    async (login, why) => {
      const browser = new Browser();
      const before = gw.received.length;
      const failures = await sc.metric("openclaw_sidecar_auth_failures_total", { reason: "oidc_not_allowed" });
      const { final } = await loginThroughProvider(browser, sc.url, "/", login);
      expect(final.status).toBe(403);
      expect(final.body).toContain(why);
      expect(final.body).toContain("oidc_not_allowed");
      expect(browser.cookie(sc.url, COOKIE_NAME)).toBeUndefined();
      expect(gw.received.length).toBe(before);
      expect(await sc.metric("openclaw_sidecar_auth_failures_total", { reason: "oidc_not_allowed" })).toBe(
        failures + 1,
      );
    },
  );

  it("state mismatch: a callback whose state is not the one this browser started, or with no login in progress, is refused", async () => {
    const browser = new Browser();
    const start = await browser.request(`${sc.url}/`);
    expect(start.status).toBe(303);
    const failures = await sc.metric("openclaw_sidecar_auth_failures_total", { reason: "oidc_state_mismatch" });
    // An attacker's callback (their own code and state) delivered to the victim's browser: refused before any exchange.
    const forged = await browser.request(`${sc.url}/oauth2/callback?code=attacker-code&state=attacker-state`);
    expect(forged.status).toBe(400);
    expect(forged.body).toContain("state does not match");
    const none = await new Browser().request(`${sc.url}/oauth2/callback?code=x&state=y`);
    expect(none.status).toBe(400);
    expect(none.body).toContain("no login is in progress");
    expect(await sc.metric("openclaw_sidecar_auth_failures_total", { reason: "oidc_state_mismatch" })).toBe(
      failures + 2,
    );
  });

  it("expired login: a transaction older than 10 minutes is refused, even with a matching state", async () => {
    const browser = new Browser();
    const keys = { current: Buffer.from(SECRET), previous: [] };
    // What a browser holds when its user left the provider's form open for 11 minutes (sealed with the sidecar's key).
    const stale = sealTransaction(keys, {
      state: "s".repeat(43),
      nonce: "n".repeat(43),
      verifier: "v".repeat(43),
      returnTo: "/",
      exp: Date.now() - 60_000,
    });
    browser.setCookie(sc.url, OIDC_TX_COOKIE, stale, "/oauth2/callback");
    const failures = await sc.metric("openclaw_sidecar_auth_failures_total", { reason: "oidc_login_expired" });
    const res = await browser.request(`${sc.url}/oauth2/callback?code=c&state=${"s".repeat(43)}`);
    expect(res.status).toBe(400);
    expect(res.body).toContain("the login took longer than 10 minutes");
    expect(await sc.metric("openclaw_sidecar_auth_failures_total", { reason: "oidc_login_expired" })).toBe(
      failures + 1,
    );
  });

  it("a code replayed through the callback is refused by the provider (the sidecar says so, the session is not issued twice)", async () => {
    const browser = new Browser();
    const { final } = await loginThroughProvider(browser, sc.url, "/", "alice");
    expect(final.status).toBe(200);
    const callback = final.hops.find((h) => h.url.startsWith(`${origin}/oauth2/callback`))?.url as string;
    // Same browser, its transaction cookie already cleared: no login in progress.
    expect((await browser.request(callback)).status).toBe(400);
  });

  it("a same-origin POST /logout ends the session and the provider's (RP-initiated logout), then shows the signed-out page", async () => {
    const browser = new Browser();
    await loginThroughProvider(browser, sc.url, "/", "alice");
    expect(browser.cookie(sc.url, COOKIE_NAME)).toBeDefined();
    const out = await browser.request(`${sc.url}/logout`, { method: "POST", headers: { origin } });
    expect(out.status).toBe(303);
    const end = new URL(out.headers.get("location") as string);
    expect(end.href.startsWith(`${provider.issuer}/session/end`)).toBe(true);
    expect(end.searchParams.get("post_logout_redirect_uri")).toBe(`${origin}/logout`);
    expect(browser.cookie(sc.url, COOKIE_NAME)).toBeUndefined();
    // The provider's own confirmation form, then back to us.
    const confirm = await browser.navigate(end.href);
    const back = await browser.submit(confirm, { logout: "yes" });
    expect(back.url).toBe(`${origin}/logout`);
    expect(back.status).toBe(200);
    expect(back.body).toContain("Signed out");
    // The provider's session is gone too: opening the dashboard shows its login form again.
    const again = await browser.navigate(`${sc.url}/`);
    expect(again.body).toContain('name="login"');
  });

  it("an OIDC session decides alone: a client's Authorization and the session cookie do not reach the gateway (docs/security.md table)", async () => {
    const browser = new Browser();
    await loginThroughProvider(browser, sc.url, "/", "alice");
    const cookie = `${COOKIE_NAME}=${browser.cookie(sc.url, COOKIE_NAME)}`;
    const res = await fetch(`${sc.url}/api/x`, {
      headers: { cookie: `${cookie}; theme=dark`, authorization: "Basic Ym9iOnB3" },
    });
    expect(res.status).toBe(200);
    expect(lastReceived()?.headers["x-forwarded-user"]).toBe("alice@example.com");
    expect(lastReceived()?.headers.authorization).toBeUndefined();
    expect(lastReceived()?.headers.cookie).toBe("theme=dark");
  });

  it("logout is not a cross-site action: without same-origin evidence the session stays, nobody is sent to the provider, and a Sign out? page asks", async () => {
    const browser = new Browser();
    await loginThroughProvider(browser, sc.url, "/", "alice");
    const session = browser.cookie(sc.url, COOKIE_NAME);
    expect(session).toBeDefined();
    for (const [what, init] of [
      ["a cross-site GET (a link or image elsewhere)", { headers: { "sec-fetch-site": "cross-site" } }],
      [
        "a cross-site POST (a form elsewhere)",
        { method: "POST", headers: { origin: "http://evil.example", "sec-fetch-site": "cross-site" } },
      ],
      ["a POST from an opaque origin", { method: "POST", headers: { origin: "null" } }],
      ["a GET with no evidence either way", {}],
    ] as const) {
      const page = await browser.request(`${sc.url}/logout`, init);
      expect([what, page.status, page.headers.get("location"), page.headers.get("set-cookie")]).toEqual([
        what,
        200,
        null,
        null,
      ]);
      expect(page.body).toContain("Sign out?");
      expect(page.body).toContain('<form method="post" action="/logout">');
      expect(page.headers.get("content-security-policy")).toBe("frame-ancestors 'none'");
      expect(browser.cookie(sc.url, COOKIE_NAME)).toBe(session);
    }
    // The session still works.
    const res = await fetch(`${sc.url}/api/x`, { headers: { cookie: `${COOKIE_NAME}=${session}` } });
    expect(res.status).toBe(200);
    expect(lastReceived()?.headers["x-forwarded-user"]).toBe("alice@example.com");
    // The page's own button is a same-origin POST: it signs out, and on to the provider.
    const asked = await browser.request(`${sc.url}/logout`, { headers: { "sec-fetch-site": "cross-site" } });
    const confirmed = await browser.submit(asked, {});
    expect(confirmed.hops[0]?.status).toBe(303);
    expect(confirmed.hops[0]?.location?.startsWith(`${provider.issuer}/session/end`)).toBe(true);
    expect(browser.cookie(sc.url, COOKIE_NAME)).toBeUndefined();
  });

  it("a GET /logout the user started (typed, bookmarked: Sec-Fetch-Site none) or from our own page (same-origin) signs out", async () => {
    for (const site of ["none", "same-origin"]) {
      const browser = new Browser();
      await loginThroughProvider(browser, sc.url, "/", "alice");
      const out = await browser.request(`${sc.url}/logout`, { headers: { "sec-fetch-site": site } });
      expect([site, out.status]).toEqual([site, 303]);
      expect(out.headers.get("location")?.startsWith(`${provider.issuer}/session/end`)).toBe(true);
      expect(browser.cookie(sc.url, COOKIE_NAME)).toBeUndefined();
    }
  });

  it("a session from other single sign-on rules (another scope mapping) is not accepted", async () => {
    const browser = new Browser();
    await loginThroughProvider(browser, sc.url, "/", "alice");
    const cookie = `${COOKIE_NAME}=${browser.cookie(sc.url, COOKIE_NAME)}`;
    const other = await startTestSidecar(
      sidecarFlags(await freePort(), provider.issuer, {
        "--oidc-scopes-by-group": JSON.stringify({ "openclaw-operators": ["operator.read"] }),
      }),
    );
    try {
      const res = await fetch(`${other.url}/api/x`, { headers: { cookie, accept: "application/json" } });
      expect(res.status).toBe(401);
      expect(await other.metric("openclaw_sidecar_auth_failures_total", { reason: "bad_cookie" })).toBe(1);
      // The same cookie on the sidecar that issued it (same secret, same rules) still works.
      expect((await fetch(`${sc.url}/api/x`, { headers: { cookie } })).status).toBe(200);
    } finally {
      await other.close();
    }
  });
});

describe("single sign-on's allow-lists without a restart (issue 23)", () => {
  it("an address dropped from oidcAllowedEmails ends that session and closes its WebSocket; another user's stay", async () => {
    // A sidecar of its own, whose redirect URI the provider is told about (restarted with it, and without it after).
    const port = await freePort();
    const own = `http://127.0.0.1:${port}`;
    await provider.stop();
    provider = await startProvider({
      ...providerSpec([k1]),
      redirectUris: [`${origin}/oauth2/callback`, `${own}/oauth2/callback`],
    });
    const dir = mkdtempSync(path.join(tmpdir(), "ocs-oidc-reload-"));
    const file = path.join(dir, "config.json");
    const allow = (emails: string[]) => writeFileSync(file, JSON.stringify({ oidcAllowedEmails: emails }));
    allow(["alice@example.com", "bob@example.com"]);
    const { "--oidc-allowed-domains": _domains, ...flags } = sidecarFlags(port, provider.issuer);
    const reloading = await startTestSidecar(flags, { file });
    try {
      const sessionOf = async (user: string) => {
        const browser = new Browser();
        expect((await loginThroughProvider(browser, reloading.url, "/", user)).final.status).toBe(200);
        return `${COOKIE_NAME}=${browser.cookie(reloading.url, COOKIE_NAME)}`;
      };
      const open = (cookie: string) =>
        new Promise<{ ws: WebSocket; closed: Promise<[number, string]> }>((resolve, reject) => {
          const ws = new WebSocket(`${reloading.url.replace("http", "ws")}/`, { headers: { cookie, origin: own } });
          const closed = new Promise<[number, string]>((r) => ws.once("close", (c, why) => r([c, why.toString()])));
          ws.once("open", () => resolve({ ws, closed }));
          ws.once("error", reject);
        });
      const alice = await sessionOf("alice");
      const bob = await sessionOf("bob");
      const aliceWs = await open(alice);
      const bobWs = await open(bob);
      let aliceClosed = false;
      void aliceWs.closed.then(() => (aliceClosed = true));
      allow(["alice@example.com"]);
      expect(reloading.reload()).toBe(true);
      expect(await bobWs.closed).toEqual([1008, "credentials revoked: sign in again"]);
      const api = (cookie: string) =>
        fetch(`${reloading.url}/api/x`, { headers: { cookie, accept: "application/json" } }).then((r) => r.status);
      expect(await api(bob)).toBe(401);
      expect(await api(alice)).toBe(200);
      expect(lastReceived()?.headers["x-forwarded-user"]).toBe("alice@example.com");
      expect(aliceClosed).toBe(false);
      aliceWs.ws.close();
      // Bob's next login is refused by the list in force.
      const { final } = await loginThroughProvider(new Browser(), reloading.url, "/", "bob");
      expect(final.status).toBe(403);
      expect(reloading.logs.filter((l) => l.kind === "reload").at(-1)).toMatchObject({
        oidcAllowedEmails: 1,
        oidcPolicyChanged: true,
        closedWebSockets: 1,
      });
    } finally {
      await reloading.close();
      rmSync(dir, { recursive: true, force: true });
      await provider.stop();
      provider = await startProvider(providerSpec([k1]));
    }
  }, 30_000);
});

describe("OIDC refusals that depend on the provider", () => {
  it("provider down: a login is answered 503 with the reason at once, not left hanging", async () => {
    const port = await freePort(); // nothing listens there
    const down = await startTestSidecar(sidecarFlags(await freePort(), `http://127.0.0.1:${port}`));
    try {
      const t0 = Date.now();
      const res = await new Browser().request(`${down.url}/`);
      expect(Date.now() - t0).toBeLessThan(1500);
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBe("5");
      expect(res.body).toContain(`the OpenID provider http://127.0.0.1:${port}/ is unreachable (ECONNREFUSED)`);
      expect(await down.metric("openclaw_sidecar_auth_failures_total", { reason: "oidc_provider_unreachable" })).toBe(
        1,
      );
    } finally {
      await down.close();
    }
  });

  it("provider that accepts and never answers: 503 after oidcTimeoutMs", async () => {
    const sockets = new Set<import("node:net").Socket>();
    const silent: Server = createServer((s) => {
      sockets.add(s);
      s.on("error", () => {});
    });
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const port = (silent.address() as { port: number }).port;
    const hung = await startTestSidecar(sidecarFlags(await freePort(), `http://127.0.0.1:${port}`));
    try {
      const t0 = Date.now();
      const res = await new Browser().request(`${hung.url}/`);
      const took = Date.now() - t0;
      expect(res.status).toBe(503);
      expect(res.body).toContain("is unreachable (timed out)");
      expect(took).toBeGreaterThanOrEqual(1400);
      expect(took).toBeLessThan(4000);
    } finally {
      await hung.close();
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });

  it("provider down between the redirect and the callback: the callback is a 503 with the reason", async () => {
    // Sign in at the provider, but stop following before the callback reaches the sidecar.
    const b2 = new Browser();
    const f2 = await b2.navigate(`${sc.url}/`);
    const action = /<form[^>]*action="([^"]*)"/.exec(f2.body)?.[1] as string;
    let step = await b2.request(new URL(action, f2.url).href, {
      method: "POST",
      body: new URLSearchParams({ prompt: "login", login: "alice", password: "x" }).toString(),
    });
    let at = new URL(action, f2.url).href;
    while (step.status === 303 || step.status === 302) {
      at = new URL(step.headers.get("location") as string, at).href;
      if (at.startsWith(`${origin}/oauth2/callback`)) break;
      step = await b2.request(at);
    }
    expect(at.startsWith(`${origin}/oauth2/callback`)).toBe(true);
    await provider.stop();
    try {
      const res = await b2.request(at);
      expect(res.status).toBe(503);
      expect(res.body).toMatch(/is unreachable \((ECONNREFUSED|fetch failed)\) during the code exchange/);
    } finally {
      provider = await startProvider(providerSpec([k1]));
    }
  });

  it("key rotation at the provider: a new signing key is fetched from its JWKS when first seen, with no restart", async () => {
    const k2 = await signingKey("key-2");
    await provider.stop();
    provider = await startProvider(providerSpec([k2, k1])); // k2 signs from now on; k1 still published
    await new Promise((r) => setTimeout(r, 5_200)); // the sidecar's JWKS cooldown since its last fetch
    const browser = new Browser();
    const { final } = await loginThroughProvider(browser, sc.url, "/", "alice");
    expect(final.status).toBe(200);
    expect(lastReceived()?.headers["x-forwarded-user"]).toBe("alice@example.com");
  }, 30_000);

  it("clock skew: a provider whose clock is 10 minutes ahead is refused with the reason; 20 seconds ahead is tolerated", async () => {
    await provider.stop();
    provider = await startProvider(providerSpec([k1], { clockOffsetMs: 10 * 60_000 }));
    try {
      const failures = await sc.metric("openclaw_sidecar_auth_failures_total", { reason: "oidc_clock_skew" });
      const { final } = await loginThroughProvider(new Browser(), sc.url, "/", "alice");
      expect(final.status).toBe(401);
      expect(final.body).toContain("clock");
      expect(final.body).toContain("differ by more than 60 s");
      expect(await sc.metric("openclaw_sidecar_auth_failures_total", { reason: "oidc_clock_skew" })).toBe(failures + 1);
      await provider.stop();
      provider = await startProvider(providerSpec([k1], { clockOffsetMs: 20_000 }));
      expect((await loginThroughProvider(new Browser(), sc.url, "/", "alice")).final.status).toBe(200);
    } finally {
      await provider.stop();
      provider = await startProvider(providerSpec([k1]));
    }
  }, 30_000);
});
