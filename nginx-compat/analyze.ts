// Finds what the configuration is about before any note is written: which proxy_pass reaches the gateway, its server
// block, the listeners, the certificate, and an http→https redirect server. The rest of the importer only looks up
// the verdicts planned here.
import { NginxImportError } from "./errors.ts";
import type { Verdict } from "./directives.ts";
import type { Directive } from "./parser.ts";
import { type ListenAddress, formatListen, parseListen } from "./values.ts";

export interface Plan {
  chosen: Directive;
  gatewayServer: Directive;
  upstreamBlock: Directive | undefined;
  redirectServers: Set<Directive>;
  tls: boolean;
  /** Verdicts for listen, return, ssl_certificate(_key), proxy_pass and upstream `server` lines. */
  planned: Map<Directive, Verdict>;
  /** The gateway's URL (origin) and every other option decided here. */
  options: Record<string, unknown>;
  /** The note for the gateway's `server` directive itself, when it has something to say (no listen). */
  serverNote: Verdict | undefined;
}

/** The children of a list with includes spliced in: what nginx sees. */
export function expand(list: Directive[] | undefined): Directive[] {
  return (list ?? []).flatMap((d) => (d.name === "include" ? expand(d.block) : [d]));
}

const argText = (d: Directive, i = 0): string => d.args[i]?.text ?? "";
const hasVariable = (s: string) => s.includes("$");

interface Target {
  url: string;
  block?: Directive;
  line?: Directive;
  rewrite?: string;
}

