// HTTP/1.1 message framing (RFC 9112), as pure functions over bytes: request and response heads, and the chunked
// body scanner. The sidecar parses only what it must to forward safely — where each message starts and ends, and
// the headers it rewrites — and relays body bytes untouched.
//
// Strict where leniency lets two parsers disagree about where a message ends (request smuggling, RFC 9112 §11.2):
// bare CR or LF, obs-fold, whitespace before a colon, Content-Length together with Transfer-Encoding, conflicting
// Content-Lengths, any transfer coding but chunked, malformed chunk sizes: each is an error with the status to
// answer, and the connection is closed after it.
import type { IncomingHttpHeaders } from "node:http";

export interface ParseLimits {
  /** Bytes allowed in a head (request line + header lines); beyond that, 431. */
  maxHeaderBytes: number;
  /** Header lines allowed in a head; beyond that, 431. */
  maxHeaderCount: number;
}

export type BodyFraming =
  | { kind: "none" }
  | { kind: "length"; length: number }
  | { kind: "chunked" }
  /** Response only: the body ends when the connection does. */
  | { kind: "close" };

export interface RequestHead {
  method: string;
  /** The request target in origin form ("/path?query"), or "*" for OPTIONS. */
  url: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor: number;
  /** Lower-case names; repeated fields joined as Node joins them (", ", cookies "; ", singletons keep the first). */
  headers: IncomingHttpHeaders;
  headerCount: number;
  body: BodyFraming;
  /**
   * The framing header line for the request as forwarded ("Content-Length: 5\r\n", "Transfer-Encoding: chunked\r\n",
   * or ""), fixed by the parse. serializeRequestHead writes it and never a framing field from `headers`, so no header
   * rule (hop-by-hop, Connection, hygiene) can change where the forwarded message ends.
   */
  framing: string;
  /** The client wants the connection kept after this exchange. */
  keepAlive: boolean;
  /** Connection: upgrade with an Upgrade header. */
  upgrade: boolean;
}

export interface ResponseHead {
  status: number;
  reason: string;
  minor: number;
  /** Header lines as received, "Name: value", in order. */
  lines: string[];
  /** Lower-case names of `lines`, same order. */
  names: string[];
  /** The upstream will keep the connection after this response. */
  keepAlive: boolean;
}

/** A message the sidecar refuses to forward; `status` is what the client is answered. */
export class HttpError extends Error {
  readonly status: number;
  readonly type: string;
  constructor(status: number, type: string, message: string) {
    super(message);
    this.name = "HttpError";
    this.status = status;
    this.type = type;
  }
}

const CRLFCRLF = Buffer.from("\r\n\r\n");

/**
 * Where the head in `buf` ends: the index just past its blank line, or -1 when more bytes are needed. Throws 431
 * when the head (everything before its blank line) is longer than `maxHeaderBytes` — the same verdict however the
 * bytes arrive: without the blank line in sight, only once the buffer proves it. One leading empty line (RFC 9112
 * §2.2: a server SHOULD ignore at least one) is tolerated and counted as part of the head; two make a blank head.
 */
export function findHeadEnd(buf: Buffer, maxHeaderBytes: number): number {
  const at = buf.indexOf(CRLFCRLF);
  if (at === -1) {
    // The blank line could still begin in the last three bytes ("\r\n\r"), so the head is at least length - 3.
    if (buf.length - 3 > maxHeaderBytes) throw new HttpError(431, "headers_too_large", "request headers too large");
    return -1;
  }
  if (at > maxHeaderBytes) throw new HttpError(431, "headers_too_large", "request headers too large");
  return at + 4;
}

/** `s` without leading and trailing optional whitespace (RFC 9110 §5.6.3: SP and HTAB only, unlike trim()). */
function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === 32 || s.charCodeAt(a) === 9)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 32 || s.charCodeAt(b - 1) === 9)) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

// RFC 9110 §5.6.2 token characters.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Field values: visible ASCII, obs-text, space and tab; never CR, LF, NUL or other controls.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const REQUEST_TARGET = /^[\x21-\x7e\x80-\xff]+$/;
const DIGITS = /^[0-9]+$/;

