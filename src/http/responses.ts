// Small complete responses the sidecar itself sends (refusals and upstream failures): JSON for API clients, a short
// HTML page for browsers. For a raw socket (a refused upgrade) the response is written whole and the socket is then
// destroyed, as ws's abortHandshake does, so nothing half-open is left behind.
import type { IncomingHttpHeaders } from "node:http";
import { STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";

export interface Refusal {
  status: number;
  type: string;
  message: string;
  headers?: Record<string, string>;
}

/** A complete response the sidecar writes itself (the connection adds Content-Length and Connection). */
export interface Reply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Text made safe inside HTML (element content and quoted attributes): every page the sidecar renders uses it. */
export const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string);

export function wantsHtml(headers: IncomingHttpHeaders): boolean {
  return (headers.accept ?? "").includes("text/html");
}

export function renderRefusal(refusal: Refusal, html: boolean): { contentType: string; body: string } {
  if (html) {
    const title = `${refusal.status} ${STATUS_CODES[refusal.status] ?? ""}`;
    return {
      contentType: "text/html; charset=utf-8",
      body: `<!doctype html><meta charset="utf-8"><title>${title}</title><h1>${title}</h1><p>${escapeHtml(refusal.message)}</p><p><small>openclaw-sidecar: ${escapeHtml(refusal.type)}</small></p>\n`,
    };
  }
  return {
    contentType: "application/json; charset=utf-8",
    body: `${JSON.stringify({ error: { type: refusal.type, message: refusal.message } })}\n`,
  };
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
