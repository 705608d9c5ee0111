// The reference nginx.conf, rewritten only where a test must: ports and addresses (loopback, free ports), the
// upstream (the fake gateway), file paths (a temp prefix instead of /var/log, /var/run, /var/lib), the certificate
// pair (a test CA's), and what the installed nginx cannot parse. Each rewrite must match exactly one line of the
// reference: if the reference changes shape, the parity suite fails here instead of silently testing something else.

export interface ReferencePlacement {
  /** The TLS server's port (the reference's `listen 443 ssl`). */
  port: number;
  /** The http→https redirect server's port (the reference's `listen 80`). */
  redirectPort: number;
  /** The fake gateway's port (the reference's `server openclaw-gateway:18789`). */
  upstreamPort: number;
  /** nginx's prefix dir: pid, logs and temp files go here. */
  prefix: string;
  cert: string;
  key: string;
  /** Keep `http2 on;` only where nginx knows it (1.25.1+; Debian bookworm ships 1.22.1). */
  http2Directive: boolean;
  /** A variant of the reference's `proxy_read_timeout` (the idle-WebSocket test); undefined keeps it. */
  proxyReadTimeout?: string;
}

/** Replaces the one line whose trimmed text is `line`, keeping its indentation. Throws unless exactly one matches. */
export function replaceLine(text: string, line: string, replacement: string): string {
  const lines = text.split("\n");
  const hits = lines.flatMap((l, i) => (l.trim() === line ? [i] : []));
  if (hits.length !== 1) {
    throw new Error(
      `reference.nginx.conf: expected exactly one line "${line}", found ${hits.length}; update nginx-compat/parity/reference.ts`,
    );
  }
  const i = hits[0] as number;
  const indent = /^\s*/.exec(lines[i] as string)?.[0] ?? "";
  lines[i] =
    replacement === ""
      ? `${indent}# (parity: removed "${line}")`
      : replacement
          .split("\n")
          .map((r) => indent + r)
          .join("\n");
  return lines.join("\n");
}

export function placeReference(reference: string, p: ReferencePlacement): string {
  const rewrites: Array<[string, string]> = [
    ["error_log /var/log/nginx/error.log warn;", `error_log ${p.prefix}/error.log warn;`],
    ["pid /var/run/nginx.pid;", `pid ${p.prefix}/nginx.pid;`],
    // Temp paths: nginx buffers request bodies to disk (proxy_request_buffering is on by default).
    [
      "access_log /var/log/nginx/access.log;",
      [
        `access_log ${p.prefix}/access.log;`,
        `client_body_temp_path ${p.prefix}/client_body;`,
        `proxy_temp_path ${p.prefix}/proxy;`,
        `fastcgi_temp_path ${p.prefix}/fastcgi;`,
        `uwsgi_temp_path ${p.prefix}/uwsgi;`,
        `scgi_temp_path ${p.prefix}/scgi;`,
      ].join("\n"),
    ],
    ["server openclaw-gateway:18789;", `server 127.0.0.1:${p.upstreamPort};`],
    // Tests bind loopback only: each server keeps one listener, on 127.0.0.1.
    ["listen 80;", `listen 127.0.0.1:${p.redirectPort};`],
    ["listen [::]:80;", ""],
    ["listen 443 ssl;", `listen 127.0.0.1:${p.port} ssl;`],
    ["listen [::]:443 ssl;", ""],
    ["ssl_certificate /etc/nginx/certs/fullchain.pem;", `ssl_certificate ${p.cert};`],
    ["ssl_certificate_key /etc/nginx/certs/privkey.pem;", `ssl_certificate_key ${p.key};`],
  ];
  if (!p.http2Directive) rewrites.push(["http2 on;", ""]);
  if (p.proxyReadTimeout !== undefined)
    rewrites.push(["proxy_read_timeout 3600s;", `proxy_read_timeout ${p.proxyReadTimeout};`]);
  return rewrites.reduce((text, [line, replacement]) => replaceLine(text, line, replacement), reference);
}

/** "nginx version: nginx/1.22.1" → true when the `http2` directive exists (1.25.1 and later). */
export function knowsHttp2Directive(versionLine: string): boolean {
  const m = /nginx\/(\d+)\.(\d+)\.(\d+)/.exec(versionLine);
  if (!m) throw new Error(`cannot read the nginx version from: ${versionLine}`);
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return major > 1 || (major === 1 && (minor > 25 || (minor === 25 && patch >= 1)));
}
