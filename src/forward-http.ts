// The HTTP hot path: every method, bodies streamed both ways (never buffered), keep-alive pooled to the gateway.
// httpxy (the maintained successor of http-proxy) does the streaming; this file adds the response-header deadline
// and routes every failure through describeUpstreamFailure.
import http from "node:http";
import https from "node:https";
import { createProxyServer } from "httpxy";
import type { Logger } from "./log.ts";
import type { Metrics } from "./metrics.ts";
import { sendRefusal, wantsHtml } from "./responses.ts";
import { UpstreamTimeoutError, describeUpstreamFailure } from "./upstream-errors.ts";

export interface HttpForwarderOptions {
  upstream: URL;
  /** Time allowed from sending the request to receiving the response headers; then 504. */
  upstreamTimeoutMs: number;
  metrics: Metrics;
  logger: Logger;
}

export interface HttpForwarder {
  forward(req: http.IncomingMessage, res: http.ServerResponse): void;
  /** Closes pooled upstream connections. */
  close(): void;
}

/** Marks responses that failed upstream, for the access log. */
export const kUpstreamError = Symbol("upstreamError");
type Tagged = http.ServerResponse & { [kUpstreamError]?: string };

export function createHttpForwarder(opts: HttpForwarderOptions): HttpForwarder {
  const { upstream, upstreamTimeoutMs, metrics, logger } = opts;
  const tls = upstream.protocol === "https:";
  // Keep-alive to the gateway: without it every request pays a TCP handshake (nginx as hand-written in the seed does
  // exactly that, and it is its main cost).
  const agentOptions = { keepAlive: true, keepAliveMsecs: 15_000, maxFreeSockets: 256, scheduling: "lifo" as const };
  const agent = tls ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
  const proxy = createProxyServer({ target: upstream, agent, xfwd: false, changeOrigin: false, ws: false });

  proxy.on("proxyReq", (proxyReq) => {
    const timer = setTimeout(() => proxyReq.destroy(new UpstreamTimeoutError(upstreamTimeoutMs)), upstreamTimeoutMs);
    const clear = () => clearTimeout(timer);
    proxyReq.once("response", clear);
    proxyReq.once("close", clear);
  });

  // The client went away first: nothing to answer; the access log records 499.
  proxy.on("econnreset", (_err, _req, res) => {
    (res as Tagged)[kUpstreamError] = "client_aborted";
  });

  proxy.on("error", (err, req, res) => {
    if (req === undefined || res === undefined || !("setHeader" in res)) return;
    const response = res as Tagged;
    if (response.destroyed || req.socket.destroyed) return; // client already gone
    const failure = describeUpstreamFailure(err, upstream);
    response[kUpstreamError] = failure.code;
    metrics.upstreamErrors.inc({ code: failure.code });
    if (response.headersSent) {
      // Mid-response failure: the status is already on the wire, so the only honest signal left is an abort.
      logger.warn({ err: failure.code, url: undefined }, "upstream failed mid-response");
      response.destroy();
      return;
    }
    if (failure.code === "other") logger.error({ err }, "unexpected upstream error");
    sendRefusal(response, failure, wantsHtml(req.headers));
  });

  return {
    forward(req, res) {
      proxy.web(req, res).catch(() => {
        // errors are delivered to the "error" listener above; this only silences the duplicate rejection
      });
    },
    close() {
      agent.destroy();
    },
  };
}
