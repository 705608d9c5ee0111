// nginx value syntax: times ("86400", "60s", "1m30s", "500ms"), sizes ("8k", "1m"), and listen addresses.
// Each parser returns undefined for text it does not understand; the caller reports that with the directive's line.

const TIME_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
  M: 2_592_000_000,
  y: 31_536_000_000,
};

/** Milliseconds. A bare number is seconds, as in nginx. */
export function parseTime(text: string): number | undefined {
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const re = /(\d+)(ms|[smhdwMy])/gy;
  let total = 0;
  let end = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    total += Number(m[1]) * (TIME_UNITS[m[2] as string] as number);
    end = re.lastIndex;
  }
  return end === text.length && end > 0 ? total : undefined;
}

/** Bytes: "512", "8k", "1m", "1g" (either case). */
export function parseSize(text: string): number | undefined {
  const m = /^(\d+)([kKmMgG]?)$/.exec(text);
  if (!m) return undefined;
  const unit = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m[2] as string).toLowerCase()] as number;
  return Number(m[1]) * unit;
}

export interface ListenAddress {
  /** "0.0.0.0", "::", or the literal host. */
  host: string;
  port: number;
  ssl: boolean;
  /** Parameters that change behaviour and have no sidecar equivalent (proxy_protocol, quic, …). */
  dropped: string[];
}

// Parameters that only tune the socket or pick the default server: nothing to carry over.
const HARMLESS =
  /^(default_server|default|http2|reuseport|deferred|bind|fastopen=.*|backlog=.*|rcvbuf=.*|sndbuf=.*|so_keepalive=.*|ipv6only=.*|setfib=.*|accept_filter=.*)$/;

/** `listen` arguments → address, or undefined for what the sidecar cannot listen on (unix sockets, bad syntax). */
export function parseListen(args: string[]): ListenAddress | undefined {
  const [addr, ...params] = args;
  if (addr === undefined || addr.startsWith("unix:")) return undefined;
  let host = "0.0.0.0";
  let portText: string;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(addr);
  if (v6) {
    host = v6[1] as string;
    portText = v6[2] ?? "80";
  } else if (/^\d+$/.test(addr)) {
    portText = addr;
  } else {
    const i = addr.lastIndexOf(":");
    const name = i === -1 ? addr : addr.slice(0, i);
    portText = i === -1 ? "80" : addr.slice(i + 1);
    if (name !== "*" && name !== "") host = name;
  }
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) return undefined;
  const ssl = params.includes("ssl");
  const dropped = params.filter((p) => p !== "ssl" && !HARMLESS.test(p));
  return { host, port, ssl, dropped };
}

export const formatListen = (a: { host: string; port: number }): string =>
  a.host.includes(":") ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
