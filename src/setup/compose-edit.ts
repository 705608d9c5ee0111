// Reading and editing a user's compose file through the `yaml` Document API, which keeps comments, key order, quoting
// and everything init does not touch. Every edit goes through a check that it does not reach into a YAML anchor that
// another place aliases (changing it there would silently change the other services too): such files are refused.
import {
  Document,
  type Node,
  Pair,
  Scalar,
  YAMLMap,
  YAMLSeq,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  parseAllDocuments,
  visit,
} from "yaml";
import { InitRefusal } from "./init-refusal.ts";

/** How init writes a compose document back: the official file's own style (no padding inside flow brackets). */
export const COMPOSE_STRING_OPTIONS = { flowCollectionPadding: false } as const;

export class ComposeFile {
  readonly doc: Document;
  readonly file: string;
  /** Anchors that an alias somewhere refers to: nodes carrying one are shared and must not be edited. */
  readonly sharedAnchors = new Set<string>();

  constructor(text: string, file: string) {
    this.file = file;
    const docs = parseAllDocuments(text);
    if (!Array.isArray(docs) || docs.length !== 1)
      throw new InitRefusal(
        `${file} holds ${Array.isArray(docs) ? docs.length : 0} YAML documents; init edits a compose file with exactly one.`,
      );
    const doc = docs[0] as Document;
    if (doc.errors.length > 0) throw new InitRefusal(`${file} is not valid YAML: ${doc.errors[0]?.message}`);
    this.doc = doc;
    visit(doc, {
      Alias: (_key, node) => {
        this.sharedAnchors.add(node.source);
      },
    });
  }

  toString(): string {
    return this.doc.toString(COMPOSE_STRING_OPTIONS);
  }

  /** The top-level `services` mapping. */
  services(): YAMLMap {
    const services = this.doc.get("services", true);
    if (!isMap(services)) throw new InitRefusal(`${this.file} has no \`services:\` mapping; is it a compose file?`);
    return services;
  }

  serviceNames(): string[] {
    return this.services().items.map((p) => String(isScalar(p.key) ? p.key.value : p.key));
  }

  /** The service called `name`, refused with the names there are when it is missing. */
  service(name: string, flag: string): YAMLMap {
    const node = this.services().get(name, true);
    if (node === undefined) {
      throw new InitRefusal(
        `${this.file} has no service "${name}" (services: ${this.serviceNames().join(", ") || "none"}); name yours with ${flag} NAME.`,
      );
    }
    const where = `services.${name}`;
    if (isAlias(node))
      throw new InitRefusal(
        `${this.file}: ${where} is an alias (*${node.source}); init would have to edit the anchor it shares. Write the service out in full first.`,
      );
    if (!isMap(node)) throw new InitRefusal(`${this.file}: ${where} is not a mapping.`);
    this.assertOwn(node, where);
    return node;
  }

  /** Refuses when `node` is an alias or carries an anchor that something aliases. */
  assertOwn(node: unknown, where: string): void {
    if (isAlias(node))
      throw new InitRefusal(
        `${this.file}: ${where} is an alias (*${node.source}) shared with other places; init would break the anchor. Write it out in full, then run init again.`,
      );
    const anchor = (node as Node | undefined)?.anchor;
    if (anchor !== undefined && this.sharedAnchors.has(anchor)) {
      throw new InitRefusal(
        `${this.file}: ${where} carries the anchor &${anchor}, which other places alias; init would change them too. Write it out in full, then run init again.`,
      );
    }
  }

  /**
   * The value of `key` in a service, for editing: refused when it comes from a `<<` merge (it lives in an anchor
   * shared with other services) or is itself shared.
   */
  editable(service: YAMLMap, serviceName: string, key: string): Node | undefined {
    const where = `services.${serviceName}.${key}`;
    const own = service.get(key, true) as Node | undefined;
    if (own === undefined && this.mergedKeys(service).has(key)) {
      throw new InitRefusal(
        `${this.file}: ${where} comes from a \`<<:\` merge of a shared anchor; init would have to change every service that merges it. Copy ${key} into ${serviceName} itself, then run init again.`,
      );
    }
    if (own !== undefined) this.assertOwn(own, where);
    if (isMap(own) || isSeq(own))
      for (const item of own.items) this.assertOwn(isPairLike(item) ? item.value : item, `${where} (an entry)`);
    return own;
  }

