// The human-readable log format (logFormat pretty, the default on a terminal): each JSON line pino or the line writer
// produces is rewritten as `time LEVEL message key=value …`, so both formats carry the same fields, redactions
// included (they are applied before the JSON is made). Not a dependency (pino-pretty): a line format is a few lines.

/**
 * `key=value`. A string is JSON-quoted when it could not be read back otherwise (whitespace, a quote, "=", empty);
 * anything else is its compact JSON, quoted only when that holds whitespace.
 */
function pair(key: string, value: unknown): string {
  if (typeof value === "string")
    return `${key}=${value === "" || /[\s"=\\]/.test(value) ? JSON.stringify(value) : value}`;
  const json = JSON.stringify(value);
  return `${key}=${/\s/.test(json) ? JSON.stringify(json) : json}`;
}

/** One JSON log line (with or without its newline) as a pretty line with a newline. Not JSON: passed as it is. */
export function prettyLine(json: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith("\n") ? json : `${json}\n`;
  }
  const { time, level, msg, ...fields } = entry;
  let line = `${String(time ?? "")} ${String(level ?? "")
    .toUpperCase()
    .padEnd(5)} ${String(msg ?? "")}`;
  for (const [key, value] of Object.entries(fields)) if (value !== undefined) line += ` ${pair(key, value)}`;
  return `${line}\n`;
}

/** A destination that rewrites every line written to it before passing it on. */
export function prettyStream(out: { write(text: string): unknown }): { write(text: string): boolean } {
  return {
    write(text: string): boolean {
      for (const line of text.split("\n")) if (line !== "") out.write(prettyLine(line));
      return true;
    },
  };
}