function resolveTarget(
  pp: Directive,
  location: Directive | undefined,
  upstreams: Map<string, Directive>,
): Target | string {
  const text = argText(pp);
  if (hasVariable(text)) return "it uses variables; the importer needs a literal URL or an upstream block name";
  const m = /^(https?):\/\/([^/?#]+)(\/[^?#]*)?$/i.exec(text);
  if (!m)
    return text.startsWith("unix:")
      ? "the sidecar proxies to TCP only, not to a unix socket"
      : "not an http:// or https:// URL";
  const scheme = (m[1] as string).toLowerCase();
  const authority = m[2] as string;
  const path = m[3];
  // nginx replaces the matched location prefix with the proxy_pass URI; the sidecar forwards paths unchanged, so only
  // "no URI" and "the same prefix" mean the same thing.
  const prefix =
    location && (location.args.length === 1 || /^(=|\^~)$/.test(argText(location)))
      ? argText(location, location.args.length - 1)
      : undefined;
  const rewrite = path !== undefined && path !== prefix ? path : undefined;
  const block = upstreams.get(authority);
  let hostPort = authority;
  let line: Directive | undefined;
  if (block !== undefined) {
    line = expand(block.block).find((d) => d.name === "server");
    if (line === undefined) return `upstream "${authority}" has no server line`;
    hostPort = argText(line);
    if (hostPort.startsWith("unix:")) return "the sidecar proxies to TCP only, not to a unix socket";
  }
  const hp = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(hostPort);
  if (!hp) return `${JSON.stringify(hostPort)} is not host:port`;
  const port = hp[2] ?? (scheme === "https" ? "443" : "80");
  return {
    url: `${scheme}://${hp[1]}:${port}`,
    ...(block ? { block, line } : {}),
    ...(rewrite !== undefined ? { rewrite } : {}),
  };
}

interface Found {
  pp: Directive;
  server: Directive;
  location: Directive | undefined;
}

/** proxy_pass directives nginx would use, with their server and innermost location (not inside if/limit_except). */
function findProxyPasses(servers: Directive[]): Found[] {
  const out: Found[] = [];
  const walk = (list: Directive[], server: Directive, location: Directive | undefined) => {
    for (const d of expand(list)) {
      if (d.name === "proxy_pass") out.push({ pp: d, server, location });
      else if (d.name === "location") walk(d.block ?? [], server, d);
    }
  };
  for (const s of servers) walk(s.block ?? [], s, undefined);
  return out;
}

interface Parsed {
  d: Directive;
  a: ListenAddress;
}

/** Several listen lines → one sidecar address. 0.0.0.0:P plus [::]:P merge into [::]:P (Node's [::] is dual-stack). */
function pickListen(lines: Parsed[], key: string, planned: Map<Directive, Verdict>): string | undefined {
  const first = lines[0];
  if (first === undefined) return undefined;
  const wildcard = (h: string) => h === "0.0.0.0" || h === "::";
  const twin = lines.find(
    (l) =>
      l !== first &&
      l.a.port === first.a.port &&
      wildcard(l.a.host) &&
      wildcard(first.a.host) &&
      l.a.host !== first.a.host,
  );
  const dual = twin !== undefined || first.a.host === "::";
  const value = dual ? formatListen({ host: "::", port: first.a.port }) : formatListen(first.a);
  for (const l of lines) {
    const dropped =
      l.a.dropped.length > 0
        ? `; not carried over: ${l.a.dropped.join(", ")} (the sidecar expects plain HTTP or TLS from its peer, no PROXY protocol or QUIC)`
        : "";
    let v: Verdict;
    if (l === first) {
      const note =
        dual && twin === undefined ? " (Node's [::] listener also accepts IPv4, where nginx's was IPv6-only)" : "";
      v = { kind: "translated", message: `${key}: ${value}${note}${dropped}` };
    } else if (l === twin) {
      v = {
        kind: "translated",
        message: `${key}: ${value} covers this line too: Node's [::] listener accepts IPv4 and IPv6`,
      };
    } else {
      v = {
        kind: "unsupported",
        message: `the sidecar has one ${key} address (${value}, from line ${first.d.line}); this one is not carried over`,
      };
    }
    if (dropped && v.kind === "translated") v = { kind: "unsupported", message: v.message };
    planned.set(l.d, v);
  }
  return value;
}

function parseListens(server: Directive, planned: Map<Directive, Verdict>): Parsed[] {
  const out: Parsed[] = [];
  for (const d of expand(server.block).filter((x) => x.name === "listen")) {
    const a = parseListen(d.args.map((x) => x.text));
    if (a === undefined)
      planned.set(d, { kind: "unsupported", message: "the sidecar listens on a TCP host:port only (no unix sockets)" });
    else out.push({ d, a });
  }
  return out;
}

const REDIRECT = /^30[1278]$/;

/** The `return 301 https://…` of an http→https redirect server: at server level, or in `location /` (certbot's shape). */
function isHttpsRedirect(server: Directive): Directive | undefined {
  const kids = expand(server.block);
  if (findProxyPasses([server]).length > 0) return undefined;
  if (kids.some((d) => d.name === "listen" && d.args.some((a) => a.text === "ssl"))) return undefined;
  const redirect = (d: Directive) =>
    d.name === "return" && REDIRECT.test(argText(d)) && argText(d, 1).startsWith("https://");
  const root = kids.find((d) => d.name === "location" && d.args.length === 1 && argText(d) === "/");
  return kids.find(redirect) ?? expand(root?.block).find(redirect);
}

export function analyze(tree: Directive[], mainFile: string): Plan {
  const https = expand(tree).filter((d) => d.name === "http");
  const httpKids = https.flatMap((h) => expand(h.block));
  const servers = httpKids.filter((d) => d.name === "server");
  const upstreams = new Map(httpKids.filter((d) => d.name === "upstream").map((d) => [argText(d), d]));
  const planned = new Map<Directive, Verdict>();
  const found = findProxyPasses(servers);
  // Which proxy_pass is the gateway's? One that looks like it (port 18789, an "openclaw"/"gateway" name) before one
  // that does not; then the one clients reach at "/"; auth subrequest endpoints (`internal`) last; then file order.
  const resolved = found.map((f) => ({ f, t: resolveTarget(f.pp, f.location, upstreams) }));
  const rank = ({ f, t }: (typeof resolved)[number]) => {
    const loc = f.location;
    const internal = loc !== undefined && expand(loc.block).some((d) => d.name === "internal");
    const looksLikeGateway = typeof t !== "string" && /:18789$|openclaw|gateway/i.test(`${argText(f.pp)} ${t.url}`);
    const root = loc === undefined || (loc.args.length === 1 && argText(loc) === "/");
    return (internal ? 4 : 0) + (looksLikeGateway ? 0 : 2) + (root ? 0 : 1);
  };
  let chosen: (Found & Target) | undefined;
  for (const r of [...resolved].sort((a, b) => rank(a) - rank(b))) {
    if (typeof r.t !== "string") chosen ??= { ...r.f, ...r.t };
  }
  for (const { f, t } of resolved) {
    if (typeof t === "string") {
      planned.set(f.pp, { kind: "unsupported", message: t });
      continue;
    }
    if (chosen === undefined) break;
    if (f.pp === chosen.pp) {
      const via = t.block ? ` (upstream "${argText(t.block)}", line ${t.block.line})` : "";
      const rw =
        t.rewrite !== undefined
          ? `; but nginx replaced the location prefix with "${t.rewrite}", and the sidecar forwards paths unchanged`
          : "";
      const trust =
        "; the gateway must trust the sidecar's address (gateway.trustedProxies: see openclaw-sidecar print-gateway-config)";
      planned.set(f.pp, {
        kind: t.rewrite !== undefined ? "unsupported" : "translated",
        message: `upstream: ${t.url}${via}${rw}${trust}`,
      });
    } else if (t.url === chosen.url && t.rewrite === undefined) {
      planned.set(f.pp, { kind: "not_needed", message: "same gateway: the sidecar forwards every path there" });
    } else {
      planned.set(f.pp, {
        kind: "unsupported",
        message: `the sidecar proxies to one upstream (${chosen.url}, line ${chosen.pp.line}); ${t.url}${t.rewrite ?? ""} is not carried over`,
      });
    }
  }
  if (chosen === undefined) {
    const first = found[0];
    if (first)
      throw new NginxImportError(
        first.pp.file,
        first.pp.line,
        `proxy_pass ${argText(first.pp)}: cannot import: ${planned.get(first.pp)?.message}`,
      );
    const s = servers[0];
    throw new NginxImportError(
      s?.file ?? mainFile,
      s?.line ?? 0,
      "no proxy_pass found: the importer looks for http { server { location { proxy_pass … } } } forwarding to the gateway",
    );
  }
  if (chosen.block) {
    for (const [i, line] of expand(chosen.block.block)
      .filter((d) => d.name === "server")
      .entries()) {
      const params = line.args.slice(1).map((a) => a.text);
      planned.set(
        line,
        i === 0
          ? {
              kind: "translated",
              message: `upstream: ${chosen.url}${params.length ? `; parameters ${params.join(" ")} have no meaning with a single upstream` : ""}`,
            }
          : {
              kind: "unsupported",
              message: "the sidecar proxies to one gateway: no load balancing over several servers",
            },
      );
    }
  }

  const options: Record<string, unknown> = { upstream: chosen.url };
  const gateway = chosen.server;
  const listens = parseListens(gateway, planned);
  const tls = listens.some((l) => l.a.ssl);
  for (const l of listens.filter((x) => tls && !x.a.ssl)) {
    planned.set(l.d, {
      kind: "unsupported",
      message: `this server also served plain HTTP on ${formatListen(l.a)}; the sidecar serves TLS on one listener (an http→https redirect server becomes httpsRedirectListen)`,
    });
  }
  options.listen = pickListen(
    listens.filter((l) => !tls || l.a.ssl),
    "listen",
    planned,
  );
  let serverNote: Verdict | undefined;
  if (options.listen === undefined) {
    options.listen = "0.0.0.0:80";
    serverNote = {
      kind: "translated",
      message: "listen: 0.0.0.0:80 (this server has no listen directive: nginx run as root listens on *:80)",
    };
  }
  if (tls) planCertificates(gateway, httpKids, listens, options, planned);
  else {
    for (const d of [...httpKids, ...expand(gateway.block)].filter((x) => /^ssl_certificate(_key)?$/.test(x.name))) {
      planned.set(d, { kind: "not_needed", message: "no listen … ssl in the gateway's server block uses it" });
    }
  }

  const redirectServers = new Set<Directive>();
  for (const s of servers.filter((x) => x !== gateway)) {
    const ret = isHttpsRedirect(s);
    if (ret === undefined) continue;
    redirectServers.add(s);
    const lines = parseListens(s, planned);
    if (!tls || redirectServers.size > 1) {
      const why = tls
        ? "the sidecar has one redirect listener"
        : "the sidecar redirects to https only when it terminates TLS itself (tlsCert/tlsKey), which this configuration does not";
      for (const d of [ret, ...lines.map((l) => l.d)]) planned.set(d, { kind: "unsupported", message: why });
      continue;
    }
    options.httpsRedirectListen = pickListen(lines, "httpsRedirectListen", planned) ?? "0.0.0.0:80";
    const target = argText(ret, 1);
    const sameHost = /^https:\/\/\$(host|http_host|server_name)/.test(target)
      ? ""
      : `; it redirects to the request's own Host, where this line used ${target}`;
    planned.set(ret, {
      kind: "translated",
      message: `the sidecar answers 308 (keeps method and body) to https://<Host><same URI>${sameHost}`,
    });
  }
  return {
    chosen: chosen.pp,
    gatewayServer: gateway,
    upstreamBlock: chosen.block,
    redirectServers,
    tls,
    planned,
    options,
    serverNote,
  };
}

// The server's own certificate wins over one inherited from http {}. The sidecar serves one pair.
function planCertificates(
  gateway: Directive,
  httpKids: Directive[],
  listens: Parsed[],
  options: Record<string, unknown>,
  planned: Map<Directive, Verdict>,
): void {
  const sslListen = listens.find((l) => l.a.ssl) as Parsed;
  for (const [name, key] of [
    ["ssl_certificate", "tlsCert"],
    ["ssl_certificate_key", "tlsKey"],
  ] as const) {
    const own = expand(gateway.block).filter((d) => d.name === name);
    const inherited = httpKids.filter((d) => d.name === name);
    const level = own.length > 0 ? own : inherited;
    if (own.length > 0)
      for (const d of inherited)
        planned.set(d, {
          kind: "not_needed",
          message: `overridden by the gateway server's ${name} on line ${own[0]?.line}`,
        });
    let used: Directive | undefined;
    for (const d of level) {
      const path = argText(d);
      if (hasVariable(path) || path.startsWith("data:") || path.startsWith("engine:")) {
        planned.set(d, { kind: "unsupported", message: "only a plain file path can be imported" });
      } else if (used === undefined) {
        used = d;
        options[key] = path;
        const rel = path.startsWith("/")
          ? ""
          : " (nginx reads relative paths from its prefix directory: give the sidecar an absolute path)";
        planned.set(d, {
          kind: "translated",
          message: `${key}: ${path}; mount the same file into the sidecar container, it is reloaded when it changes${rel}`,
        });
      } else {
        planned.set(d, {
          kind: "unsupported",
          message: `the sidecar serves one certificate (line ${used.line}); a second pair (RSA + ECDSA) is not carried over`,
        });
      }
    }
    if (used === undefined)
      throw new NginxImportError(
        sslListen.d.file,
        sslListen.d.line,
        `listen … ssl, but no usable ${name} for this server`,
      );
  }
}
