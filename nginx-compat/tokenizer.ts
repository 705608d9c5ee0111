// nginx configuration syntax, token by token, following ngx_conf_read_token (src/core/ngx_conf_file.c) so that the
// importer accepts exactly what nginx accepts:
// - words end at whitespace, ";" or "{" — but NOT at "}": nginx reads `foo}` as one word, and `${var}` works because
//   a "{" right after "$" does not end the word either;
// - "#" starts a comment only where a new token could start (`a#b` is one word);
// - '…' and "…" are quoted strings; after the closing quote nginx demands whitespace, ";" or "{";
// - a backslash escapes the next character; \" \' \\ \t \r \n are decoded, any other pair is kept as written.
import { NginxImportError } from "./errors.ts";

export type TokenKind = "word" | ";" | "{" | "}";

export interface Token {
  kind: TokenKind;
  /** The decoded text of a word ("" for punctuation). */
  text: string;
  /** True when the word was quoted: `""` is an (empty) argument, not nothing. */
  quoted: boolean;
  line: number;
}

const SPACE = new Set([" ", "\t", "\r", "\n"]);

function decode(raw: string): string {
  return raw.replace(/\\([\s\S])/g, (pair, ch: string) => {
    switch (ch) {
      case '"':
      case "'":
      case "\\":
        return ch;
      case "t":
        return "\t";
      case "r":
        return "\r";
      case "n":
        return "\n";
      default:
        return pair;
    }
  });
}

/** Splits one file into tokens. Throws NginxImportError (file:line) on an unterminated quote or a bad character. */
export function tokenize(text: string, file: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  const n = text.length;
  while (i < n) {
    const ch = text[i] as string;
    if (SPACE.has(ch)) {
      if (ch === "\n") line++;
      i++;
      continue;
    }
    if (ch === "#") {
      while (i < n && text[i] !== "\n") i++;
      continue;
    }
    if (ch === ";" || ch === "{" || ch === "}") {
      tokens.push({ kind: ch, text: "", quoted: false, line });
      i++;
      continue;
    }
    if (ch === '"' || ch === "'") {
      const start = line;
      let j = i + 1;
      while (j < n && text[j] !== ch) {
        if (text[j] === "\\") j++;
        if (text[j] === "\n") line++;
        j++;
      }
      if (j >= n)
        throw new NginxImportError(file, start, `unterminated ${ch === '"' ? "double" : "single"}-quoted string`);
      tokens.push({ kind: "word", text: decode(text.slice(i + 1, j)), quoted: true, line: start });
      i = j + 1;
      const next = text[i];
      if (next !== undefined && !SPACE.has(next) && next !== ";" && next !== "{") {
        throw new NginxImportError(
          file,
          line,
          `unexpected "${next}" right after a quoted string (nginx needs a space, ";" or "{")`,
        );
      }
      continue;
    }
    // A bare word: runs to whitespace, ";" or "{" (unless the "{" follows "$"). A backslash protects the next char.
    const start = i;
    while (i < n) {
      const c = text[i] as string;
      if (c === "\\") {
        if (text[i + 1] === "\n") line++;
        i += 2;
        continue;
      }
      if (SPACE.has(c) || c === ";") break;
      if (c === "{" && text[i - 1] !== "$") break;
      i++;
    }
    tokens.push({ kind: "word", text: decode(text.slice(start, Math.min(i, n))), quoted: false, line });
  }
  return tokens;
}