  /** Keys a mapping gets through `<<: *anchor` (or `<<: [*a, *b]`). */
  mergedKeys(map: YAMLMap): Set<string> {
    const keys = new Set<string>();
    const merge = map.get("<<", true) as Node | undefined;
    const sources = isSeq(merge) ? merge.items : merge === undefined ? [] : [merge];
    for (const source of sources) {
      const target = isAlias(source) ? source.resolve(this.doc) : source;
      if (isMap(target)) for (const p of target.items) keys.add(String(isScalar(p.key) ? p.key.value : p.key));
    }
    return keys;
  }

  /** The top-level mapping `key` (networks, volumes, …), created empty at the end when missing. */
  topLevel(key: string): YAMLMap {
    const node = this.doc.get(key, true);
    if (node === undefined || (isScalar(node) && node.value === null)) {
      const map = new YAMLMap();
      const k = new Scalar(key);
      k.spaceBefore = true;
      (this.doc.contents as YAMLMap).items = (this.doc.contents as YAMLMap).items.filter((p) => keyOf(p) !== key);
      (this.doc.contents as YAMLMap).items.push(new Pair(k, map));
      return map;
    }
    if (!isMap(node)) throw new InitRefusal(`${this.file}: the top-level \`${key}:\` is not a mapping.`);
    this.assertOwn(node, key);
    return node;
  }

  /** A double-quoted string scalar (what Compose's own examples use for ports and options with colons). */
  quoted(value: string): Scalar {
    const s = new Scalar(value);
    s.type = Scalar.QUOTE_DOUBLE;
    return s;
  }

  /** A node for `value` in this document (block style unless `flow`). */
  node(value: unknown, flow = false): Node {
    const node = this.doc.createNode(value) as Node;
    if (flow && (isMap(node) || isSeq(node))) node.flow = true;
    return node;
  }
}

function isPairLike(item: unknown): item is Pair {
  return item instanceof Pair;
}

/** `key` of a map entry as a string. */
export const keyOf = (p: Pair): string => String(isScalar(p.key) ? p.key.value : p.key);

// ---- ports ----

export interface PortMapping {
  hostIp?: string;
  /** As written (may hold ${VARIABLES}); undefined when Docker picks the host port. */
  hostPort?: string;
  /** As written, without /tcp. */
  containerPort: string;
}

/** Splits on ':' outside `${…}` and `[…]` (IPv6 host addresses). */
function splitColons(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if ((c === "{" && text[i - 1] === "$") || c === "[") depth++;
    else if ((c === "}" || c === "]") && depth > 0) depth--;
    if (c === ":" && depth === 0) {
      parts.push(current);
      current = "";
    } else current += c;
  }
  parts.push(current);
  return parts;
}

/**
 * One entry of a service's `ports:` (short `"[ip:][host:]container[/proto]"` or long `{target, published, host_ip}`).
 */
export function parsePort(item: unknown): PortMapping | undefined {
  if (isScalar(item)) {
    const parts = splitColons(String(item.value).replace(/\/(tcp|udp|sctp)$/, ""));
    if (parts.length === 1) return { containerPort: parts[0] as string };
    if (parts.length === 2) return { hostPort: parts[0] as string, containerPort: parts[1] as string };
    if (parts.length === 3)
      return {
        hostIp: (parts[0] as string).replace(/^\[|\]$/g, ""),
        ...(parts[1] ? { hostPort: parts[1] } : {}),
        containerPort: parts[2] as string,
      };
    return undefined;
  }
  if (isMap(item)) {
    const target = item.get("target");
    if (target === undefined) return undefined;
    const published = item.get("published");
    const hostIp = item.get("host_ip");
    return {
      containerPort: String(target),
      ...(published !== undefined ? { hostPort: String(published) } : {}),
      ...(hostIp !== undefined ? { hostIp: String(hostIp) } : {}),
    };
  }
  return undefined;
}

// ---- command lines ----

/** The words of a `command:`, with a way to replace one in place (keeping the quoting of a flow sequence). */
export interface CommandLine {
  args: string[];
  replace(index: number, value: string): void;
}

