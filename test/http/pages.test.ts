// The pages a person sees from the sidecar itself, in a real browser: headless Debian Chromium loads each one from a
// real sidecar process (no gateway behind it, and an OpenID provider that is not there either: the pages are the
// sidecar's own) at a phone viewport and a desktop one, light and dark. For each: no horizontal scroll, one <h1>, the
// next-step sentence, text at 16px or more, tap targets at least 44px, every text colour at least 4.5:1 against the
// background it is drawn on (computed from what the browser renders), no script.
// Screenshots: test-artifacts/pages-<page>-<phone|desktop>[-dark].png.
import { mkdirSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { type Browser, type Page, type Response, chromium } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { COOKIE_NAME } from "../../src/gate/auth-gate.ts";
import { signSession } from "../../src/gate/credentials.ts";
import { OIDC_TX_COOKIE } from "../../src/gate/sso/oidc-login.ts";
import { sealTransaction } from "../../src/gate/sso/oidc-transaction.ts";
import { ARTIFACTS_DIR, CHROMIUM, CHROMIUM_FLAGS, chromiumPrereqs } from "../helpers/chromium.ts";
import { freePort } from "../helpers/net.ts";
import { type Child, startSidecarProcess } from "../helpers/processes.ts";
import { describeTier } from "../helpers/tier.ts";

const TOKEN = "pages-test-token-0123456789abcdef";
const SECRET = "pages-test-cookie-secret-0123456789abcdef";
const HOSTILE = `<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">`;

const VIEWPORTS = {
  phone: { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true },
  desktop: { viewport: { width: 1280, height: 800 } },
} as const;

/** A port nothing listens on: connecting to it is refused at once (the gateway, or the provider, is not there). */
async function closedPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise<void>((r) => probe.close(() => r()));
  return port;
}

// What the browser renders, measured in the page: every element with text of its own, its font size and the contrast
// of its colour against the first opaque background behind it; every control's size; the scroll width.
const MEASURE = `(() => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const ratio = (a, b) => { const [h, l] = [lum(a), lum(b)].sort((x, y) => y - x); return (h + 0.05) / (l + 0.05); };
  const backgroundOf = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || c[3] === 1) return c;
    }
    return rgb(getComputedStyle(document.documentElement).backgroundColor) ;
  };
  const texts = [];
  for (const el of document.body.querySelectorAll("*")) {
    const own = [...el.childNodes].filter((n) => n.nodeType === 3 && n.textContent.trim()).map((n) => n.textContent.trim()).join(" ");
    const shown = el.getBoundingClientRect().width > 0;
    if (!own || !shown) continue;
    const s = getComputedStyle(el);
    texts.push({ tag: el.tagName.toLowerCase(), text: own.slice(0, 40), px: parseFloat(s.fontSize), contrast: ratio(rgb(s.color), backgroundOf(el)) });
  }
  const field = document.querySelector("input");
  if (field) texts.push({ tag: "input", text: "(typed text)", px: parseFloat(getComputedStyle(field).fontSize), contrast: ratio(rgb(getComputedStyle(field).color), backgroundOf(field)) });
  const targets = [...document.querySelectorAll("a, button, input")].map((e) => {
    const r = e.getBoundingClientRect();
    return { what: e.outerHTML.slice(0, 60), width: r.width, height: r.height };
  });
  const label = document.querySelector("label[for]");
  return {
    lang: document.documentElement.lang,
    title: document.title,
    h1: [...document.querySelectorAll("h1")].map((h) => h.textContent.trim()),
    next: document.querySelector("p.next")?.textContent.replace(/\\s+/g, " ").trim(),
    scrollWidth: document.documentElement.scrollWidth,
    clientWidth: document.documentElement.clientWidth,
    scripts: document.scripts.length,
    images: document.images.length,
    pwned: window.__pwned ?? null,
    labelled: label ? { for: label.htmlFor, control: label.control?.id ?? null, autocomplete: label.control?.autocomplete ?? null } : null,
    texts,
    targets,
  };
})()`;