/** Repeated headers Node keeps only the first of (see IncomingMessage._addHeaderLine); we do the same. */
const SINGLETONS = new Set([
  "age",
  "authorization",
  "content-type",
  "etag",
  "expires",
  "from",
  "if-modified-since",
  "if-unmodified-since",
  "last-modified",
  "location",
  "max-forwards",
  "proxy-authorization",
  "referer",
  "retry-after",
  "server",
  "user-agent",
]);

const bad = (message: string) => new HttpError(400, "bad_request", message);

/** Parses a request head (`text` is the head decoded as latin1, without its final blank line). */
export function parseRequestHead(text: string, limits: ParseLimits): RequestHead {
  let start = 0;
  while (text.startsWith("\r\n", start)) start += 2;
  const lines = (start === 0 ? text : text.slice(start)).split("\r\n");
  const requestLine = lines[0] as string;
  const sp1 = requestLine.indexOf(" ");
  const sp2 = requestLine.indexOf(" ", sp1 + 1);
  if (sp1 <= 0 || sp2 === -1 || requestLine.indexOf(" ", sp2 + 1) !== -1) throw bad("malformed request line");
  const method = requestLine.slice(0, sp1);
  let url = requestLine.slice(sp1 + 1, sp2);
  const version = requestLine.slice(sp2 + 1);
  if (!TOKEN.test(method)) throw bad("malformed method");
  if (version !== "HTTP/1.1" && version !== "HTTP/1.0") {
    if (/^HTTP\/\d(\.\d)?$/.test(version))
      throw new HttpError(505, "http_version_not_supported", `${version} is not supported; use HTTP/1.1`);
    throw bad("malformed request line");
  }
  const minor = version === "HTTP/1.1" ? 1 : 0;
  if (!REQUEST_TARGET.test(url)) throw bad("malformed request target");
  if (method === "CONNECT") throw new HttpError(405, "method_not_allowed", "CONNECT is not supported");
  let authority: string | undefined;
  if (url.charCodeAt(0) !== 47 /* / */) {
    if (url === "*" && method === "OPTIONS") {
      // asterisk form
    } else if (/^https?:\/\//i.test(url)) {
      // Absolute form (RFC 9112 §3.2.2): forwarded in origin form, and the target's authority replaces Host.
      const start = url.indexOf("//") + 2;
      let end = start;
      while (end < url.length && url[end] !== "/" && url[end] !== "?") end++;
      authority = url.slice(start, end);
      if (authority === "" || authority.includes("@")) throw bad("malformed request target");
      url = end === url.length ? "/" : url[end] === "?" ? `/${url.slice(end)}` : url.slice(end);
    } else {
      throw bad("malformed request target");
    }
  }
  if (lines.length - 1 > limits.maxHeaderCount) throw new HttpError(431, "too_many_headers", "too many header fields");

  const headers: IncomingHttpHeaders = {};
  let hosts = 0;
  let contentLength: string | undefined;
  let transferEncoding: string | undefined;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    const colon = line.indexOf(":");
    if (colon <= 0) {
      const c = line.charCodeAt(0);
      throw bad(c === 32 || c === 9 ? "obsolete line folding is not accepted" : "malformed header line");
    }
    const rawName = line.slice(0, colon);
    if (!TOKEN.test(rawName))
      throw bad(
        rawName.charCodeAt(0) === 32 || rawName.charCodeAt(0) === 9
          ? "obsolete line folding is not accepted"
          : "malformed header name",
      );
    const rawValue = line.slice(colon + 1);
    if (!FIELD_VALUE.test(rawValue)) throw bad("malformed header value");
    const value = trimOws(rawValue);
    const name = rawName.toLowerCase();
    if (name === "host") {
      if (++hosts > 1) throw bad("more than one Host header");
    } else if (name === "content-length") {
      for (const part of value.split(",")) {
        const v = trimOws(part);
        if (!DIGITS.test(v) || v.length > 15) throw bad("malformed Content-Length");
        if (contentLength !== undefined && contentLength !== v) throw bad("conflicting Content-Length headers");
        contentLength = v;
      }
      continue; // stored once below, normalized
    } else if (name === "transfer-encoding") {
      transferEncoding = transferEncoding === undefined ? value : `${transferEncoding}, ${value}`;
      continue;
    }
    const prev = headers[name];
    if (prev === undefined) headers[name] = name === "set-cookie" ? [value] : value;
    else if (name === "set-cookie") (prev as string[]).push(value);
    else if (name === "cookie") headers[name] = `${prev}; ${value}`;
    else if (!SINGLETONS.has(name)) headers[name] = `${prev}, ${value}`;
  }
  if (minor === 1 && hosts === 0) throw bad("HTTP/1.1 requires a Host header");
  if (authority !== undefined) headers.host = authority;

  let body: BodyFraming = { kind: "none" };
  let framing = "";
  if (transferEncoding !== undefined) {
    if (contentLength !== undefined) throw bad("both Content-Length and Transfer-Encoding");
    if (minor === 0) throw bad("Transfer-Encoding in an HTTP/1.0 request");
    const codings = transferEncoding.split(",").map((c) => trimOws(c).toLowerCase());
    if (codings[codings.length - 1] !== "chunked") throw bad("Transfer-Encoding must end with chunked");
    if (codings.length > 1)
      throw new HttpError(
        501,
        "not_implemented",
        `transfer coding ${codings.slice(0, -1).join(", ")} is not supported`,
      );
    headers["transfer-encoding"] = "chunked";
    body = { kind: "chunked" };
    framing = "Transfer-Encoding: chunked\r\n";
  } else if (contentLength !== undefined) {
    headers["content-length"] = contentLength;
    const length = Number(contentLength);
    if (length > 0) body = { kind: "length", length };
    framing = `Content-Length: ${length}\r\n`;
  }

  const connection = headers.connection?.toLowerCase();
  // Connection names fields that describe this hop only, and a proxy removes them. Framing and routing are never
  // such fields: removing Content-Length while relaying the body would let the gateway read the body as a request
  // (issue 11, finding 1). RFC 9110 §7.6.1 lets a proxy refuse the request instead, and it does.
  if (connection !== undefined) {
    for (const field of ["content-length", "transfer-encoding", "host"]) {
      if (hasToken(connection, field))
        throw new HttpError(400, "connection_names_framing_field", `the Connection header must not name ${field}`);
    }
  }
  // An empty Upgrade names no protocol: not an upgrade (Node's parser agrees), so never a tunnel.
  const upgrade =
    headers.upgrade !== undefined &&
    headers.upgrade !== "" &&
    connection !== undefined &&
    hasToken(connection, "upgrade");
  const keepAlive =
    minor === 1
      ? !(connection !== undefined && hasToken(connection, "close"))
      : connection !== undefined && hasToken(connection, "keep-alive");
  return { method, url, minor, headers, headerCount: lines.length - 1, body, framing, keepAlive, upgrade };
}