export function commandLine(service: YAMLMap, compose: ComposeFile, serviceName: string): CommandLine | undefined {
  const node = compose.editable(service, serviceName, "command");
  if (node === undefined) return undefined;
  if (isSeq(node)) {
    const items = node.items as Scalar[];
    return {
      args: items.map((s) => String(isScalar(s) ? s.value : s)),
      replace: (index, value) => {
        const old = items[index] as Scalar;
        const next = new Scalar(value);
        next.type = old.type;
        node.items[index] = next;
      },
    };
  }
  if (isScalar(node) && typeof node.value === "string") {
    const words = node.value.trim().split(/\s+/);
    return {
      args: words,
      replace: (index, value) => {
        words[index] = value;
        node.value = words.join(" ");
      },
    };
  }
  return undefined;
}

/** `--name value` or `--name=value` in `args`: the value and how to replace it. */
export function commandOption(
  line: CommandLine,
  name: string,
): { value: string; set(value: string): void } | undefined {
  for (let i = 0; i < line.args.length; i++) {
    const arg = line.args[i] as string;
    if (arg === name && i + 1 < line.args.length)
      return { value: line.args[i + 1] as string, set: (v) => line.replace(i + 1, v) };
    if (arg.startsWith(`${name}=`))
      return { value: arg.slice(name.length + 1), set: (v) => line.replace(i, `${name}=${v}`) };
  }
  return undefined;
}

// ---- environment ----

/** Removes `name` from a service's `environment:` (mapping or `KEY=VALUE` list). True when it was there. */
export function removeEnvironment(env: Node | undefined, name: string): boolean {
  if (isMap(env)) return env.delete(name);
  if (isSeq(env)) {
    const index = env.items.findIndex(
      (i) => isScalar(i) && (String(i.value) === name || String(i.value).startsWith(`${name}=`)),
    );
    if (index === -1) return false;
    env.items.splice(index, 1);
    return true;
  }
  return false;
}

/** Appends `file` to a service's `env_file:` (a string, a list, or missing). */
export function addEnvFile(compose: ComposeFile, service: YAMLMap, serviceName: string, file: string): void {
  const current = compose.editable(service, serviceName, "env_file");
  if (current === undefined) service.set("env_file", compose.node([file]));
  else if (isSeq(current)) current.items.push(compose.node(file));
  else if (isScalar(current)) service.set("env_file", compose.node([String(current.value), file]));
  else throw new InitRefusal(`${compose.file}: services.${serviceName}.env_file is neither a path nor a list.`);
}

/** Adds network `name` (with `settings`, e.g. an ipv4_address) to a service's `networks:`, creating it when missing. */
export function joinNetwork(
  compose: ComposeFile,
  service: YAMLMap,
  serviceName: string,
  name: string,
  settings: Record<string, unknown> | undefined,
): void {
  const current = compose.editable(service, serviceName, "networks");
  if (current === undefined) {
    // A service without `networks:` is on `default`; listing networks takes it off unless default is listed too.
    service.set(
      "networks",
      compose.node(settings === undefined ? ["default", name] : { default: {}, [name]: settings }),
    );
  } else if (isSeq(current)) {
    if (settings === undefined) current.items.push(compose.node(name));
    else {
      // A list cannot carry settings: turn it into the equivalent mapping.
      const map = compose.node(
        Object.fromEntries(current.items.map((i) => [String(isScalar(i) ? i.value : i), {}])),
      ) as YAMLMap;
      map.set(name, compose.node(settings));
      service.set("networks", map);
    }
  } else if (isMap(current)) current.set(name, compose.node(settings ?? {}));
  else throw new InitRefusal(`${compose.file}: services.${serviceName}.networks is neither a list nor a mapping.`);
}

/** Inserts `key: value` into `map` as its last entry, with a comment line above it and a blank line before. */
export function appendWithComment(map: YAMLMap, key: string, value: Node, comment: string): void {
  const k = new Scalar(key);
  k.commentBefore = comment
    .split("\n")
    .map((l) => ` ${l}`)
    .join("\n");
  k.spaceBefore = true;
  map.items.push(new Pair(k, value));
}

export { isMap, isScalar, isSeq, YAMLMap, YAMLSeq };