interface Measured {
  lang: string;
  title: string;
  h1: string[];
  next: string | undefined;
  scrollWidth: number;
  clientWidth: number;
  scripts: number;
  images: number;
  pwned: number | null;
  labelled: { for: string; control: string | null; autocomplete: string | null } | null;
  texts: Array<{ tag: string; text: string; px: number; contrast: number }>;
  targets: Array<{ what: string; width: number; height: number }>;
}

/** One page as a person meets it: how it is reached, its status, its heading and the next-step sentence. */
interface PageCase {
  name: string;
  status: number;
  heading: string;
  /** A function when it depends on what beforeAll set up. */
  next: RegExp | (() => RegExp);
  /** Brings `page` to the page under test; returns the response that rendered it. */
  open(page: Page): Promise<Response | null>;
  /** A field with a label must be there (the sign-in pages). */
  field?: boolean;
}

/** MEASURE, once more after the page's own reload when that reload lands in the middle (the gateway page's). */
async function measure(page: Page): Promise<Measured> {
  try {
    return (await page.evaluate(MEASURE)) as Measured;
  } catch (err) {
    if (!/context was destroyed|navigat/i.test(String(err))) throw err;
    await page.waitForLoadState("load");
    return (await page.evaluate(MEASURE)) as Measured;
  }
}

let browser: Browser;
let tokenSidecar: Child & { port: number };
let ssoSidecar: Child & { port: number };
/** allowedClients leaves loopback out: every visit is refused before sign-in. */
let refusingSidecar: Child & { port: number };
let gatewayOrigin: string;
const keys = { current: Buffer.from(SECRET), previous: [] };

