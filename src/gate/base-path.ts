// The sub-path boundary (publicBasePath, e.g. `/claw`): with the gateway's Control UI under a prefix of a shared host,
// only requests whose path — as the gateway resolves it (public-paths.ts resolvedPath: dot segments, `%2e`, `\`) — is
// the prefix or below it are forwarded, in every mode. `/claw/../api`, `/claw/%2e%2e/x`, `/CLAW/` and `/clawx` are
// outside, and so is any path that could mean something else to another decoder (ambiguous = outside). Outside, the
// sidecar answers itself: `/` and the bare prefix redirect to the dashboard (`/claw/`), the rest is a 404 that links
// there; an upgrade outside is refused with 404. Nothing outside ever reaches the gateway.
import type { RequestHead } from "../http/http1.ts";
import { html, renderPage } from "../http/page.ts";
import { type Refusal, type Reply, refusalReply, wantsHtml } from "../http/responses.ts";
import { resolvedPath } from "./public-paths.ts";

/** Whether `target` resolves to `base` or a path below it; always true without a base (""). */
export function insideBasePath(target: string, base: string): boolean {
  return base === "" || isUnder(resolvedPath(target), base);
}

/** A resolved path (undefined: ambiguous, never inside) is `base` or below it. */
const isUnder = (path: string | undefined, base: string): boolean =>
  path !== undefined && (path === base || path.startsWith(`${base}/`));

const notFound = (base: string): Refusal => ({
  status: 404,
  type: "outside_base_path",
  message: `this sidecar serves only ${base}/; nothing outside it is forwarded`,
});

/**
 * The answer to a request outside `base`, or undefined when it is inside (forward it). GET and HEAD of `/` and of
 * the bare prefix are sent to `base/` with their query (a `?token=` login then happens under the prefix; the
 * gateway's own redirect of the bare prefix names its own host); the rest outside, any method, is a 404 — a page
 * with a link to the dashboard for a browser, JSON otherwise.
 */
export function outsideBasePath(head: RequestHead, base: string): Reply | undefined {
  if (base === "") return undefined;
  const path = resolvedPath(head.url);
  if ((head.method === "GET" || head.method === "HEAD") && (path === "/" || path === base)) {
    const query = new URL(`http://sidecar${head.url.startsWith("/") ? head.url : "/"}`).search;
    return { status: 302, headers: { Location: `${base}/${query}`, "Cache-Control": "no-store" }, body: "" };
  }
  if (isUnder(path, base)) return undefined; // resolved once per request, above
  if (!wantsHtml(head.headers)) return refusalReply(notFound(base), false);
  return {
    status: 404,
    headers: { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" },
    body: renderPage({
      heading: "Not here",
      next: "The OpenClaw dashboard is served under its own path on this host: follow the link.",
      body: html`<p class="actions"><a class="button" href="${base}/">Open the dashboard</a></p> `,
    }),
  };
}

/** The refusal of an upgrade outside `base`, or undefined when it is inside. */
export function upgradeOutsideBasePath(head: RequestHead, base: string): Refusal | undefined {
  return insideBasePath(head.url, base) ? undefined : notFound(base);
}
