// Small complete responses the sidecar itself sends (refusals and upstream failures): JSON for API clients, a short
// HTML page for browsers (the shared shell, page.ts) that says what happened and what to do next. For a raw socket (a
// refused upgrade) the response is written whole and the socket is then destroyed, as ws's abortHandshake does, so
// nothing half-open is left behind.
import type { IncomingHttpHeaders } from "node:http";
import { STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import { type Html, escapeHtml, html, renderPage } from "./page.ts";

export { escapeHtml };

export interface Refusal {
  status: number;
  type: string;
  message: string;
  headers?: Record<string, string>;
  /** HTML pages only: the one sentence telling a person what to do next; by default one that fits the type. */
  next?: string | Html;
  /** HTML pages only: the page reloads itself after this many seconds (a failure that may pass by itself). */
  retrySeconds?: number;
  /** HTML pages only: where "Sign in again" and "Back to the dashboard" lead (publicBasePath + "/"); default "/". */
  home?: string;
}

/** A complete response the sidecar writes itself (the connection adds Content-Length and Connection). */
export interface Reply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export function wantsHtml(headers: IncomingHttpHeaders): boolean {
  return (headers.accept ?? "").includes("text/html");
}

export function renderRefusal(refusal: Refusal, html: boolean): { contentType: string; body: string } {
  if (html) return { contentType: "text/html; charset=utf-8", body: refusalPage(refusal) };
  return {
    contentType: "application/json; charset=utf-8",
    body: `${JSON.stringify({ error: { type: refusal.type, message: refusal.message } })}\n`,
  };
}

/** The header a refusal carries, whatever its spelling. */
const headerOf = (refusal: Refusal, name: string): string | undefined =>
  Object.entries(refusal.headers ?? {}).find(([k]) => k.toLowerCase() === name)?.[1];

/**
 * A browser's page for a refusal: a heading a person understands, the next step, and the machine-readable cause
 * underneath for whoever they ask for help. Sign-in refusals offer to sign in again; failures that may pass by
 * themselves reload the page.
 */
function refusalPage(refusal: Refusal): string {
  const { status, type } = refusal;
  const home = refusal.home ?? "/";
  const again = html`<p class="actions"><a class="button" href="${home}">Sign in again</a></p> `;
  let heading: string;
  let next: string | Html;
  let body: Html | undefined;
  const signIn = status === 401 || type.startsWith("oidc_") || type.startsWith("assertion_");
  const later = "Reload this page in a few seconds; if this keeps happening, show the administrator the details below.";
  if (type === "client_not_allowed") {
    heading = "Not open to this address";
    next =
      "Connect from a network the administrator allows (the office, the VPN), or ask them to allow the address shown below.";
  } else if (type === "rate_limited") {
    const wait = headerOf(refusal, "retry-after");
    heading = "Too many sign-in attempts";
    next = `Wait ${wait !== undefined ? `${wait} seconds` : "a while"}, then open the dashboard again with the right token.`;
  } else if (signIn && status === 403) {
    heading = "Sign-in refused";
    next =
      "Ask the administrator to give your account access to the OpenClaw dashboard, or sign in with another account.";
    body = again;
  } else if (signIn && status === 503) {
    heading = "Sign-in is not available right now";
    next = later;
  } else if (signIn) {
    heading = "Sign-in did not finish";
    next = "Open the dashboard again to sign in; if this keeps happening, show the administrator the details below.";
    body = again;
  } else if (status === 502 || status === 504) {
    heading = "The gateway is not answering";
    next = later;
  } else if (status === 503) {
    heading = "The dashboard is not available right now";
    next = later;
  } else {
    heading = `${status} ${STATUS_CODES[status] ?? "Refused"}`;
    next = "Go back to the dashboard and try again; if this keeps happening, show the administrator the details below.";
    body = html`<p class="actions"><a class="button" href="${home}">Back to the dashboard</a></p> `;
  }
  return renderPage({
    heading,
    next: refusal.next ?? next,
    body,
    details: { code: `${status} ${type}`, message: refusal.message },
    refreshSeconds: refusal.retrySeconds,
  });
}

export function refusalReply(refusal: Refusal, html: boolean): Reply {
  const { contentType, body } = renderRefusal(refusal, html);
  return {
    status: refusal.status,
    headers: { "Content-Type": contentType, "Cache-Control": "no-store", ...refusal.headers },
    body,
  };
}

/** Writes a complete HTTP/1.1 response on a raw socket and destroys it once flushed. */
export function refuseSocket(socket: Duplex, refusal: Refusal, html = false): void {
  if (!socket.writable || socket.destroyed) {
    socket.destroy();
    return;
  }
  const { contentType, body } = renderRefusal(refusal, html);
  const extra = Object.entries(refusal.headers ?? {})
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("");
  socket.end(
    `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status] ?? ""}\r\nConnection: close\r\nContent-Type: ${contentType}\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\n${extra}\r\n${body}`,
  );
  socket.once("finish", () => socket.destroy());
  // A peer that never reads must not keep the socket alive.
  setTimeout(() => socket.destroy(), 5000).unref();
}
