// publicBasePath (issue 23, item 1): the sub-path boundary, on loopback. Nothing whose path — as the gateway resolves
// it — lies outside the prefix reaches the upstream, in any mode, over HTTP or as an upgrade (the recording upstream,
// llhttp, is the witness); the sidecar's own routes (?token= logins, session cookies, the OIDC callback against a real
// provider, /logout, the pages' links) live under the prefix; the value is validated (exit 78).
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { insideBasePath } from "../../src/gate/base-path.ts";
import { ConfigError, dashboardUrl, loadConfig, oidcRedirectUri } from "../../src/options/config.ts";
import { freePort, rawExchange, upgradeRequest } from "../helpers/net.ts";
import {
  Browser,
  CLIENT_ID,
  CLIENT_SECRET,
  type ProviderProcess,
  loginThroughProvider,
  signingKey,
  startProvider,
} from "../helpers/oidc.ts";
import { type RecordingUpstream, startRecordingUpstream } from "../helpers/recording-upstream.ts";
import { startTestSidecar, type TestSidecar } from "../helpers/sidecar.ts";

const TOKEN = "alice-sidecar-token-0123456789abcdef";
const SECRET = "b".repeat(40);
const BASE = "/claw";
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
  const sc = await startTestSidecar({ "--upstream": up.url, "--public-base-path": BASE, ...flags });
  started.push(sc);
  return sc;
}
const identity = {
  "--mode": "identity",
  "--token": TOKEN,
  "--user": "alice@example.com",
  "--cookie-secret": SECRET,
};
const portOf = (sc: TestSidecar) => Number(new URL(sc.url).port);
const get = (sc: TestSidecar, target: string, extra = "") =>
  rawExchange(portOf(sc), `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n${extra}\r\n`);
const statusOf = (response: string) => Number(response.slice(9, 12));
const header = (response: string, name: string) =>
  new RegExp(`^${name}: (.*)$`, "im").exec(response.split("\r\n\r\n")[0] as string)?.[1]?.trim();

/** Outside the prefix as the gateway resolves the path (new URL(…, "http://localhost").pathname) — or ambiguous. */
const OUTSIDE = [
  "/api/x",
  "/healthz",
  "/v1/models",
  "/tools/invoke",
  "/j/abcdefghijklmnopqrstuv",
  "/__openclaw__/worker",
  "/index.html",
  "/assets/app.js",
  "/CLAW/",
  "/Claw/x",
  "/clawx",
  "/clawx/",
  "/claw-other/",
  "/claw/../api",
  "/claw/%2e%2e/api",
  "/claw/%2E%2e/x",
  "/claw/.%2e/x",
  "/claw/..%2fapi",
  "/claw%2fx",
  "/claw%2Fassets/x",
  "/claw/..\\api",
  "/claw\\..\\api",
  "/%63law/../x",
  "/claw/x/../../api",
  "/./api",
];
/** Inside: forwarded with the target unchanged. */
const INSIDE = [
  "/claw/",
  "/claw/chat",
  "/claw/assets/app.js",
  "/claw/x/../y",
  "/%63law/assets/a.js",
  "/claw/./y",
  "/claw//x",
];

