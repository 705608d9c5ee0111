// The pieces under the golden cases: nginx's token rules, value syntax, the one-note-per-directive promise, and the
// CLI's streams and exit codes.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { runImportNginx } from "./cli.ts";
import { NginxImportError } from "./errors.ts";
import { parseCase, runCase } from "./golden.ts";
import type { Note } from "./notes.ts";
import { type Directive, parseConfig } from "./parser.ts";
import { tokenize } from "./tokenizer.ts";
import { parseListen, parseSize, parseTime } from "./values.ts";

const words = (text: string) => tokenize(text, "t.conf").map((t) => (t.kind === "word" ? t.text : t.kind));

describe("tokenizer (ngx_conf_read_token rules)", () => {
  it.each([
    ["a b;", ["a", "b", ";"]],
    ["a \"b c\" 'd';", ["a", "b c", "d", ";"]],
    ['a "x\\"y\\\\z\\n";', ["a", 'x"y\\z\n', ";"]],
    ["a b\\;c;", ["a", "b\\;c", ";"]], // an escaped ";" does not end the word, and nginx keeps the backslash
    ["a \\d;", ["a", "\\d", ";"]], // unknown escapes are kept as written
    ["a#b c; # comment\nd;", ["a#b", "c", ";", "d", ";"]], // "#" inside a word is not a comment
    ["x ${var}y;", ["x", "${var}y", ";"]], // "{" after "$" does not open a block
    ["s{a;}", ["s", "{", "a", ";", "}"]],
    ["a b}", ["a", "b}"]], // nginx: "}" does not end a word
    ['a "";', ["a", "", ";"]],
  ])("%j", (text, expected) => {
    expect(words(text)).toEqual(expected);
  });

  it("counts lines inside quoted strings and marks quoted words", () => {
    const toks = tokenize('a "x\ny"\nb;', "t.conf");
    expect(toks.map((t) => [t.text, t.line, t.quoted])).toEqual([
      ["a", 1, false],
      ["x\ny", 1, true],
      ["b", 3, false],
      ["", 3, false],
    ]);
  });

  it("refuses a character glued to a closing quote, as nginx does", () => {
    expect(() => tokenize('a "b"c;', "t.conf")).toThrow(/t\.conf:1: unexpected "c" right after a quoted string/);
  });
});

describe("values", () => {
  it.each([
    ["86400", 86_400_000],
    ["60s", 60_000],
    ["1m30s", 90_000],
    ["500ms", 500],
    ["1d", 86_400_000],
    ["1h", 3_600_000],
    ["5x", undefined],
    ["", undefined],
  ])("time %j", (text, ms) => expect(parseTime(text)).toBe(ms));
  it.each([
    ["512", 512],
    ["8k", 8192],
    ["1M", 1_048_576],
    ["1g", 1024 ** 3],
    ["8kb", undefined],
  ])("size %j", (text, bytes) => expect(parseSize(text)).toBe(bytes));
  it.each([
    [["80"], { host: "0.0.0.0", port: 80, ssl: false, dropped: [] }],
    [["*:8080", "default_server"], { host: "0.0.0.0", port: 8080, ssl: false, dropped: [] }],
    [["127.0.0.1"], { host: "127.0.0.1", port: 80, ssl: false, dropped: [] }],
    [["[::]:443", "ssl", "http2"], { host: "::", port: 443, ssl: true, dropped: [] }],
    [["[::1]"], { host: "::1", port: 80, ssl: false, dropped: [] }],
    [["80", "proxy_protocol"], { host: "0.0.0.0", port: 80, ssl: false, dropped: ["proxy_protocol"] }],
    [["unix:/run/nginx.sock"], undefined],
    [["99999"], undefined],
  ])("listen %j", (args, expected) => expect(parseListen(args)).toEqual(expected));
});

describe("every directive gets exactly one note, or is a container", () => {
  const CONTAINERS = new Set(["events", "http", "server", "upstream", "include"]);
  const cases = readdirSync(join(import.meta.dirname, "cases")).filter(
    (f) => f.endsWith(".case") && !f.startsWith("error-"),
  );
  const cleanups: (() => void)[] = [];
  afterAll(() => cleanups.forEach((c) => c()));

  it.each(cases)("%s", (name) => {
    const run = runCase(parseCase(readFileSync(join(import.meta.dirname, "cases", name), "utf8")));
    cleanups.push(run.cleanup);
    const notes = run.result?.notes ?? [];
    const key = (file: string, line: number, directive: string) => `${file}:${line}:${directive}`;
    const byKey = new Map<string, Note[]>();
    for (const n of notes)
      byKey.set(key(n.file, n.line, n.directive), [...(byKey.get(key(n.file, n.line, n.directive)) ?? []), n]);
    for (const [k, list] of byKey) expect(list.length, k).toBe(1);
    const noted = (d: Directive) => byKey.has(key(d.file, d.line, d.name));
    const anyNoted = (list: Directive[] = []): boolean => list.some((d) => noted(d) || anyNoted(d.block));
    const check = (list: Directive[] = []) => {
      for (const d of list) {
        if (noted(d)) {
          if (anyNoted(d.block)) check(d.block); // a walked block (the gateway's location): its children have their own
        } else {
          expect(CONTAINERS.has(d.name), `${key(d.file, d.line, d.name)} has no note`).toBe(true);
          check(d.block);
        }
      }
    };
    check(parseConfig(join(run.dir, "nginx.conf")));
  });
});

class Sink extends Writable {
  text = "";
  override _write(chunk: Buffer, _enc: string, done: () => void) {
    this.text += chunk.toString();
    done();
  }
}

describe("runImportNginx", () => {
  const seed = join(import.meta.dirname, "seed.nginx.conf");

  it("prints the config on stdout and the report on stderr, exit 0", () => {
    const out = new Sink();
    const err = new Sink();
    expect(runImportNginx([seed], out, err)).toBe(0);
    expect(JSON.parse(out.text)).toEqual({
      listen: "0.0.0.0:80",
      upstream: "http://gateway:18789",
      mode: "attribution",
    });
    expect(err.text).toMatch(/seed\.nginx\.conf:18 {2}proxy_set_header {2}insecure {2}this appends/);
    expect(err.text).toMatch(/^summary: 4 translated, 6 not needed, 0 unsupported, 2 insecure in the original$/m);
  });

  it("exits 2 with file:line on bad input, and prints nothing on stdout", () => {
    const out = new Sink();
    const err = new Sink();
    expect(runImportNginx([join(import.meta.dirname, "no-such.conf")], out, err)).toBe(2);
    expect(out.text).toBe("");
    expect(err.text).toMatch(/^error: .*no-such\.conf cannot read it \(ENOENT\)\n$/);
  });

  it("exits 2 with usage when the file is missing or extra arguments are given", () => {
    for (const argv of [[], [seed, "extra"], ["--help"]]) {
      const err = new Sink();
      expect(runImportNginx(argv, new Sink(), err)).toBe(2);
      expect(err.text).toMatch(/^usage: openclaw-sidecar import-nginx/);
    }
  });

  it("NginxImportError carries file and line", () => {
    try {
      parseConfig(join(import.meta.dirname, "cases", "missing-dir", "nginx.conf"));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(NginxImportError);
      expect((e as NginxImportError).line).toBe(0);
      expect((e as NginxImportError).file).toMatch(/missing-dir\/nginx\.conf$/);
    }
  });
});