describeTier("Chromium: the sidecar's own pages", chromiumPrereqs(), () => {
  beforeAll(async () => {
    gatewayOrigin = `http://127.0.0.1:${await closedPort()}`;
    const ssoPort = await freePort();
    // One at a time, each kept as it starts: afterAll stops whatever did start.
    tokenSidecar = await startSidecarProcess({
      OPENCLAW_SIDECAR_UPSTREAM: gatewayOrigin,
      OPENCLAW_SIDECAR_MODE: "identity",
      OPENCLAW_SIDECAR_TOKEN: TOKEN,
      OPENCLAW_SIDECAR_USER: "alice@example.com",
      OPENCLAW_SIDECAR_COOKIE_SECRET: SECRET,
      OPENCLAW_SIDECAR_CONTROL_UI_TOKEN_LOGIN: "false",
      OPENCLAW_SIDECAR_AUTH_MAX_FAILURES: "6",
      OPENCLAW_SIDECAR_AUTH_LOCKOUT_MS: "120000",
    });
    ssoSidecar = await startSidecarProcess({
      OPENCLAW_SIDECAR_LISTEN: `127.0.0.1:${ssoPort}`,
      OPENCLAW_SIDECAR_UPSTREAM: gatewayOrigin,
      OPENCLAW_SIDECAR_MODE: "identity",
      OPENCLAW_SIDECAR_PUBLIC_ORIGIN: `http://127.0.0.1:${ssoPort}`,
      OPENCLAW_SIDECAR_COOKIE_SECRET: SECRET,
      OPENCLAW_SIDECAR_OIDC_ISSUER: `http://127.0.0.1:${await closedPort()}`,
      OPENCLAW_SIDECAR_OIDC_CLIENT_ID: "sidecar",
      OPENCLAW_SIDECAR_OIDC_CLIENT_SECRET: "sidecar-client-secret-0123456789",
      OPENCLAW_SIDECAR_OIDC_ALLOWED_DOMAINS: "example.com",
      OPENCLAW_SIDECAR_OIDC_TIMEOUT_MS: "1000",
    });
    refusingSidecar = await startSidecarProcess({
      OPENCLAW_SIDECAR_UPSTREAM: gatewayOrigin,
      OPENCLAW_SIDECAR_MODE: "identity",
      OPENCLAW_SIDECAR_TOKEN: TOKEN,
      OPENCLAW_SIDECAR_COOKIE_SECRET: SECRET,
      OPENCLAW_SIDECAR_ALLOWED_CLIENTS: "10.0.0.0/8",
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      chromiumSandbox: false,
      args: CHROMIUM_FLAGS,
    });
    mkdirSync(ARTIFACTS_DIR, { recursive: true });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await tokenSidecar?.kill();
    await ssoSidecar?.kill();
    await refusingSidecar?.kill();
  });

  const token = () => `http://127.0.0.1:${tokenSidecar.port}`;
  const sso = () => `http://127.0.0.1:${ssoSidecar.port}`;
  /** Types a token into the sign-in form and presses its button, as a person does. */
  const signIn = async (page: Page, value: string) => {
    await page.goto(`${token()}/`);
    await page.getByLabel("Access token").fill(value);
    const [response] = await Promise.all([page.waitForNavigation(), page.getByRole("button").click()]);
    return response;
  };

  const cases: PageCase[] = [
    {
      name: "sign-in",
      status: 401,
      heading: "Sign in",
      next: /^Paste the access token you were given for this dashboard, then press Open the dashboard\.$/,
      field: true,
      open: (page) => page.goto(`${token()}/chat`),
    },
    {
      name: "sign-in-wrong-token",
      status: 401,
      heading: "Sign in",
      next: /^Paste the access token/,
      field: true,
      // A wrong token under the limit (authMaxFailures 6; two views, two wrong tokens): the form again, saying why.
      open: async (page) => {
        await page.context().clearCookies();
        return signIn(page, `wrong-${Date.now()}-0123456789abcdef`);
      },
    },
    {
      name: "sign-in-rate-limited",
      status: 429,
      heading: "Too many sign-in attempts",
      next: /^Wait 120 seconds, then open the dashboard again with the right token\.$/,
      open: async (page) => {
        let response: Response | null = null;
        for (let i = 0; i < 8 && response?.status() !== 429; i++)
          response = await signIn(page, `wrong-${i}-0123456789ab`);
        return response;
      },
    },
    {
      name: "gateway-down",
      status: 502,
      heading: "The gateway is not answering",
      next: () =>
        new RegExp(
          `^The OpenClaw gateway at ${gatewayOrigin.replace(/\./g, "\\.")} is not answering \\(it may still be starting\\): this page retries in 5 seconds, and if it stays down the administrator can run openclaw-sidecar doctor\\.$`,
        ),
      // Signed in with the right token (it passes during a lockout too): the dashboard is then the gateway's, absent.
      open: async (page) => {
        const response = await signIn(page, TOKEN);
        // The page reloads itself: wait for that reload, then measure at once (the next is 5 s away).
        const again = await page.waitForNavigation({ timeout: 10_000 });
        expect(response?.status()).toBe(502);
        return again;
      },
    },
    {
      name: "sso-refused",
      status: 403,
      heading: "Sign-in refused",
      next: /^Ask the administrator to give your account access to the OpenClaw dashboard, or sign in with another account\.$/,
      // The provider said access_denied: the callback of a login this browser started, its description hostile.
      open: async (page) => {
        const state = "s".repeat(43);
        const tx = sealTransaction(keys, {
          state,
          nonce: "n".repeat(43),
          verifier: "v".repeat(43),
          returnTo: "/",
          exp: Date.now() + 600_000,
        });
        await page.context().addCookies([{ name: OIDC_TX_COOKIE, value: tx, url: `${sso()}/oauth2/callback` }]);
        const query = new URLSearchParams({ state, error: "access_denied", error_description: HOSTILE });
        return page.goto(`${sso()}/oauth2/callback?${query}`);
      },
    },
    {
      name: "sso-provider-down",
      status: 503,
      heading: "Sign-in is not available right now",
      next: /^Reload this page in a few seconds; if this keeps happening, show the administrator the details below\.$/,
      open: (page) => page.goto(`${sso()}/chat`),
    },
    {
      name: "sign-out-confirm",
      status: 200,
      heading: "Sign out?",
      next: /^Press Sign out to end your session on the OpenClaw dashboard, or go back to the dashboard to stay signed in\.$/,
      // A session, and a link to /logout followed from another site: the sidecar asks instead of signing out.
      open: async (page) => {
        const session = signSession(
          keys,
          { user: "alice@example.com", sub: "alice", credential: "oidc:test" },
          Date.now(),
          3_600_000,
        );
        await page.context().addCookies([{ name: COOKIE_NAME, value: session, url: sso() }]);
        await page.setContent(`<a href="${sso()}/logout">sign out</a>`);
        const [response] = await Promise.all([page.waitForNavigation(), page.click("a")]);
        return response;
      },
    },
    {
      name: "client-not-allowed",
      status: 403,
      heading: "Not open to this address",
      next: /^Connect from a network the administrator allows \(the office, the VPN\), or ask them to allow the address shown below\.$/,
      open: (page) => page.goto(`http://127.0.0.1:${refusingSidecar.port}/chat`),
    },
    {
      name: "signed-out",
      status: 200,
      heading: "Signed out",
      next: /^You are signed out of the OpenClaw dashboard: press Sign in again to use it once more\.$/,
      // Typed in the address bar (Sec-Fetch-Site: none), without a session.
      open: (page) => page.goto(`${sso()}/logout`),
    },
  ];

  for (const c of cases) {
    it(`${c.name}: ${c.status} "${c.heading}", readable on a phone and a desktop, light and dark (pages-${c.name}-*.png)`, async () => {
      for (const [size, options] of Object.entries(VIEWPORTS)) {
        const context = await browser.newContext(options);
        try {
          const page = await context.newPage();
          // The page's own Content-Security-Policy (page.ts) must allow its style sheet: Chromium reports a blocked
          // resource on the console.
          const violations: string[] = [];
          page.on("console", (msg) => {
            if (msg.text().includes("Content Security Policy")) violations.push(msg.text());
          });
          const response = await c.open(page);
          expect(response?.status(), `${c.name} ${size}`).toBe(c.status);
          expect(response?.headers()["content-type"], `${c.name} ${size}`).toBe("text/html; charset=utf-8");
          // The same page in both colour schemes (switching needs no reload, so the page is opened once per size).
          for (const scheme of ["light", "dark"] as const) {
            const where = `${c.name} ${size} ${scheme}`;
            await page.emulateMedia({ colorScheme: scheme });
            const m = await measure(page);
            const file = `pages-${c.name}-${size}${scheme === "dark" ? "-dark" : ""}.png`;
            await page.screenshot({ path: path.join(ARTIFACTS_DIR, file), fullPage: true });
            expect(m.lang, where).toBe("en");
            expect(m.title, where).toBe(`${c.heading} · OpenClaw dashboard`);
            expect(m.h1, where).toEqual([c.heading]);
            expect(m.next, where).toMatch(typeof c.next === "function" ? c.next() : c.next);
            expect(m.scrollWidth, `${where}: no horizontal scroll`).toBeLessThanOrEqual(m.clientWidth);
            expect([m.scripts, m.images, m.pwned], `${where}: nothing runs, nothing is fetched`).toEqual([0, 0, null]);
            expect(violations, `${where}: the page's CSP blocks nothing of its own`).toEqual([]);
            expect(m.texts.length, where).toBeGreaterThanOrEqual(4);
            for (const t of m.texts) {
              expect(t.px, `${where}: font size of ${t.tag} "${t.text}"`).toBeGreaterThanOrEqual(16);
              expect(t.contrast, `${where}: contrast of ${t.tag} "${t.text}"`).toBeGreaterThanOrEqual(4.5);
            }
            for (const t of m.targets) {
              expect(t.height, `${where}: tap target height of ${t.what}`).toBeGreaterThanOrEqual(44);
              expect(t.width, `${where}: tap target width of ${t.what}`).toBeGreaterThanOrEqual(44);
            }
            if (c.field) {
              expect(m.labelled, where).toEqual({ for: "token", control: "token", autocomplete: "current-password" });
              expect(await page.getByLabel("Access token").getAttribute("type")).toBe("password");
            } else {
              expect(m.labelled, where).toBeNull();
            }
            if (c.name === "sign-in-wrong-token")
              expect(await page.getByRole("alert").textContent()).toBe("That access token is not valid.");
            // The provider's hostile description is shown as text, never run as markup.
            if (c.name === "sso-refused") expect(await page.locator(".details").textContent()).toContain(HOSTILE);
          }
        } finally {
          await context.close();
        }
      }
    }, 90_000);
  }
});