describe("the value (publicBasePath)", () => {
  const load = (v: string) => loadConfig({ env: {}, flags: { "--public-base-path": v } }).publicBasePath;
  it("accepts a prefix, drops one trailing slash, and reads / as the root", () => {
    expect(load("/claw")).toBe("/claw");
    expect(load("/claw/")).toBe("/claw");
    expect(load("/team-a/open.claw_1~")).toBe("/team-a/open.claw_1~");
    expect(load("/")).toBe("");
    expect(loadConfig({ env: {}, flags: {} }).publicBasePath).toBe("");
    expect(loadConfig({ env: { OPENCLAW_SIDECAR_PUBLIC_BASE_PATH: "/x/" }, flags: {} }).publicBasePath).toBe("/x");
  });
  it.each([
    "claw",
    "/claw//",
    "//claw",
    "/a//b",
    "/./claw",
    "/claw/..",
    "/claw/../x",
    "/.",
    "/%63law",
    "/claw?x=1",
    "/claw#x",
    "/cl aw",
    "/cl\\aw",
    "/clåw",
    "/claw;x",
  ])("refuses %j with a sentence naming the option and the rule (exit 78)", (v) => {
    let err: unknown;
    try {
      load(v);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems.join("\n")).toMatch(
      /^publicBasePath: .* must be a path prefix such as \/claw/,
    );
  });
  it("gives the dashboard's public URL and the OIDC redirect URI under the prefix", () => {
    const config = loadConfig({
      env: {},
      flags: { "--public-origin": "https://h.example", "--public-base-path": "/claw/" },
    });
    expect(dashboardUrl(config)).toBe("https://h.example/claw/");
    expect(dashboardUrl(loadConfig({ env: {}, flags: { "--public-origin": "https://h.example" } }))).toBe(
      "https://h.example/",
    );
    expect(dashboardUrl(loadConfig({ env: {}, flags: {} }))).toBeUndefined();
    expect(oidcRedirectUri({ ...config, oidc: { redirectPath: "/oauth2/callback" } as never })).toBe(
      "https://h.example/claw/oauth2/callback",
    );
  });
  it("insideBasePath matches the resolved path, never the raw target", () => {
    for (const t of OUTSIDE) expect(insideBasePath(t, BASE), t).toBe(false);
    for (const t of INSIDE) expect(insideBasePath(t, BASE), t).toBe(true);
    expect(insideBasePath("/anything/../at/all", "")).toBe(true);
  });
});