// The wire invariant of every head the sidecar sends (issue 21): each field value is sent byte for byte as decided.
// A value may hold what the parser accepts from a client — visible ASCII, space, tab, obs-text — and nothing else:
// no CR, LF or NUL (which would end the field or the head and let a value write the next one), no other control, and
// no character above U+00FF, which latin1 would cut to its low byte (U+010D U+010A → CR LF, U+0161 → "a").
const UNSAFE_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

/** The first character of `text` a head may not carry, as "U+XXXX at position N". */
function unsafeAt(text: string, pattern: RegExp): string {
  const at = text.search(pattern);
  return `U+${(text.codePointAt(at) as number).toString(16).toUpperCase().padStart(4, "0")} at position ${at + 1}`;
}

/**
 * The head to send upstream: request line, every header in `head.headers` except the framing fields, then the
 * framing the parse fixed (`head.framing`). One string, written in one go (as latin1: one byte per character).
 *
 * Whatever decided the values — the client, a header rule, an identity from a token, an SSO claim or an assertion —
 * nothing leaves that the gateway would read differently: a method or target, a field name or a field value that
 * breaks the invariant above throws an HttpError of type `unsafe_request_head` naming the field, and the caller
 * refuses the exchange. Identities are checked where they enter (identity.ts); this is the defence in depth that
 * makes the class impossible whatever a later source forgets.
 */
