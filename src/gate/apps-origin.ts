// The MCP Apps sandbox origin (issue 16 §4). With `mcp.apps.enabled` the gateway serves App views from a second,
// sandbox-only listener (its port + 1) that must sit on a public origin of its own (`mcp.apps.sandboxOrigin`). The
// sidecar's `appsListen` fronts it plainly: header hygiene and X-Forwarded-For as in attribution mode, no
// authentication and never an identity, and none of the main origin's credentials — its session cookie and any
// Authorization — so a token for one origin is useless on the other.
import type { IncomingHttpHeaders } from "node:http";
import { COOKIE_NAME } from "./auth-gate.ts";
import { parseCookies } from "./credentials.ts";

/** Removes the main origin's credentials from a request bound for the sandbox listener. */
export function stripMainOriginCredentials(headers: IncomingHttpHeaders): void {
  delete headers.authorization;
  const cookies = parseCookies(headers.cookie);
  if (!cookies.has(COOKIE_NAME)) return;
  cookies.delete(COOKIE_NAME);
  if (cookies.size === 0) delete headers.cookie;
  else headers.cookie = [...cookies].map(([k, v]) => `${k}=${v}`).join("; ");
}