describe.each([
  ["attribution", { "--mode": "attribution" }],
  ["identity", identity],
  ["local", { "--mode": "local", "--token": TOKEN, "--cookie-secret": SECRET }],
])("the boundary in %s mode", (_mode, flags) => {
  it("nothing outside the prefix reaches the gateway, whatever credential comes along: HTTP and upgrades", async () => {
    const sc = await sidecar(flags);
    const auth = `Authorization: Bearer ${TOKEN}\r\n`;
    for (const target of OUTSIDE) {
      const r = await get(sc, target, auth);
      expect(statusOf(r), target).toBe(404);
      expect(r).toContain("outside_base_path");
      const u = await rawExchange(portOf(sc), upgradeRequest(target, auth), 1000);
      expect(statusOf(u), `upgrade ${target}`).toBe(404);
      const p = await rawExchange(
        portOf(sc),
        `POST ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nConnection: close\r\n${auth}\r\n{}`,
      );
      expect(statusOf(p), `POST ${target}`).toBe(404);
    }
    expect(up.parsed).toEqual([]);
    expect(await sc.metric("openclaw_sidecar_websocket_upgrades_total", { result: "bad_request" })).toBe(
      OUTSIDE.length,
    );
  });

  it("GET / and the bare prefix redirect to the dashboard with their query; nothing is forwarded", async () => {
    const sc = await sidecar(flags);
    for (const [target, location] of [
      ["/", "/claw/"],
      ["/?x=1", "/claw/?x=1"],
      ["/claw", "/claw/"],
      ["/claw?session=main", "/claw/?session=main"],
      ["//evil.example/", "/claw/"],
      ["/claw/..", "/claw/"],
    ]) {
      const r = await get(sc, target as string);
      expect(statusOf(r), target).toBe(302);
      expect(header(r, "location"), target).toBe(location);
    }
    const post = await rawExchange(
      portOf(sc),
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    expect(statusOf(post)).toBe(404);
    expect(up.parsed).toEqual([]);
  });

  it("a browser outside the prefix gets a page linking to the dashboard", async () => {
    const sc = await sidecar(flags);
    const r = await get(sc, "/healthz", "Accept: text/html\r\n");
    expect(statusOf(r)).toBe(404);
    expect(header(r, "content-type")).toContain("text/html");
    expect(r).toContain('href="/claw/"');
    expect(up.parsed).toEqual([]);
  });
});

describe("inside the prefix", () => {
  it("attribution: forwarded with the target unchanged, HTTP and upgrades (bare prefix and below)", async () => {
    const sc = await sidecar({ "--mode": "attribution" });
    for (const target of INSIDE) expect(statusOf(await get(sc, target)), target).toBe(200);
    expect(up.parsed.map((p) => p.url)).toEqual(INSIDE);
    for (const target of ["/claw", "/claw/", "/claw/ws"]) {
      const u = await rawExchange(portOf(sc), upgradeRequest(target), 500);
      expect(statusOf(u), target).toBe(101);
    }
    expect(up.parsed.filter((p) => p.upgrade).map((p) => p.url)).toEqual(["/claw", "/claw/", "/claw/ws"]);
  });

  it("identity: ?token= under the prefix sets a session cookie for the prefix (Path=/claw) that opens HTTP and the WebSocket", async () => {
    const sc = await sidecar({ ...identity, "--control-ui-token-login": "false" });
    const login = await get(sc, `/claw/?token=${TOKEN}`);
    expect(statusOf(login)).toBe(303);
    expect(header(login, "location")).toBe("/claw/");
    const cookie = header(login, "set-cookie") as string;
    expect(cookie).toMatch(/; Path=\/claw; HttpOnly/);
    // /?token=… is sent under the prefix first: no cookie is set for the root.
    const atRoot = await get(sc, `/?token=${TOKEN}`);
    expect(statusOf(atRoot)).toBe(302);
    expect(header(atRoot, "location")).toBe(`/claw/?token=${TOKEN}`);
    expect(header(atRoot, "set-cookie")).toBeUndefined();
    expect(up.parsed).toEqual([]);
    const pair = cookie.split(";")[0] as string;
    expect(statusOf(await get(sc, "/claw/chat", `Cookie: ${pair}\r\n`))).toBe(200);
    for (const target of ["/claw", "/claw/"])
      expect(statusOf(await rawExchange(portOf(sc), upgradeRequest(target, `Cookie: ${pair}\r\n`), 500))).toBe(101);
    // The same cookie outside the prefix opens nothing.
    expect(statusOf(await rawExchange(portOf(sc), upgradeRequest("/", `Cookie: ${pair}\r\n`), 500))).toBe(404);
    expect(up.parsed.map((p) => [p.url, p.headers["x-forwarded-user"]])).toEqual([
      ["/claw/chat", "alice@example.com"],
      ["/claw", "alice@example.com"],
      ["/claw/", "alice@example.com"],
    ]);
    // Without a session, under the prefix: the sign-in page, nothing forwarded.
    const anon = await get(sc, "/claw/chat", "Accept: text/html\r\n");
    expect(statusOf(anon)).toBe(401);
    expect(up.parsed).toHaveLength(3);
  });

  it("identity: the token-field login's shell, join links and publicPaths follow the prefix; at the root they are 404", async () => {
    const sc = await sidecar({
      ...identity,
      "--public-paths": "/status,/pub/",
      "--self-authenticating-routes": "true",
    });
    const open = ["/claw/", "/claw/index.html", "/claw/assets/app.js", "/claw/sw.js", "/claw/manifest.webmanifest"];
    const alsoOpen = ["/claw/status", "/claw/pub/x", "/claw/j/abcdefghijklmnopqrstuv"];
    for (const target of [...open, ...alsoOpen]) expect(statusOf(await get(sc, target)), target).toBe(200);
    expect(up.parsed.map((p) => [p.url, p.headers["x-forwarded-user"]])).toEqual(
      [...open, ...alsoOpen].map((t) => [t, undefined]),
    );
    up.parsed.length = 0;
    for (const target of ["/sw.js", "/manifest.webmanifest", "/status", "/pub/x", "/j/abcdefghijklmnopqrstuv"])
      expect(statusOf(await get(sc, target)), target).toBe(404);
    // Not public under the prefix: the UI's config, worker routes (the gateway keeps them at the root).
    for (const target of ["/claw/control-ui-config.json", "/claw/__openclaw__/worker", "/claw/statusx"])
      expect(statusOf(await get(sc, target)), target).toBe(401);
    expect(up.parsed).toEqual([]);
  });
});

describe("single sign-on under the prefix, against a real provider", () => {
  let provider: ProviderProcess | undefined;
  afterEach(async () => {
    await provider?.stop();
  });
  it("the callback, the redirect URI, /logout and the pages all live under the prefix; the session cookie is Path=/claw", async () => {
    const port = await freePort();
    const origin = `http://127.0.0.1:${port}`;
    provider = await startProvider({
      port: await freePort(),
      redirectUris: [`${origin}/claw/oauth2/callback`],
      postLogoutRedirectUris: [`${origin}/claw/logout`],
      keys: [await signingKey("k")],
    });
    const sc = await sidecar({
      "--listen": `127.0.0.1:${port}`,
      "--mode": "identity",
      "--public-origin": origin,
      "--cookie-secret": SECRET,
      "--oidc-issuer": provider.issuer,
      "--oidc-client-id": CLIENT_ID,
      "--oidc-client-secret": CLIENT_SECRET,
      "--oidc-allowed-domains": "example.com",
    });
    const browser = new Browser();
    const { form, final } = await loginThroughProvider(browser, sc.url, "/claw/chat?session=main", "alice");
    const auth = new URL(form.hops[0]?.location as string);
    expect(auth.searchParams.get("redirect_uri")).toBe(`${origin}/claw/oauth2/callback`);
    const callbackHop = final.hops.find((h) => h.url.startsWith(`${origin}/claw/oauth2/callback`));
    expect(callbackHop?.status).toBe(303);
    expect(callbackHop?.location).toBe("/claw/chat?session=main");
    expect(final.status).toBe(200);
    expect(up.parsed.map((p) => [p.url, p.headers["x-forwarded-user"]])).toEqual([
      ["/claw/chat?session=main", "alice@example.com"],
    ]);
    // The root callback and /logout are outside: never answered as ours, never forwarded.
    expect((await browser.request(`${origin}/oauth2/callback?code=x&state=y`)).status).toBe(404);
    expect((await browser.request(`${origin}/logout`)).status).toBe(404);
    // A cross-site /logout under the prefix asks first; its form posts to /claw/logout, its link goes to /claw/.
    const ask = await browser.request(`${origin}/claw/logout`, { headers: { "sec-fetch-site": "cross-site" } });
    expect(ask.body).toContain('action="/claw/logout"');
    expect(ask.body).toContain('href="/claw/"');
    // Signing out sends the browser to the provider, which is to send it back to /claw/logout.
    const out = await browser.submit(ask, {});
    expect(out.hops[0]?.url).toBe(`${origin}/claw/logout`);
    const end = new URL(out.hops[0]?.location as string);
    expect(end.searchParams.get("post_logout_redirect_uri")).toBe(`${origin}/claw/logout`);
    expect(out.hops[0]?.status).toBe(303);
    const back = await browser.request(`${origin}/claw/logout`);
    expect(back.body).toContain('href="/claw/"');
    expect(browser.cookie(sc.url, "openclaw_sidecar_session")).toBeUndefined();
    // A callback that fails (no login in progress): its page's "Sign in again" leads to the dashboard under the prefix.
    const failed = await browser.request(`${origin}/claw/oauth2/callback?code=x&state=y`);
    expect(failed.status).toBe(400);
    expect(failed.body).toContain('<a class="button" href="/claw/">Sign in again</a>');
    expect(up.parsed).toHaveLength(1);
  }, 30_000);
});
