// The upstream and the contestants in front of it. Each contestant is a base URL plus the pids whose CPU and memory
// count as "the proxy" (none for direct). nginx runs for real (worker_processes 1, its own prefix under a temp dir),
// once as the seed's hand-written sidecar and once tuned with upstream keep-alive.
import { freePort } from "../test/helpers/net.ts";
import type { ChildProcess } from "node:child_process";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { removeTempDir, spawnTracked, stopChild, trackTempDir, waitForMessage } from "./processes.ts";
import { withChildren } from "./procstat.ts";

export const NGINX = "/usr/sbin/nginx";
export const CADDY = "/usr/bin/caddy";
export const HAPROXY = "/usr/sbin/haproxy";
const REPO = path.resolve(import.meta.dirname, "..");
const READY_TIMEOUT_MS = 10_000;

export interface Contestant {
  name: string;
  /** http://127.0.0.1:port — the WebSocket URL is the same with ws:// */
  base: string;
  /** Processes whose CPU and RSS are the proxy's cost; empty for direct. */
  pids: number[];
  stop(): Promise<void>;
}

export interface Upstream {
  port: number;
  pid: number;
  stop(): Promise<void>;
}

export async function startUpstream(): Promise<Upstream> {
  const child = spawnTracked(process.execPath, [path.join(import.meta.dirname, "upstream.ts")], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const port = await waitForMessage(child, (m) => (m as { port?: number }).port, READY_TIMEOUT_MS, "upstream");
  return { port, pid: child.pid as number, stop: () => stopChild(child) };
}

export function direct(upstreamPort: number): Contestant {
  return { name: "direct", base: `http://127.0.0.1:${upstreamPort}`, pids: [], stop: async () => {} };
}

/** The seed's hand-written nginx.conf (proxy_pass straight to the host: a new upstream connection per request). */
function handWrittenLocation(upstreamPort: number): string {
  return `
      proxy_pass http://127.0.0.1:${upstreamPort};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_set_header Host $host;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_read_timeout 86400;`;
}

/** What a careful operator would write: pooled upstream connections, "Connection: upgrade" only for upgrades. */
function tunedLocation(): string {
  return `
      proxy_pass http://gateway;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_read_timeout 86400;`;
}

export function nginxConfig(prefix: string, port: number, upstreamPort: number, tuned: boolean): string {
  const tunedHttp = tuned
    ? `
  map $http_upgrade $connection_upgrade { default upgrade; "" ""; }
  upstream gateway { server 127.0.0.1:${upstreamPort}; keepalive 64; }`
    : "";
  return `daemon off;
worker_processes 1;
worker_rlimit_nofile 65536;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 32768; }
http {
  # An access log line per request, like a default install, written to /dev/null like the sidecar's at info level.
  access_log /dev/null;
  client_body_temp_path ${prefix}/client_body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;${tunedHttp}
  server {
    listen 127.0.0.1:${port} backlog=4096;
    server_name _;
    location / {${tuned ? tunedLocation() : handWrittenLocation(upstreamPort)}
    }
  }
}
`;
}

export async function startNginx(name: string, upstreamPort: number, tuned: boolean): Promise<Contestant> {
  return withPortRetry(
    async (port) => {
      const prefix = mkdtempSync(path.join(tmpdir(), "bench-nginx-"));
      trackTempDir(prefix);
      chmodSync(prefix, 0o755); // workers run as nobody when the master is root
      writeFileSync(path.join(prefix, "nginx.conf"), nginxConfig(prefix, port, upstreamPort, tuned));
      const child = spawnTracked(
        NGINX,
        ["-p", prefix, "-c", path.join(prefix, "nginx.conf"), "-e", path.join(prefix, "error.log")],
        { stdio: ["ignore", "inherit", "inherit"] },
      );
      const stop = async () => {
        await stopChild(child);
        removeTempDir(prefix);
      };
      return { child, contestant: { name, base: `http://127.0.0.1:${port}`, pids: [], stop } };
    },
    (c) => {
      c.pids = withChildren(c.pids[0] ?? 0);
    },
  );
}

export async function startSidecar(
  name: string,
  upstreamPort: number,
  logLevel: "info" | "warn",
  extraArgs: readonly string[] = [],
): Promise<Contestant> {
  return withPortRetry(
    async (port) => {
      const adminPort = await freePort();
      const args = [
        ...extraArgs,
        // BENCH_SIDECAR_SRC: another checkout's src/ (a before/after comparison of the hot path, run interleaved).
        path.join(process.env.BENCH_SIDECAR_SRC ?? path.join(REPO, "src"), "cli.ts"),
        "--listen",
        `127.0.0.1:${port}`,
        "--admin-listen",
        `127.0.0.1:${adminPort}`,
        "--upstream",
        `http://127.0.0.1:${upstreamPort}`,
        "--mode",
        "attribution",
        "--log-level",
        logLevel,
      ];
      // stdout (one JSON line per request at info) goes to /dev/null: the cost of formatting and writing it is counted,
      // the cost of a log shipper is not.
      const child = spawnTracked(process.execPath, args, { stdio: ["ignore", "ignore", "inherit"], cwd: REPO });
      return {
        child,
        contestant: { name, base: `http://127.0.0.1:${port}`, pids: [], stop: () => stopChild(child, 6000) },
      };
    },
    () => {},
  );
}

/** The reference Node proxy (node-floor.ts): what node:http alone costs. */
export async function startNodeFloor(upstreamPort: number): Promise<Contestant> {
  return withPortRetry(
    async (port) => {
      const child = spawnTracked(
        process.execPath,
        [path.join(import.meta.dirname, "node-floor.ts"), String(port), String(upstreamPort)],
        { stdio: ["ignore", "ignore", "inherit"] },
      );
      return {
        child,
        contestant: { name: "node-floor", base: `http://127.0.0.1:${port}`, pids: [], stop: () => stopChild(child) },
      };
    },
    () => {},
  );
}

/** The true Node floor (tcp-relay.ts): a raw TCP relay, no HTTP. */
export async function startTcpRelay(upstreamPort: number, extraArgs: readonly string[] = []): Promise<Contestant> {
  return withPortRetry(
    async (port) => {
      const child = spawnTracked(
        process.execPath,
        [...extraArgs, path.join(import.meta.dirname, "tcp-relay.ts"), String(port), String(upstreamPort)],
        { stdio: ["ignore", "ignore", "inherit"] },
      );
      return {
        child,
        contestant: { name: "tcp-relay", base: `http://127.0.0.1:${port}`, pids: [], stop: () => stopChild(child) },
      };
    },
    () => {},
  );
}

/**
 * Caddy as a user who picks "the easy one" would run it: `reverse_proxy` to the gateway (Caddy pools upstream
 * connections and sets X-Forwarded-For/-Proto/-Host itself; WebSockets pass through), an access log per request to
 * /dev/null, no admin endpoint, no automatic HTTPS. One thread, like nginx's one worker: GOMAXPROCS=1. Its
 * XDG/HOME dirs point into the temp dir, so it never writes to the user's ~/.local/share/caddy.
 */
export function caddyConfig(dir: string, port: number, upstreamPort: number): string {
  return `{
	admin off
	auto_https off
	storage file_system ${dir}/data
}
http://127.0.0.1:${port} {
	bind 127.0.0.1
	log {
		output file /dev/null
	}
	reverse_proxy 127.0.0.1:${upstreamPort}
}
`;
}

export async function startCaddy(upstreamPort: number): Promise<Contestant> {
  return withPortRetry(
    async (port) => {
      const dir = mkdtempSync(path.join(tmpdir(), "bench-caddy-"));
      trackTempDir(dir);
      const file = path.join(dir, "Caddyfile");
      writeFileSync(file, caddyConfig(dir, port, upstreamPort));
      const env = {
        ...process.env,
        GOMAXPROCS: "1",
        HOME: dir,
        XDG_DATA_HOME: path.join(dir, "data"),
        XDG_CONFIG_HOME: path.join(dir, "config"),
      };
      const child = spawnTracked(CADDY, ["run", "--config", file, "--adapter", "caddyfile"], {
        stdio: ["ignore", "ignore", "ignore"],
        env,
        cwd: dir,
      });
      const stop = async () => {
        await stopChild(child);
        removeTempDir(dir);
      };
      return { child, contestant: { name: "caddy", base: `http://127.0.0.1:${port}`, pids: [], stop } };
    },
    () => {},
  );
}

/**
 * HAProxy in HTTP mode, one thread (`nbthread 1`), `http-reuse safe` (pooled server connections, HAProxy's default
 * and the setting the issue measured with), `option forwardfor` (it sets X-Forwarded-For), an access log line per
 * request (`option httplog`) to stdout, which goes to /dev/null. Timeouts as long as nginx's `proxy_read_timeout`.
 */
export function haproxyConfig(port: number, upstreamPort: number): string {
  return `global
  nbthread 1
  maxconn 9000
  log stdout format raw local0
defaults
  mode http
  log global
  option httplog
  option forwardfor
  http-reuse safe
  timeout connect 5s
  timeout client 86400s
  timeout server 86400s
  timeout tunnel 86400s
  timeout http-keep-alive 65s
frontend bench
  bind 127.0.0.1:${port} backlog 4096
  default_backend gateway
backend gateway
  server gateway 127.0.0.1:${upstreamPort}
`;
}

export async function startHaproxy(upstreamPort: number): Promise<Contestant> {
  return withPortRetry(
    async (port) => {
      const dir = mkdtempSync(path.join(tmpdir(), "bench-haproxy-"));
      trackTempDir(dir);
      const file = path.join(dir, "haproxy.cfg");
      writeFileSync(file, haproxyConfig(port, upstreamPort));
      // -db: stay in the foreground, no daemon, no master-worker: one process, the one measured.
      const child = spawnTracked(HAPROXY, ["-db", "-f", file], { stdio: ["ignore", "ignore", "inherit"], cwd: dir });
      const stop = async () => {
        await stopChild(child);
        removeTempDir(dir);
      };
      return { child, contestant: { name: "haproxy", base: `http://127.0.0.1:${port}`, pids: [], stop } };
    },
    () => {},
  );
}

/** nginx cannot listen on port 0 and report it, so we pick a free port and retry if someone took it meanwhile. */
async function withPortRetry(
  start: (port: number) => Promise<{ child: ChildProcess; contestant: Contestant }>,
  afterReady: (c: Contestant) => void,
): Promise<Contestant> {
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const { child, contestant } = await start(await freePort());
    contestant.pids = [child.pid as number];
    try {
      await waitReady(contestant.base, child);
      afterReady(contestant);
      return contestant;
    } catch (err) {
      lastError = err as Error;
      await contestant.stop();
    }
  }
  throw new Error(`could not start a contestant: ${lastError?.message}`);
}

/** Polls GET /1k through the contestant until it answers 200 (bounded by READY_TIMEOUT_MS). */
async function waitReady(base: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${base}: exited with ${child.exitCode}`);
    const status = await new Promise<number>((resolve) => {
      const req = http.get(`${base}/1k`, { agent: false, timeout: 1000 }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("timeout", () => req.destroy());
      req.on("error", () => resolve(0));
    });
    if (status === 200) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${base}: not ready within ${READY_TIMEOUT_MS} ms`);
}
