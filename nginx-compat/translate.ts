// Directive tree → sidecar config + one note per directive. Blocks nginx uses only to group (main, events, http, the
// gateway's server and location) are walked; every other directive gets exactly one note, and a block the sidecar
// does not reproduce (another site, a static-file location, an `if`) gets one note for the whole block.
import { OPTION_KEYS } from "../src/options/config.ts";
import { analyze, expand, type Plan } from "./analyze.ts";
import { STATIC_VERDICTS, type Verdict } from "./directives.ts";
import { NginxImportError } from "./errors.ts";
import { proxySetHeader } from "./headers.ts";
import type { ImportResult, Note } from "./notes.ts";
import { OPTION_HANDLERS, type OptionContext } from "./options.ts";
import type { Directive } from "./parser.ts";

// Handled below by name (structure and planned verdicts) rather than by a table.
const STRUCTURAL = [
  "events",
  "http",
  "server",
  "location",
  "upstream",
  "map",
  "include",
  "listen",
  "return",
  "proxy_pass",
  "proxy_set_header",
  "ssl_certificate",
  "ssl_certificate_key",
];

export function isKnownDirective(name: string): boolean {
  return name in STATIC_VERDICTS || name in OPTION_HANDLERS || STRUCTURAL.includes(name);
}

// Blocks whose entries are data, not directives.
const DATA_BLOCKS = new Set(["map", "types", "geo", "split_clients", "charset_map", "match"]);

/**
 * A forgotten ";" makes nginx read the next line as more arguments (`listen 80` + `server_name _;` → one directive
 * "listen 80 server_name _"), which nginx -t reports only as an odd parameter. An unquoted argument on a later line
 * that is itself a directive name is almost certainly that mistake.
 */
function checkMissingSemicolons(list: Directive[]): void {
  for (const d of list) {
    let previous = d.line;
    for (const a of d.args) {
      if (a.line > d.line && !a.quoted && isKnownDirective(a.text)) {
        throw new NginxImportError(
          d.file,
          previous,
          `missing ";" after "${d.name}" (line ${d.line}): "${a.text}" on line ${a.line} reads as one of its arguments`,
        );
      }
      previous = a.line;
    }
    if (d.block && !DATA_BLOCKS.has(d.name)) checkMissingSemicolons(d.block);
  }
}

const contains = (block: Directive, target: Directive): boolean =>
  expand(block.block).some((d) => d === target || (d.block !== undefined && contains(d, target)));

function locationVerdict(d: Directive, plan: Plan): Verdict | "walk-same" | "walk-chosen" {
  if (contains(d, plan.chosen)) return "walk-chosen";
  const proxies = (b: Directive): boolean =>
    expand(b.block).some(
      (x) =>
        (x.name === "proxy_pass" && plan.planned.get(x)?.kind === "not_needed") ||
        (x.name === "location" && proxies(x)),
    );
  if (proxies(d)) return "walk-same";
  return otherLocation(d);
}

function otherLocation(d: Directive): Verdict {
  const kids = expand(d.block);
  if (/^\/\.well-known\/acme-challenge\/?$/.test(d.args[d.args.length - 1]?.text ?? "")) {
    return {
      kind: "unsupported",
      message:
        "ACME HTTP-01 challenges are not served: certificate renewal through this webroot stops; renew with a DNS challenge or certbot --standalone, the sidecar reloads tlsCert/tlsKey when they change",
    };
  }
  const elsewhere = kids.find((x) => x.name === "proxy_pass");
  const what = elsewhere ? `proxy_pass ${elsewhere.args[0]?.text}` : kids.map((x) => x.name).join(", ") || "nothing";
  return {
    kind: "unsupported",
    message: `this location (${what}) is not reproduced: the sidecar sends every path to the gateway`,
  };
}

// In the redirect server, `location /` only holds the planned return; other locations (ACME) are reported whole.
function redirectLocation(d: Directive, plan: Plan): Verdict | "walk-chosen" {
  return expand(d.block).some((x) => plan.planned.get(x)?.kind === "translated" && x.name === "return")
    ? "walk-chosen"
    : otherLocation(d);
}

function locationMessage(d: Directive): string {
  const args = d.args.map((a) => a.text);
  if (args.length === 1 && args[0] === "/")
    return "the sidecar forwards every path, and WebSocket upgrades on any path, to the gateway";
  return `the sidecar forwards every path to the gateway, not only those matching "${args.join(" ")}"`;
}

interface Ctx {
  role: "main" | "gateway" | "redirect" | "upstream";
  depth: number;
}

