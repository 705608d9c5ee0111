// Tests' side of single sign-on: a real OpenID provider process (oidc-provider-process.ts), signing keys, and a small
// cookie-keeping HTTP client that walks the login the way a browser does — redirects followed one by one, the
// provider's own login form parsed and submitted — so every hop is visible to the test.
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { type JWK, exportJWK, generateKeyPair } from "jose";
import type { ProviderSpec, TestUser } from "./oidc-provider-process.ts";

const REPO = fileURLToPath(new URL("../..", import.meta.url));

export type { TestUser };

export const CLIENT_ID = "openclaw-sidecar";
export const CLIENT_SECRET = "provider-client-secret-0123456789abcdef";

/** The test users and groups: an operator, a read-only user, one outside every allowed list, one unverified. */
export const USERS: TestUser[] = [
  { id: "alice", email: "alice@example.com", name: "Alice", groups: ["openclaw-operators", "staff"] },
  { id: "bob", email: "bob@example.com", name: "Bob", groups: ["openclaw-readers"] },
  { id: "carol", email: "carol@example.com", name: "Carol", groups: ["staff"] },
  { id: "mallory", email: "mallory@evil.example", name: "Mallory", groups: ["openclaw-operators"] },
  { id: "eve", email: "eve@example.com", emailVerified: false, name: "Eve", groups: ["openclaw-operators"] },
];

export async function signingKey(kid: string, alg: "RS256" | "ES256" = "RS256"): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  return { ...(await exportJWK(privateKey)), kid, alg, use: "sig" };
}

