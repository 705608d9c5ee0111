// Tokens → directive tree, with `include` resolved the way nginx resolves it. Every node keeps its file and line so
// that each note and each error can point at the exact place in the user's configuration.
import { globSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, isAbsolute, resolve } from "node:path";
import { NginxImportError } from "./errors.ts";
import { type Token, tokenize } from "./tokenizer.ts";

export interface Arg {
  text: string;
  quoted: boolean;
  line: number;
}

export interface Directive {
  name: string;
  args: Arg[];
  /** Absolute path of the file the directive is written in. */
  file: string;
  line: number;
  /** Children of a block directive (`server { … }`); for `include`, the directives read from the included files. */
  block?: Directive[];
  /** For `include`: the files it read (empty when a glob matched nothing or the include was not read). */
  included?: string[];
}

const MAX_INCLUDE_DEPTH = 20;

/** Reads and parses a configuration file and everything it includes. */
export function parseConfig(path: string): Directive[] {
  const main = resolve(path);
  // nginx resolves a relative include against its prefix — the directory of the main nginx.conf — not against the
  // including file (ngx_conf_include → ngx_conf_full_name(…, conf_prefix=1)). conf.d/x.conf including
  // "snippets/y.conf" therefore means <dir of nginx.conf>/snippets/y.conf.
  return parseFile(main, { prefix: dirname(main), stack: [] }, undefined);
}

interface Context {
  prefix: string;
  stack: string[];
}

function readText(file: string, from: Directive | undefined): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    // The argument as written, not the resolved path: that is what the user can find in the file.
    if (from)
      throw new NginxImportError(
        from.file,
        from.line,
        `include ${from.args[0]?.text}: cannot read it (${code}; relative names are resolved against the directory of the main nginx.conf)`,
      );
    throw new NginxImportError(file, 0, `cannot read it (${code})`);
  }
}

function parseFile(file: string, ctx: Context, from: Directive | undefined): Directive[] {
  if (ctx.stack.includes(file))
    throw new NginxImportError(
      from?.file ?? file,
      from?.line ?? 0,
      `include cycle: ${[...ctx.stack, file].join(" → ")}`,
    );
  if (ctx.stack.length >= MAX_INCLUDE_DEPTH)
    throw new NginxImportError(from?.file ?? file, from?.line ?? 0, "includes nested too deeply");
  const tokens = tokenize(readText(file, from), file);
  const inner: Context = { prefix: ctx.prefix, stack: [...ctx.stack, file] };
  const state = { pos: 0 };
  const list = parseList(tokens, state, file, inner, undefined);
  return list;
}

/** Parses directives until the matching "}" (when `open` is the block being read) or the end of the file. */
function parseList(
  tokens: Token[],
  state: { pos: number },
  file: string,
  ctx: Context,
  open: Directive | undefined,
): Directive[] {
  const out: Directive[] = [];
  let words: Token[] = [];
  const pending = () => {
    const first = words[0] as Token;
    const last = words[words.length - 1] as Token;
    return { first, last };
  };
  while (state.pos < tokens.length) {
    const tok = tokens[state.pos++] as Token;
    if (tok.kind === "word") {
      words.push(tok);
      continue;
    }
    if (tok.kind === "}") {
      if (words.length > 0) {
        const { first, last } = pending();
        throw new NginxImportError(
          file,
          last.line,
          `missing ";" after "${first.text}" (line ${first.line}) before "}" on line ${tok.line}`,
        );
      }
      if (open === undefined) throw new NginxImportError(file, tok.line, 'unexpected "}": no block is open here');
      return out;
    }
    if (words.length === 0)
      throw new NginxImportError(file, tok.line, `unexpected "${tok.kind}": no directive before it`);
    const [name, ...args] = words;
    const d: Directive = {
      name: (name as Token).text,
      args: args.map((a) => ({ text: a.text, quoted: a.quoted, line: a.line })),
      file,
      line: (name as Token).line,
    };
    words = [];
    if (tok.kind === "{") d.block = parseList(tokens, state, file, ctx, d);
    else if (d.name === "include") resolveInclude(d, ctx);
    out.push(d);
  }
  if (words.length > 0) {
    const { first, last } = pending();
    throw new NginxImportError(
      file,
      last.line,
      `unexpected end of file: missing ";" after "${first.text}" (line ${first.line})`,
    );
  }
  if (open !== undefined)
    throw new NginxImportError(
      file,
      open.line,
      `unexpected end of file: the "{" of "${open.name}" is never closed (missing "}")`,
    );
  return out;
}

function resolveInclude(d: Directive, ctx: Context): void {
  const arg = d.args[0];
  if (d.args.length !== 1 || arg === undefined)
    throw new NginxImportError(d.file, d.line, `"include" takes exactly one file name, got ${d.args.length}`);
  d.block = [];
  d.included = [];
  // The MIME table nginx ships (include mime.types) is not ours to read: the gateway sets its own Content-Type, and
  // the file usually only exists inside the nginx image. The translator reports it as not needed.
  if (basename(arg.text) === "mime.types") return;
  const pattern = isAbsolute(arg.text) ? arg.text : resolve(ctx.prefix, arg.text);
  let files: string[];
  if (/[*?[]/.test(arg.text)) {
    // A glob that matches nothing is fine for nginx too; matches are read in sorted order, like nginx's ngx_glob.
    files = globSync(pattern)
      .map((f) => resolve(f))
      .filter((f) => statSync(f).isFile())
      .sort();
  } else {
    files = [pattern];
  }
  for (const f of files) {
    d.block.push(...parseFile(f, ctx, d));
    d.included.push(f);
  }
}
