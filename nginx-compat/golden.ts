// The golden case format (after Caddy's caddyfile_adapt tests): the nginx.conf, a line of ten dashes, then exactly
// what a user would see — the JSON config and the report, or `error: file:line message`. Extra files for `include`
// follow a `# file: <relative path>` marker line (itself an nginx comment, so the input stays a valid nginx.conf);
// the text before the first marker is nginx.conf.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { NginxImportError, formatConfig, formatError, formatNotes, importNginx } from "./import.ts";
import type { ImportResult } from "./notes.ts";

export const SEPARATOR = "----------";

export interface GoldenCase {
  files: Map<string, string>;
  input: string;
  expected: string;
}

export function parseCase(text: string): GoldenCase {
  const at = text.indexOf(`\n${SEPARATOR}\n`);
  if (at === -1) throw new Error(`a case needs a line of ten dashes (${SEPARATOR}) between input and expected output`);
  const input = text.slice(0, at + 1);
  const files = new Map<string, string>();
  let name = "nginx.conf";
  let lines: string[] = [];
  for (const line of input.split("\n").slice(0, -1)) {
    const marker = /^# file: (\S+)\s*$/.exec(line);
    if (marker) {
      files.set(name, lines.map((l) => `${l}\n`).join(""));
      name = marker[1] as string;
      lines = [];
    } else {
      lines.push(line);
    }
  }
  files.set(name, lines.map((l) => `${l}\n`).join(""));
  return { files, input, expected: text.slice(at + SEPARATOR.length + 2) };
}

/** Writes the case's files into a fresh directory, imports nginx.conf, and prints the result as the case expects it. */
export function runCase(c: GoldenCase): {
  output: string;
  result: ImportResult | undefined;
  dir: string;
  cleanup: () => void;
} {
  const dir = mkdtempSync(join(tmpdir(), "nginx-case-"));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  for (const [name, content] of c.files) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), content);
  }
  try {
    const result = importNginx(join(dir, "nginx.conf"));
    return { output: `${formatConfig(result.config)}\n${formatNotes(result.notes, dir)}`, result, dir, cleanup };
  } catch (err) {
    if (err instanceof NginxImportError) return { output: formatError(err, dir), result: undefined, dir, cleanup };
    cleanup();
    throw err;
  }
}
