// JSON logs (pino): one line per HTTP request and one per WebSocket, written when each ends.
// Secrets never reach a log line: URLs are logged with credential-bearing query values replaced, and headers are not
// logged at all; pino's redaction covers the header paths as a second line of defence should anyone add them.
import pino, { type DestinationStream, type Logger } from "pino";
import type { LogLevel } from "./config.ts";

export type { Logger };

export const REDACTED = "[REDACTED]";
const SECRET_PARAMS = /^(token|access_token|id_token|password|passwd|secret|key|api_key|apikey|auth|bootstraptoken|sidecar_token|code)$/i;

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  const logger = pino(
    {
      level,
      base: { name: "openclaw-sidecar" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: [
          "headers.authorization", "headers.cookie", "headers[\"set-cookie\"]", "headers[\"proxy-authorization\"]",
          "req.headers.authorization", "req.headers.cookie", "token", "password", "cookieSecrets", "credentials",
        ],
        censor: REDACTED,
      },
    },
    // Buffered, asynchronous stdout: one write(2) per 4 KiB of log lines instead of one per request, which is most
    // of what an access log costs a proxy. pino flushes the buffer synchronously when the process exits.
    destination ?? pino.destination({ dest: 1, sync: false, minLength: 4096 }),
  );
  // …and at least every quarter second, so a quiet sidecar's lines are never held back for long.
  if (destination === undefined) setInterval(() => logger.flush(), 250).unref();
  return logger;
}

/** The request target with the value of every credential-like query parameter replaced. Cheap when there is no query. */
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