export interface ProviderProcess {
  issuer: string;
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts the provider. `netns` runs it inside a network namespace (ip netns exec), for the real-gateway tier.
 * Resolves once it prints its issuer.
 */
export async function startProvider(
  spec: Partial<ProviderSpec> & Pick<ProviderSpec, "redirectUris" | "postLogoutRedirectUris" | "keys">,
  netns?: string,
): Promise<ProviderProcess> {
  const full: ProviderSpec = {
    host: "127.0.0.1",
    port: 0,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    users: USERS,
    ...spec,
  };
  const args = [
    ...process.execArgv.filter((a) => !a.startsWith("--inspect")),
    "test/helpers/oidc-provider-process.ts",
    JSON.stringify(full),
  ];
  const child =
    netns === undefined
      ? spawn(process.execPath, args, { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] })
      : spawn("ip", ["netns", "exec", netns, process.execPath, ...args], {
          cwd: REPO,
          stdio: ["ignore", "pipe", "pipe"],
        });
  let out = "";
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const issuer = await new Promise<string>((resolve, reject) => {
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const line = out.split("\n").find((l) => l.startsWith('{"issuer"'));
      if (line !== undefined) resolve((JSON.parse(line) as { issuer: string }).issuer);
    });
    child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
    child.once("exit", (code) => reject(new Error(`provider exited ${code} before listening:\n${out}`)));
  });
  return {
    issuer,
    child,
    output: () => out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

export interface Hop {
  url: string;
  status: number;
  location?: string;
}
export interface Page {
  url: string;
  status: number;
  headers: Headers;
  body: string;
  hops: Hop[];
}

/** A cookie-keeping client: cookies per host (path-scoped), redirects followed by hand and recorded. */
export class Browser {
  private readonly jar = new Map<string, Map<string, { value: string; path: string }>>();

  cookie(url: string, name: string): string | undefined {
    return this.jar.get(new URL(url).host)?.get(name)?.value;
  }

  setCookie(url: string, name: string, value: string, path = "/"): void {
    const host = new URL(url).host;
    if (!this.jar.has(host)) this.jar.set(host, new Map());
    this.jar.get(host)?.set(name, { value, path });
  }

  deleteCookie(url: string, name: string): void {
    this.jar.get(new URL(url).host)?.delete(name);
  }

  private cookieHeader(url: URL): string | undefined {
    const cookies = [...(this.jar.get(url.host) ?? new Map<string, { value: string; path: string }>())]
      .filter(
        ([, c]) =>
          url.pathname === c.path ||
          url.pathname.startsWith(c.path.endsWith("/") ? c.path : `${c.path}/`) ||
          c.path === "/",
      )
      .map(([n, c]) => `${n}=${c.value}`);
    return cookies.length > 0 ? cookies.join("; ") : undefined;
  }

  private store(url: URL, headers: Headers): void {
    for (const line of headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(";");
      const eq = (pair as string).indexOf("=");
      const name = (pair as string).slice(0, eq).trim();
      const value = (pair as string).slice(eq + 1).trim();
      const attr = (n: string) =>
        attrs
          .map((a) => a.trim())
          .find((a) => a.toLowerCase().startsWith(`${n}=`))
          ?.split("=")[1];
      const maxAge = attr("max-age");
      const expires = attr("expires");
      if (!this.jar.has(url.host)) this.jar.set(url.host, new Map());
      const jar = this.jar.get(url.host) as Map<string, { value: string; path: string }>;
      if (maxAge === "0" || (expires !== undefined && Date.parse(expires) < Date.now()) || value === "")
        jar.delete(name);
      else jar.set(name, { value, path: attr("path") ?? "/" });
    }
  }

  /** One request, no redirect following. */
  async request(
    url: string,
    init: { method?: string; body?: string; headers?: Record<string, string> } = {},
  ): Promise<Page> {
    const u = new URL(url);
    const headers: Record<string, string> = { accept: "text/html", ...init.headers };
    const cookie = this.cookieHeader(u);
    if (cookie !== undefined) headers.cookie = cookie;
    if (init.body !== undefined) headers["content-type"] ??= "application/x-www-form-urlencoded";
    const res = await fetch(u, {
      method: init.method ?? "GET",
      body: init.body,
      headers,
      redirect: "manual",
      signal: AbortSignal.timeout(15_000),
    });
    this.store(u, res.headers);
    return { url, status: res.status, headers: res.headers, body: await res.text(), hops: [] };
  }

  /** Follows redirects (303/302/301/307) until a page that is not one; every hop is recorded. */
  async navigate(
    url: string,
    init: { method?: string; body?: string; headers?: Record<string, string> } = {},
    maxHops = 15,
  ): Promise<Page> {
    const hops: Hop[] = [];
    let current = url;
    let page = await this.request(current, init);
    while ([301, 302, 303, 307, 308].includes(page.status)) {
      const location = page.headers.get("location") as string;
      hops.push({ url: current, status: page.status, location });
      if (hops.length > maxHops) throw new Error(`redirect loop: ${JSON.stringify(hops)}`);
      current = new URL(location, current).href;
      // A redirected navigation is a GET that no page's form sent: no Origin, as in a browser.
      const { origin: _origin, ...headers } = init.headers ?? {};
      page = await this.request(current, { headers });
    }
    hops.push({ url: current, status: page.status });
    return { ...page, url: current, hops };
  }

  /**
   * Submits the first form of `page` with these fields added to its hidden inputs, with the page's Origin (a browser's
   * POST).
   */
  async submit(page: Page, fields: Record<string, string>): Promise<Page> {
    const tag = /<form([^>]*)>([\s\S]*?)<\/form>/i.exec(page.body);
    const action = tag === null ? undefined : /action="([^"]*)"/.exec(tag[1] as string)?.[1];
    if (tag === null || action === undefined || !/method="post"/i.test(tag[1] as string))
      throw new Error(`no form on ${page.url}:\n${page.body.slice(0, 2000)}`);
    const form = [tag[0], action, tag[2]];
    const body = new URLSearchParams();
    for (const input of (form[2] as string).matchAll(/<input[^>]*type="hidden"[^>]*>/gi)) {
      const name = /name="([^"]*)"/.exec(input[0])?.[1];
      const value = /value="([^"]*)"/.exec(input[0])?.[1] ?? "";
      if (name !== undefined) body.set(name, value);
    }
    for (const [k, v] of Object.entries(fields)) body.set(k, v);
    return this.navigate(new URL((form[1] as string).replace(/&amp;/g, "&"), page.url).href, {
      method: "POST",
      body: body.toString(),
      headers: { origin: new URL(page.url).origin },
    });
  }
}

/**
 * A whole login as a browser does it: open `path` on the sidecar, get sent to the provider, fill in its login form
 * as `login`, and follow the redirects back. Returns the final page (the dashboard, or the sidecar's refusal).
 */
export async function loginThroughProvider(
  browser: Browser,
  sidecarUrl: string,
  path: string,
  login: string,
): Promise<{ form: Page; final: Page }> {
  const form = await browser.navigate(`${sidecarUrl}${path}`);
  if (!form.body.includes('name="login"'))
    throw new Error(
      `expected the provider's login form at ${form.url}, got ${form.status}:\n${form.body.slice(0, 1500)}`,
    );
  const final = await browser.submit(form, { login, password: "any password: the development form does not check it" });
  return { form, final };
}
