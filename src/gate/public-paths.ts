// Which requests identity and local modes let through without a credential (`publicPaths`): matched on the path the
// gateway itself resolves, never on the raw request target. The gateway routes on `new URL(req.url,
// "http://localhost").pathname` (dist/server-start-*.mjs), which removes dot segments — `..`, `%2e%2e`, `.%2E` — and
// reads `\` as `/`; matching the raw target let `/static/../api/x` through as "public" while the gateway served
// `/api/x` (issue 11, finding 3). Here the same URL parser resolves the path, unreserved characters are decoded
// (RFC 3986 §6.2.2.2: `%61` is `a`), and anything that could still mean a different path to some other decoder — an
// encoded slash or backslash, an encoded NUL, a `..;` segment — is never public. Never public also means never
// refused: such a request simply needs a credential, like every other one.

/**
 * The Control UI's shell as the gateway serves it to anyone (dist/control-ui: the document, its fingerprinted assets,
 * icons, fonts, themes, the web manifest and the service worker). Public in identity mode only with the token-field
 * login, where the page must load before it has a token. Its config (`/control-ui-config.json`) is not among them.
 */
export const CONTROL_UI_SHELL_PATHS: readonly string[] = [
  "/",
  "/index.html",
  "/assets/",
  "/fonts/",
  "/themes/",
  "/provider-icons/",
  "/cloud-provider-icons/",
  "/file-icons/",
  "/app-art/",
  "/community-art/",
  "/favicon.ico",
  "/favicon.svg",
  "/favicon-32.png",
  "/apple-touch-icon.png",
  "/manifest.webmanifest",
  "/sw.js",
  "/social-card.png",
  "/asset-manifest.json",
];

/**
 * Routes that enforce short-lived credentials of their own, which the gateway's Cloudflare Access guide tells
 * identity-aware proxies to exempt (selfAuthenticatingRoutes): join links (`/j/<code>`: single use, TTL, rate-limited,
 * opaque 404), the worker WebSocket and the worker bootstrap artifacts (their own expiring Authorization).
 */
export const JOIN_LINK_PATHS: readonly string[] = ["/j", "/j/"];
export const SELF_AUTHENTICATING_PATHS: readonly string[] = [
  ...JOIN_LINK_PATHS,
  "/__openclaw__/worker",
  "/__openclaw__/worker-bootstrap/artifacts/",
];

/** A path that may be public, as the gateway resolves it; undefined when it is ambiguous (never public). */
export function resolvedPath(target: string): string | undefined {
  let pathname: string;
  try {
    pathname = new URL(target, "http://localhost").pathname;
  } catch {
    return undefined;
  }
  if (/%(2f|5c|00)/i.test(pathname)) return undefined;
  const path = pathname.replace(/%(4[1-9a-f]|5[0-9a]|6[1-9a-f]|7[0-9a]|3[0-9]|2d|2e|5f|7e)/gi, (escape) =>
    String.fromCharCode(Number.parseInt(escape.slice(1), 16)),
  );
  for (const segment of path.split("/")) {
    if (segment.startsWith(".;") || segment.startsWith("..;")) return undefined;
  }
  return path;
}

/**
 * Exact paths ("/healthz") and prefixes ending in "/" ("/assets/"), as configured. "/" alone is the root document,
 * never a prefix: "everything is public" is attribution mode, not a path list. Under a publicBasePath (`base`,
 * "/claw") the paths are relative to it: "/" is "/claw/" exactly, "/assets/" is "/claw/assets/", and nothing outside
 * the prefix — the bare "/claw" included — ever matches.
 */
export function createPublicPathMatcher(paths: readonly string[], base = ""): (target: string) => boolean {
  if (paths.length === 0) return () => false;
  const exact = new Set(paths.filter((p) => p === "/" || !p.endsWith("/")));
  const prefixes = paths.filter((p) => p !== "/" && p.endsWith("/"));
  return (target) => {
    const resolved = resolvedPath(target);
    if (resolved === undefined || (base !== "" && !resolved.startsWith(`${base}/`))) return false;
    const path = resolved.slice(base.length);
    if (exact.has(path)) return true;
    for (const prefix of prefixes) if (path.startsWith(prefix)) return true;
    return false;
  };
}