export function serializeRequestHead(head: RequestHead): string {
  if (!TOKEN.test(head.method)) throw unsafe("the method", head.method, /[^!#$%&'*+\-.^_`|~0-9A-Za-z]/);
  if (!REQUEST_TARGET.test(head.url)) throw unsafe("the request target", head.url, /[^\x21-\x7e\x80-\xff]/);
  let text = `${head.method} ${head.url} HTTP/1.${head.minor}\r\n`;
  const headers = head.headers;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || name === "content-length" || name === "transfer-encoding") continue;
    if (!TOKEN.test(name)) throw unsafe("a header name", name, /[^!#$%&'*+\-.^_`|~0-9A-Za-z]/);
    if (typeof value === "string") {
      if (UNSAFE_VALUE.test(value)) throw unsafe(`the ${name} header`, value, UNSAFE_VALUE);
      text += `${name}: ${value}\r\n`;
    } else {
      for (const v of value) {
        if (UNSAFE_VALUE.test(v)) throw unsafe(`the ${name} header`, v, UNSAFE_VALUE);
        text += `${name}: ${v}\r\n`;
      }
    }
  }
  return `${text}${head.framing}\r\n`;
}

const unsafe = (what: string, text: string, pattern: RegExp) =>
  new HttpError(
    500,
    "unsafe_request_head",
    `${what} holds ${text === "" ? "nothing" : unsafeAt(text, pattern)}, which would not reach the gateway as decided`,
  );

/** True when the comma-separated, lower-cased `list` contains `token`. */
export function hasToken(list: string, token: string): boolean {
  let i = list.indexOf(token);
  while (i !== -1) {
    const afterAt = i + token.length;
    if (
      (i === 0 || isListEdge(list.charCodeAt(i - 1))) &&
      (afterAt === list.length || isListEdge(list.charCodeAt(afterAt)))
    )
      return true;
    i = list.indexOf(token, i + 1);
  }
  return false;
}

/** A comma or optional whitespace: what may stand next to a token in a list. */
const isListEdge = (c: number): boolean => c === 44 || c === 32 || c === 9;

const badGateway = (message: string) => new HttpError(502, "bad_upstream_response", message);

/** Parses a response head (`text` without its final blank line). */
export function parseResponseHead(text: string, limits: ParseLimits): ResponseHead {
  const lines = text.split("\r\n");
  const statusLine = lines.shift() as string;
  const m = /^HTTP\/1\.([01]) ([1-9][0-9]{2})(?: ([\t\x20-\x7e\x80-\xff]*))?$/.exec(statusLine);
  if (m === null) throw badGateway("malformed status line");
  if (lines.length > limits.maxHeaderCount) throw badGateway("too many header fields");
  const names: string[] = new Array(lines.length);
  let connection = "";
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const colon = line.indexOf(":");
    if (colon <= 0 || !TOKEN.test(line.slice(0, colon))) throw badGateway("malformed header line");
    if (!FIELD_VALUE.test(line.slice(colon + 1))) throw badGateway("malformed header value");
    const name = line.slice(0, colon).toLowerCase();
    names[i] = name;
    if (name === "connection") connection += `${trimOws(line.slice(colon + 1)).toLowerCase()},`;
  }
  const minor = Number(m[1]);
  const keepAlive = minor === 1 ? !hasToken(connection, "close") : hasToken(connection, "keep-alive");
  return { status: Number(m[2]), reason: m[3] ?? "", minor, lines, names, keepAlive };
}

/** Response heads from the gateway longer than this are a 502, never forwarded. */
export const MAX_RESPONSE_HEAD_BYTES = 64 * 1024;
const RESPONSE_LIMITS: ParseLimits = { maxHeaderBytes: MAX_RESPONSE_HEAD_BYTES, maxHeaderCount: 1000 };

/**
 * The response head at the start of `buf` and the bytes after it, or undefined while more bytes are needed. Throws
 * 502 when the head is malformed or longer than MAX_RESPONSE_HEAD_BYTES.
 */
export function takeResponseHead(buf: Buffer): { head: ResponseHead; rest: Buffer } | undefined {
  const end = buf.indexOf(CRLFCRLF);
  if (end === -1 ? buf.length - 3 > MAX_RESPONSE_HEAD_BYTES : end > MAX_RESPONSE_HEAD_BYTES)
    throw badGateway("response head too large");
  if (end === -1) return undefined;
  return { head: parseResponseHead(buf.toString("latin1", 0, end), RESPONSE_LIMITS), rest: buf.subarray(end + 4) };
}

/** The value of the first `name` header in a response head, trimmed. */
export function responseHeader(head: ResponseHead, name: string): string | undefined {
  const i = head.names.indexOf(name);
  if (i === -1) return undefined;
  const line = head.lines[i] as string;
  return trimOws(line.slice(line.indexOf(":") + 1));
}

/** How a response body is delimited (RFC 9112 §6.3), given the request method it answers. */
export function responseFraming(head: ResponseHead, method: string): BodyFraming {
  const s = head.status;
  if (method === "HEAD" || s < 200 || s === 204 || s === 304) return { kind: "none" };
  let te: string | undefined;
  let cl: string | undefined;
  for (let i = 0; i < head.names.length; i++) {
    const name = head.names[i];
    if (name !== "transfer-encoding" && name !== "content-length") continue;
    const line = head.lines[i] as string;
    const value = trimOws(line.slice(line.indexOf(":") + 1));
    if (name === "transfer-encoding") te = te === undefined ? value : `${te}, ${value}`;
    else {
      for (const part of value.split(",")) {
        const v = trimOws(part);
        if (!DIGITS.test(v) || v.length > 15) throw badGateway("malformed Content-Length");
        if (cl !== undefined && cl !== v) throw badGateway("conflicting Content-Length headers");
        cl = v;
      }
    }
  }
  if (te !== undefined) {
    if (cl !== undefined) throw badGateway("both Content-Length and Transfer-Encoding");
    const codings = te.toLowerCase().split(",");
    if (trimOws(codings[codings.length - 1] as string) === "chunked") return { kind: "chunked" };
    return { kind: "close" };
  }
  if (cl !== undefined) return Number(cl) === 0 ? { kind: "none" } : { kind: "length", length: Number(cl) };
  return { kind: "close" };
}

const Chunk = {
  Size: 0,
  Ext: 1,
  SizeLf: 2,
  Data: 3,
  DataCr: 4,
  DataLf: 5,
  TrailerStart: 6,
  TrailerName: 7,
  TrailerValue: 8,
  TrailerLf: 9,
  EndLf: 10,
  Done: 11,
} as const;
type Chunk = (typeof Chunk)[keyof typeof Chunk];

// RFC 9110 §5.6.2 tchar, by byte.
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
  TCHAR[c.charCodeAt(0)] = 1;

/**
 * Follows a chunked body as its bytes pass, without changing them, to learn where it ends. `scan` returns how many
 * bytes of `buf` (from `start`) belong to the body; when `done` is true the rest belongs to the next message.
 * Trailer fields are held to the rules of header fields (token name, colon, field-value bytes; no obs-fold), and
 * both the trailer section and each chunk extension to `maxTrailerBytes`.
 */
export class ChunkedScanner {
  private state: Chunk = Chunk.Size;
  private remaining = 0;
  private sizeDigits = 0;
  private trailerBytes = 0;
  private extBytes = 0;
  private readonly maxTrailerBytes: number;
  private readonly makeError: (message: string) => HttpError;
  private readonly isForbiddenTrailer: ((name: string) => boolean) | undefined;
  /** The trailer field name being read (only when there is a rule to check it against). */
  private trailerName = "";

  /**
   * `isForbiddenTrailer` (lower-case name → true) refuses a trailer field before any byte of it is passed on: header
   * hygiene applies to trailers as much as to heads (issue 11, finding 6).
   */
  constructor(
    maxTrailerBytes: number,
    makeError: (message: string) => HttpError = bad,
    isForbiddenTrailer?: (name: string) => boolean,
  ) {
    this.maxTrailerBytes = maxTrailerBytes;
    this.makeError = makeError;
    this.isForbiddenTrailer = isForbiddenTrailer;
  }

  get done(): boolean {
    return this.state === Chunk.Done;
  }

  scan(buf: Buffer, start = 0): number {
    let i = start;
    const n = buf.length;
    while (i < n && this.state !== Chunk.Done) {
      switch (this.state) {
        case Chunk.Data: {
          const take = Math.min(this.remaining, n - i);
          i += take;
          this.remaining -= take;
          if (this.remaining === 0) this.state = Chunk.DataCr;
          continue;
        }
        case Chunk.Size: {
          const c = buf[i] as number;
          const digit = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
          if (digit !== -1) {
            if (++this.sizeDigits > 13) throw this.makeError("chunk size too large");
            this.remaining = this.remaining * 16 + digit;
          } else if (this.sizeDigits === 0) {
            throw this.makeError("malformed chunk size");
          } else if (c === 59 /* ; */) {
            this.state = Chunk.Ext;
          } else if (c === 13) {
            this.state = Chunk.SizeLf;
          } else {
            throw this.makeError("malformed chunk size");
          }
          break;
        }
        case Chunk.Ext: {
          const c = buf[i] as number;
          if (c === 13) this.state = Chunk.SizeLf;
          else if (c === 10 || (c < 32 && c !== 9) || c === 127) throw this.makeError("malformed chunk extension");
          else if (++this.extBytes > this.maxTrailerBytes) throw this.makeError("chunk extension too long");
          break;
        }
        case Chunk.SizeLf:
          if (buf[i] !== 10) throw this.makeError("malformed chunk size line");
          this.sizeDigits = 0;
          this.extBytes = 0;
          this.state = this.remaining === 0 ? Chunk.TrailerStart : Chunk.Data;
          break;
        case Chunk.DataCr:
          if (buf[i] !== 13) throw this.makeError("chunk data longer than its size");
          this.state = Chunk.DataLf;
          break;
        case Chunk.DataLf:
          if (buf[i] !== 10) throw this.makeError("chunk data longer than its size");
          this.state = Chunk.Size;
          break;
        case Chunk.TrailerStart: {
          const c = buf[i] as number;
          if (c === 13) this.state = Chunk.EndLf;
          else if (c === 10) throw this.makeError("bare LF in trailer");
          else if (c === 32 || c === 9) throw this.makeError("obsolete line folding in trailer");
          else if (TCHAR[c] === 1) {
            this.state = Chunk.TrailerName;
            if (this.isForbiddenTrailer !== undefined)
              this.trailerName = String.fromCharCode(c | (c >= 65 && c <= 90 ? 32 : 0));
          } else throw this.makeError("malformed trailer field name");
          this.trailerBytes++;
          break;
        }
        case Chunk.TrailerName: {
          const c = buf[i] as number;
          if (c === 58 /* : */) {
            this.state = Chunk.TrailerValue;
            if (this.isForbiddenTrailer?.(this.trailerName)) {
              throw new HttpError(
                400,
                "forbidden_trailer_field",
                `the trailer field ${this.trailerName} is not allowed`,
              );
            }
          } else if (TCHAR[c] !== 1) throw this.makeError("malformed trailer field name");
          else if (this.isForbiddenTrailer !== undefined)
            this.trailerName += String.fromCharCode(c | (c >= 65 && c <= 90 ? 32 : 0));
          if (++this.trailerBytes > this.maxTrailerBytes)
            throw new HttpError(431, "headers_too_large", "trailer section too large");
          break;
        }
        case Chunk.TrailerValue: {
          const c = buf[i] as number;
          if (c === 13) this.state = Chunk.TrailerLf;
          else if ((c < 32 && c !== 9) || c === 127) throw this.makeError("malformed trailer field value");
          if (++this.trailerBytes > this.maxTrailerBytes)
            throw new HttpError(431, "headers_too_large", "trailer section too large");
          break;
        }
        case Chunk.TrailerLf:
          if (buf[i] !== 10) throw this.makeError("bare CR in trailer");
          this.state = Chunk.TrailerStart;
          break;
        case Chunk.EndLf:
          if (buf[i] !== 10) throw this.makeError("bare CR after the last chunk");
          this.state = Chunk.Done;
          break;
      }
      i++;
    }
    return i - start;
  }
}

export const chunkedResponseError = badGateway;
