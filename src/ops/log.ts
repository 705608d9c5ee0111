// Logs (pino): one line per HTTP request and one per WebSocket, written when each ends; JSON for machines, or the same
// fields as `time LEVEL message key=value` for people (log-pretty.ts).
// Secrets never reach a log line: URLs are logged with credential-bearing query values replaced, and headers are not
// logged at all; pino's redaction covers the header paths as a second line of defence should anyone add them.
import pino, { type DestinationStream, type Logger } from "pino";
import { LogSink } from "./log-sink.ts";
import { prettyLine, prettyStream } from "./log-pretty.ts";

export type { Logger };

export const REDACTED = "[REDACTED]";
const SECRET_PARAMS =
  /^(token|access_token|id_token|password|passwd|secret|key|api_key|apikey|auth|bootstraptoken|sidecar_token|code)$/i;

/** pino's levels, plus "silent"; the logLevel option takes one of these. */
export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
export const LOG_LEVELS: readonly LogLevel[] = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

/** json: one object a line; pretty: for a terminal. The logFormat option takes one of these. */
export type LogFormat = "json" | "pretty";
export const LOG_FORMATS: readonly LogFormat[] = ["json", "pretty"];

export function createLogger(level: LogLevel, destination?: DestinationStream, format: LogFormat = "json"): Logger {
  const sink =
    destination === undefined ? new LogSink(1, format === "pretty" ? { format: prettyLine } : {}) : undefined;
  const out = (destination ?? sink) as DestinationStream;
  const logger = pino(
    {
      level,
      base: { name: "openclaw-sidecar" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: [
          "headers.authorization",
          "headers.cookie",
          'headers["set-cookie"]',
          'headers["proxy-authorization"]',
          "req.headers.authorization",
          "req.headers.cookie",
          "token",
          "password",
          "cookieSecrets",
          "credentials",
        ],
        censor: REDACTED,
      },
    },
    // Buffered, asynchronous stdout (log-sink.ts): one write(2) per ~32 KiB of lines instead of one per request. The
    // pretty format rewrites each JSON line on its way there, so redaction and the line writer work the same for both.
    format === "pretty" ? prettyStream(out) : out,
  );
  if (sink !== undefined) {
    // At least every quarter second, so a quiet sidecar's lines are never held back for long; all of it at exit.
    setInterval(() => sink.flush(), 250).unref();
    process.once("exit", () => sink.flushSync());
  }
  return logger;
}

/** Fields of an access-log line: strings are JSON-escaped, numbers written as they are, undefined left out. */
export type LineFields = Record<string, string | number | undefined>;
/** Writes one info-level line: `logger.info(fields, msg)`, minus pino's generic path. */
export type LineWriter = (fields: LineFields, msg: string) => void;

/**
 * The per-request and per-WebSocket lines, formatted by hand into the logger's own destination: the same JSON pino
 * writes (same keys in the same order, same stream, so lines never interleave or reorder), at a fraction of the cost.
 * pino's generic path (serializers, redaction, a new Date per line) measured 7–20 µs a line — a quarter of the
 * proxy's CPU per request. Only for lines whose fields are plain strings and numbers the sidecar chose; URLs must be
 * passed through redactUrl like everywhere else.
 */
export function createLineWriter(logger: Logger): LineWriter {
  if (!logger.isLevelEnabled("info")) return () => {};
  const stream = (logger as unknown as Record<symbol, { write(line: string): void }>)[pino.symbols.streamSym] as {
    write(line: string): void;
  };
  const name = JSON.stringify((logger.bindings() as { name?: string }).name ?? "");
  let lastMs = 0;
  let lastIso = "";
  return (fields, msg) => {
    const now = Date.now();
    if (now !== lastMs) {
      lastMs = now;
      lastIso = new Date(now).toISOString();
    }
    let line = `{"level":"info","time":"${lastIso}","name":${name}`;
    for (const key in fields) {
      const value = fields[key];
      if (value === undefined) continue;
      line +=
        typeof value === "number"
          ? `,"${key}":${Number.isFinite(value) ? value : null}`
          : `,"${key}":${JSON.stringify(value)}`;
    }
    stream.write(`${line},"msg":${JSON.stringify(msg)}}\n`);
  };
}

/**
 * The request target with the value of every credential-like query parameter replaced. Cheap when there is no query.
 */
export function redactUrl(url: string | undefined): string {
  if (url === undefined) return "";
  const q = url.indexOf("?");
  if (q === -1) return url;
  const parts = url.slice(q + 1).split("&");
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    const eq = part.indexOf("=");
    const name = eq === -1 ? part : part.slice(0, eq);
    let decoded = name;
    try {
      decoded = decodeURIComponent(name);
    } catch {
      // keep the raw name
    }
    if (eq !== -1 && SECRET_PARAMS.test(decoded)) parts[i] = `${name}=${REDACTED}`;
  }
  return `${url.slice(0, q)}?${parts.join("&")}`;
}