export function translate(tree: Directive[], mainFile: string): ImportResult {
  checkMissingSemicolons(tree);
  const plan = analyze(tree, mainFile);
  const notes: Note[] = [];
  const set = new Map<string, { value: unknown; depth: number }>();
  const hops: string[] = [];
  let depth = 0;
  const cx: OptionContext = {
    set(key, value) {
      const prev = set.get(key);
      if (prev === undefined || depth >= prev.depth) set.set(key, { value, depth });
    },
    trustHop(cidr) {
      if (!hops.includes(cidr)) hops.push(cidr);
    },
    tls: plan.tls,
  };
  const note = (d: Directive, v: Verdict) =>
    notes.push({ file: d.file, line: d.line, directive: d.name, kind: v.kind, message: v.message });

  const walk = (list: Directive[], ctx: Ctx): void => {
    for (const d of list) {
      depth = ctx.depth;
      const planned = plan.planned.get(d);
      if (planned) {
        note(d, planned);
        continue;
      }
      const inner = { ...ctx, depth: ctx.depth + 1 };
      switch (d.name) {
        case "include":
          if (d.included?.length === 0) {
            const mime = d.block?.length === 0 && /(^|\/)mime\.types$/.test(d.args[0]?.text ?? "");
            note(d, {
              kind: "not_needed",
              message: mime
                ? "MIME types: the gateway sets Content-Type itself"
                : "matched no file (nginx accepts that too)",
            });
          }
          walk(d.block ?? [], ctx);
          continue;
        case "events":
        case "http":
          walk(d.block ?? [], inner);
          continue;
        case "server":
          if (d === plan.gatewayServer) {
            if (plan.serverNote) note(d, plan.serverNote);
            walk(d.block ?? [], { role: "gateway", depth: inner.depth });
          } else if (plan.redirectServers.has(d)) {
            walk(d.block ?? [], { role: "redirect", depth: inner.depth });
          } else {
            const names = expand(d.block)
              .filter((x) => x.name === "listen" || x.name === "server_name")
              .map((x) => `${x.name} ${x.args.map((a) => a.text).join(" ")}`);
            note(d, {
              kind: "unsupported",
              message: `another virtual server (${names.join("; ") || "no listen"}) is not reproduced: the sidecar serves the gateway only`,
            });
          }
          continue;
        case "upstream":
          if (d === plan.upstreamBlock) walk(d.block ?? [], { role: "upstream", depth: inner.depth });
          else note(d, { kind: "not_needed", message: "not used by the proxy_pass that reaches the gateway" });
          continue;
        case "location": {
          const v =
            ctx.role === "gateway"
              ? locationVerdict(d, plan)
              : ctx.role === "redirect"
                ? redirectLocation(d, plan)
                : otherLocation(d);
          if (typeof v !== "string") {
            note(d, v);
            continue;
          }
          if (ctx.role === "redirect")
            note(d, { kind: "translated", message: "every plain-HTTP path is redirected (httpsRedirectListen)" });
          else if (v === "walk-chosen") note(d, { kind: "translated", message: locationMessage(d) });
          else
            note(d, { kind: "not_needed", message: "also proxies to the gateway: the sidecar forwards this path too" });
          walk(d.block ?? [], inner);
          continue;
        }
        case "map":
          note(
            d,
            d.args[0]?.text === "$http_upgrade"
              ? {
                  kind: "not_needed",
                  message: "the sidecar handles Upgrade/Connection for WebSocket handshakes itself",
                }
              : { kind: "unsupported", message: "variables: the sidecar forwards every request the same way" },
          );
          continue;
        case "return":
          note(d, {
            kind: "unsupported",
            message: "fixed responses are not reproduced: the sidecar forwards every request to the gateway",
          });
          continue;
        case "server_name":
          if (ctx.role !== "gateway") {
            note(d, { kind: "not_needed", message: "the sidecar's redirect answers every Host" });
            continue;
          }
          break;
        case "proxy_set_header":
          note(d, proxySetHeader(d));
          continue;
        case "ssl_certificate":
        case "ssl_certificate_key":
          note(d, { kind: "not_needed", message: "no listen … ssl in this server block uses it" });
          continue;
      }
      const handler = OPTION_HANDLERS[d.name];
      const fixed = STATIC_VERDICTS[d.name];
      if (handler) note(d, handler(d, cx));
      else if (fixed) note(d, fixed);
      else
        note(d, {
          kind: "unsupported",
          message: `unknown directive${d.block ? ` (a block of ${d.block.length})` : ""}: not translated; check whether the sidecar needs an equivalent`,
        });
    }
  };
  walk(tree, { role: "main", depth: 0 });

  const found: Record<string, unknown> = { ...plan.options, mode: "attribution" };
  for (const [key, { value }] of set) found[key] = value;
  if (hops.length > 0) found.trustedHops = hops;
  // Key order as in the sidecar's own option list, so that every import prints the same shape.
  const config: Record<string, unknown> = {};
  for (const key of OPTION_KEYS) if (found[key] !== undefined) config[key] = found[key];
  return { config, notes };
}
