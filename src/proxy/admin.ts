// The admin listener, kept off the proxied port so that nothing a browser reaches can scrape metrics or probe health:
//   /healthz  the sidecar process itself is up (liveness; the Docker HEALTHCHECK)
//   /readyz   the gateway answers its own /healthz (readiness; 503 with the cause and its fix when not, and while
//             draining). With a logger, a change of the gateway's state is logged once (a warning when it stops
//             answering, with the same diagnosis), not once per probe.
//   /metrics  Prometheus exposition of the sidecar's private registry
import http from "node:http";
import https from "node:https";
import type { Logger } from "../ops/log.ts";
import type { Metrics } from "../ops/metrics.ts";
import { describeUpstreamFailure } from "../http/upstream-errors.ts";

export interface AdminOptions {
  metrics: Metrics;
  upstream: URL;
  isDraining: () => boolean;
  probeTimeoutMs?: number;
  logger?: Logger;
}

export function createAdminServer(opts: AdminOptions): http.Server {
  const { metrics, upstream, isDraining } = opts;
  let lastProblem: string | undefined; // what the previous /readyz found; undefined: ready (or not probed yet)
  const observe = (problem: string | undefined) => {
    if (problem === lastProblem) return;
    if (problem !== undefined)
      opts.logger?.warn({ upstream: upstream.origin, diagnosis: problem }, `readyz: gateway not ready: ${problem}`);
    else if (lastProblem !== undefined) opts.logger?.info({ upstream: upstream.origin }, "readyz: gateway ready again");
    lastProblem = problem;
  };
  const json = (res: http.ServerResponse, status: number, body: object) => {
    const text = `${JSON.stringify(body)}\n`;
    res
      .writeHead(status, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(text),
        "cache-control": "no-store",
      })
      .end(text);
  };
  return http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") return json(res, 405, { error: "method not allowed" });
    if (path === "/healthz") return json(res, 200, { status: "ok" });
    if (path === "/readyz") {
      if (isDraining()) return json(res, 503, { ready: false, cause: "draining" });
      probeGateway(upstream, opts.probeTimeoutMs ?? 2000).then(
        (status) => {
          observe(status === 200 ? undefined : `the gateway answered /healthz with ${status}`);
          json(res, status === 200 ? 200 : 503, {
            ready: status === 200,
            upstream: upstream.origin,
            gatewayStatus: status,
          });
        },
        (err: unknown) => {
          const failure = describeUpstreamFailure(err, upstream);
          observe(failure.message);
          json(res, 503, { ready: false, upstream: upstream.origin, cause: failure.type, message: failure.message });
        },
      );
      return;
    }
    if (path === "/metrics") {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": metrics.registry.contentType }).end(text),
        (err: unknown) => json(res, 500, { error: String(err) }),
      );
      return;
    }
    json(res, 404, { error: "not found", endpoints: ["/healthz", "/readyz", "/metrics"] });
  });
}

/**
 * GET <gateway>/healthz with no forwarding headers: the gateway answers it before ingress attribution, so the probe
 * works in every mode and never counts as a proxied request.
 */
export function probeGateway(upstream: URL, timeoutMs: number): Promise<number> {
  const request = upstream.protocol === "https:" ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const req = request(new URL("/healthz", upstream), { method: "GET", agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("timeout", () => req.destroy(Object.assign(new Error("probe timed out"), { code: "UPSTREAM_TIMEOUT" })));
    req.on("error", reject);
    req.end();
  });
}
