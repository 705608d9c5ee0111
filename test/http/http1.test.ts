// Unit tests of the HTTP/1.1 framing functions (src/http/http1.ts): request and response heads, the chunked body
// scanner. Every rejection is checked for its class (HttpError) and the status the sidecar answers with.
import { describe, expect, it } from "vitest";
import {
  ChunkedScanner,
  HttpError,
  type ParseLimits,
  chunkedResponseError,
  findHeadEnd,
  hasToken,
  parseRequestHead,
  parseResponseHead,
  responseFraming,
  responseHeader,
  takeResponseHead,
  MAX_RESPONSE_HEAD_BYTES,
} from "../../src/http/http1.ts";

const LIMITS: ParseLimits = { maxHeaderBytes: 16384, maxHeaderCount: 200 };

/** Runs `fn`, which must throw an HttpError with `status`; returns it. */
function httpError(fn: () => unknown, status: number): HttpError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, "expected an HttpError").toBeInstanceOf(HttpError);
  expect((caught as HttpError).status).toBe(status);
  return caught as HttpError;
}

const req = (text: string) => parseRequestHead(text, LIMITS);
const res = (text: string) => parseResponseHead(text, LIMITS);
const b = (s: string) => Buffer.from(s, "latin1");

describe("findHeadEnd", () => {
  it("returns -1 while the blank line has not arrived", () => {
    expect(findHeadEnd(b(""), 100)).toBe(-1);
    expect(findHeadEnd(b("GET / HTTP/1.1\r\nHost: x\r\n"), 100)).toBe(-1);
    expect(findHeadEnd(b("GET / HTTP/1.1\r\nHost: x\r\n\r"), 100)).toBe(-1);
    // Bare LFs are not a blank line.
    expect(findHeadEnd(b("GET / HTTP/1.1\nHost: x\n\n"), 100)).toBe(-1);
  });

  it("returns the index just past the blank line, ignoring what follows", () => {
    const head = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    expect(findHeadEnd(b(head), 100)).toBe(head.length);
    expect(findHeadEnd(b(`${head}POST /next HTTP/1.1\r\n\r\n`), 100)).toBe(head.length);
    expect(findHeadEnd(b(`\r\n${head}`), 100)).toBe(head.length + 2);
  });

  it("accepts a head of exactly maxHeaderBytes (terminator not counted)", () => {
    const head = `GET / HTTP/1.1\r\nX: ${"a".repeat(81)}`;
    expect(head.length).toBe(100);
    expect(findHeadEnd(b(`${head}\r\n\r\n`), 100)).toBe(104);
    expect(findHeadEnd(b(head), 100)).toBe(-1);
  });

  it("gives the same verdict at the limit however the bytes arrive", () => {
    for (const extra of [0, 1]) {
      const head = `GET / HTTP/1.1\r\nX: ${"a".repeat(81 + extra)}\r\n\r\n`;
      const whole = (() => {
        try {
          return findHeadEnd(b(head), 100);
        } catch (err) {
          return (err as HttpError).status;
        }
      })();
      for (let cut = 1; cut < head.length; cut++) {
        let verdict: number | undefined;
        try {
          if (findHeadEnd(b(head.slice(0, cut)), 100) !== -1) throw new Error("ended early");
          verdict = findHeadEnd(b(head), 100);
        } catch (err) {
          verdict = (err as HttpError).status;
        }
        expect(verdict, `extra ${extra}, cut ${cut}`).toBe(whole);
      }
      expect(whole).toBe(extra === 0 ? 104 : 431);
    }
  });

  it("tolerates one leading empty line, not two", () => {
    const head = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    const one = findHeadEnd(b(`\r\n${head}`), 100);
    expect(parseRequestHead(`\r\n${head}`.slice(0, one - 4), LIMITS).url).toBe("/");
    // "\r\n\r\n" first is a blank head: a malformed request line, not a skipped prefix.
    expect(findHeadEnd(b(`\r\n\r\n${head}`), 100)).toBe(4);
    httpError(() => parseRequestHead("", LIMITS), 400);
  });

  it("throws 431 when a complete head is longer than maxHeaderBytes", () => {
    const head = `GET / HTTP/1.1\r\nX: ${"a".repeat(82)}`;
    expect(head.length).toBe(101);
    const err = httpError(() => findHeadEnd(b(`${head}\r\n\r\n`), 100), 431);
    expect(err.type).toBe("headers_too_large");
  });

  it("throws 431 when more than maxHeaderBytes arrived without a blank line", () => {
    // Up to three bytes past the limit could still be the start of the blank line ("\r\n\r").
    expect(findHeadEnd(b("a".repeat(103)), 100)).toBe(-1);
    httpError(() => findHeadEnd(b("a".repeat(104)), 100), 431);
    httpError(() => findHeadEnd(b(`GET / HTTP/1.1\r\n${"X: y\r\n".repeat(40)}`), 100), 431);
  });
});

describe("parseRequestHead: accepted heads", () => {
  it("an ordinary GET", () => {
    const h = req("GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nAccept: */*");
    expect(h).toEqual({
      method: "GET",
      url: "/a/b?c=d",
      minor: 1,
      headers: { host: "example.com", accept: "*/*" },
      headerCount: 2,
      body: { kind: "none" },
      framing: "",
      keepAlive: true,
      upgrade: false,
    });
  });

  it("a POST with Content-Length", () => {
    const h = req("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 42\r\nContent-Type: text/plain");
    expect(h.method).toBe("POST");
    expect(h.body).toEqual({ kind: "length", length: 42 });
    expect(h.headers["content-length"]).toBe("42");
    expect(h.framing).toBe("Content-Length: 42\r\n");
    expect(h.keepAlive).toBe(true);
  });

  it("Content-Length: 0 means no body", () => {
    const h = req("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0");
    expect(h.body).toEqual({ kind: "none" });
    expect(h.headers["content-length"]).toBe("0");
  });

  it("a chunked POST (coding name is case-insensitive)", () => {
    for (const te of ["chunked", "Chunked", "CHUNKED"]) {
      const h = req(`POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ${te}`);
      expect(h.body).toEqual({ kind: "chunked" });
      expect(h.headers["transfer-encoding"]).toBe("chunked");
      expect(h.headers["content-length"]).toBeUndefined();
    }
  });

  it("HTTP/1.0 closes unless it asks for keep-alive, and needs no Host", () => {
    const plain = req("GET / HTTP/1.0");
    expect(plain.minor).toBe(0);
    expect(plain.keepAlive).toBe(false);
    expect(plain.headers).toEqual({});
    const ka = req("GET / HTTP/1.0\r\nConnection: Keep-Alive");
    expect(ka.minor).toBe(0);
    expect(ka.keepAlive).toBe(true);
  });

  it("Connection: close ends keep-alive on HTTP/1.1", () => {
    expect(req("GET / HTTP/1.1\r\nHost: x\r\nConnection: close").keepAlive).toBe(false);
    expect(req("GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Close").keepAlive).toBe(false);
    expect(req("GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive").keepAlive).toBe(true);
    // A token that merely contains "close" is not close.
    expect(req("GET / HTTP/1.1\r\nHost: x\r\nConnection: closed").keepAlive).toBe(true);
  });

  it("upgrade requires both Connection: upgrade and an Upgrade header", () => {
    const ws = req("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket");
    expect(ws.upgrade).toBe(true);
    expect(ws.keepAlive).toBe(true);
    expect(ws.headers.upgrade).toBe("websocket");
    expect(req("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket").upgrade).toBe(false);
    expect(req("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: upgrade").upgrade).toBe(false);
    // An empty Upgrade names no protocol.
    expect(req("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: \t").upgrade).toBe(false);
  });

  it("trims only SP and HTAB around values (0xA0 is obs-text, kept)", () => {
    const h = req("GET / HTTP/1.1\r\nHost: x\r\nX-A: \xa0v\xa0 \r\nContent-Length: \t5 ");
    expect(h.headers["x-a"]).toBe("\xa0v\xa0");
    expect(h.body).toEqual({ kind: "length", length: 5 });
    httpError(() => req("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: \xa05"), 400);
  });

  it("converts an absolute-form target to origin form, its authority replacing Host", () => {
    const h = req("GET http://example.com:8080/p/q?x=1 HTTP/1.1\r\nHost: other");
    expect(h.url).toBe("/p/q?x=1");
    expect(h.headers.host).toBe("example.com:8080");
    expect(req("GET https://example.com HTTP/1.1\r\nHost: x").url).toBe("/");
    expect(req("GET HTTP://example.com?x=1 HTTP/1.1\r\nHost: x").url).toBe("/?x=1");
  });

  it("accepts OPTIONS *", () => {
    const h = req("OPTIONS * HTTP/1.1\r\nHost: x");
    expect(h.method).toBe("OPTIONS");
    expect(h.url).toBe("*");
  });

  it("skips one leading empty line (RFC 9112 §2.2)", () => {
    expect(req("\r\nGET /a HTTP/1.1\r\nHost: x").url).toBe("/a");
  });

  it("lower-cases names and joins repeated fields as Node does", () => {
    const h = req(
      [
        "GET / HTTP/1.1",
        "HOST: x",
        "X-A: 1",
        "x-a: 2",
        "X-A: 3",
        "Cookie: a=1",
        "cookie: b=2",
        "Set-Cookie: s=1",
        "Set-Cookie: s=2",
        "Authorization: Bearer one",
        "Authorization: Bearer two",
        "User-Agent: first",
        "User-Agent: second",
        "Content-Type: text/plain",
        "Content-Type: text/html",
      ].join("\r\n"),
    );
    expect(h.headers).toEqual({
      host: "x",
      "x-a": "1, 2, 3",
      cookie: "a=1; b=2",
      "set-cookie": ["s=1", "s=2"],
      authorization: "Bearer one",
      "user-agent": "first",
      "content-type": "text/plain",
    });
    expect(h.headerCount).toBe(14);
  });

  it("trims optional whitespace around values and keeps empty values", () => {
    const h = req("GET / HTTP/1.1\r\nHost: x\r\nX-A:\t  v  w \t\r\nX-Empty:");
    expect(h.headers["x-a"]).toBe("v  w");
    expect(h.headers["x-empty"]).toBe("");
  });

  it("accepts a Content-Length list of equal values, and equal repeated headers", () => {
    const h = req("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5");
    expect(h.body).toEqual({ kind: "length", length: 5 });
    expect(h.headers["content-length"]).toBe("5");
    const twice = req("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\nContent-Length: 7");
    expect(twice.body).toEqual({ kind: "length", length: 7 });
  });

  it("accepts exactly maxHeaderCount header lines", () => {
    const lines = ["GET / HTTP/1.1", "Host: x", ...Array.from({ length: 199 }, (_, i) => `X-${i}: v`)];
    expect(req(lines.join("\r\n")).headerCount).toBe(200);
  });
});

describe("parseRequestHead: rejected heads", () => {
  const GET = "GET / HTTP/1.1\r\nHost: x";
  const cases: [string, string, number][] = [
    ["a line that is not HTTP", "hello there", 400],
    ["an empty head", "", 400],
    ["a request line with two spaces", "GET  / HTTP/1.1\r\nHost: x", 400],
    ["a request line without version", "GET /\r\nHost: x", 400],
    ["a lower-case protocol name", "GET / http/1.1\r\nHost: x", 400],
    ["a bad method", "G(T / HTTP/1.1\r\nHost: x", 400],
    ["a method with a control character", "G\x00T / HTTP/1.1\r\nHost: x", 400],
    ["a missing Host on HTTP/1.1", "GET / HTTP/1.1\r\nX-A: b", 400],
    ["two Host headers", `${GET}\r\nHost: y`, 400],
    ["two Host headers, same value", `${GET}\r\nhost: x`, 400],
    [
      "Content-Length with Transfer-Encoding",
      `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked`,
      400,
    ],
    [
      "Transfer-Encoding with Content-Length",
      `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 0`,
      400,
    ],
    ["conflicting Content-Length headers", `${GET}\r\nContent-Length: 3\r\nContent-Length: 4`, 400],
    ["a conflicting Content-Length list", `${GET}\r\nContent-Length: 3, 4`, 400],
    ["Content-Length 3 and 03", `${GET}\r\nContent-Length: 3\r\nContent-Length: 03`, 400],
    ["a non-digit Content-Length", `${GET}\r\nContent-Length: 1a`, 400],
    ["a signed Content-Length", `${GET}\r\nContent-Length: +5`, 400],
    ["a negative Content-Length", `${GET}\r\nContent-Length: -1`, 400],
    ["an empty Content-Length", `${GET}\r\nContent-Length: `, 400],
    ["a Content-Length list with an empty member", `${GET}\r\nContent-Length: 5,`, 400],
    ["a Content-Length of 16 digits", `${GET}\r\nContent-Length: 1000000000000000`, 400],
    ["Transfer-Encoding in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked", 400],
    ["Transfer-Encoding: gzip", `${GET}\r\nTransfer-Encoding: gzip`, 400],
    ["Transfer-Encoding: chunked, gzip", `${GET}\r\nTransfer-Encoding: chunked, gzip`, 400],
    [
      "Transfer-Encoding: chunked split over headers, gzip last",
      `${GET}\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip`,
      400,
    ],
    ["an empty Transfer-Encoding", `${GET}\r\nTransfer-Encoding: `, 400],
    ["obs-fold with a space", `${GET}\r\nX-A: one\r\n two`, 400],
    ["obs-fold with a tab", `${GET}\r\nX-A: one\r\n\ttwo`, 400],
    ["obs-fold that looks like a header", `${GET}\r\nX-A: one\r\n Content-Length: 5`, 400],
    ["a space before the colon", "GET / HTTP/1.1\r\nHost : x", 400],
    ["a tab before the colon", "GET / HTTP/1.1\r\nHost\t: x", 400],
    ["a bare LF in the request line", "GET / HTTP/1.1\nHost: x", 400],
    ["a bare LF in a header line", `${GET}\r\nX-A: a\nContent-Length: 5`, 400],
    ["a bare LF ending the head", `${GET}\r\nX-A: a\n`, 400],
    ["a bare CR in a header line", `${GET}\r\nX-A: a\rContent-Length: 5`, 400],
    ["a bare CR in a header name", `${GET}\r\nX\r-A: a`, 400],
    ["a bare CR at the end of a value", `${GET}\r\nX-A: a\r`, 400],
    ["a NUL in a value", `${GET}\r\nX-A: a\x00b`, 400],
    ["a NUL at the end of a value", `${GET}\r\nX-A: ab\x00`, 400],
    ["a vertical tab in a value", `${GET}\r\nX-A: a\x0bb`, 400],
    ["a DEL in a value", `${GET}\r\nX-A: a\x7f`, 400],
    ["an escape in a value", `${GET}\r\nX-A: \x1b[31m`, 400],
    ["a control character in the target", "GET /a\x01b HTTP/1.1\r\nHost: x", 400],
    ["a NUL in the target", "GET /a\x00 HTTP/1.1\r\nHost: x", 400],
    ["a tab in the target", "GET /a\tb HTTP/1.1\r\nHost: x", 400],
    ["a space in the target", "GET /a b HTTP/1.1\r\nHost: x", 400],
    ["a DEL in the target", "GET /\x7f HTTP/1.1\r\nHost: x", 400],
    ["a relative target", "GET a/b HTTP/1.1\r\nHost: x", 400],
    ["* with a method other than OPTIONS", "GET * HTTP/1.1\r\nHost: x", 400],
    ["an absolute target with userinfo", "GET http://user@h/ HTTP/1.1\r\nHost: x", 400],
    ["an absolute target without authority", "GET http:///p HTTP/1.1\r\nHost: x", 400],
    ["an absolute target with another scheme", "GET ftp://h/ HTTP/1.1\r\nHost: x", 400],
    ["an empty header name", `${GET}\r\n: value`, 400],
    ["a header line without colon", `${GET}\r\nX-A value`, 400],
    ["a header name with a non-token character", `${GET}\r\nX(A): value`, 400],
    ["Transfer-Encoding: gzip, chunked", `${GET}\r\nTransfer-Encoding: gzip, chunked`, 501],
    ["Transfer-Encoding: gzip then chunked", `${GET}\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked`, 501],
    ["two chunked codings", `${GET}\r\nTransfer-Encoding: chunked, chunked`, 501],
    ["HTTP/2.0", "GET / HTTP/2.0\r\nHost: x", 505],
    ["HTTP/1.2", "GET / HTTP/1.2\r\nHost: x", 505],
    ["HTTP/2", "GET / HTTP/2\r\nHost: x", 505],
    ["HTTP/0.9", "GET / HTTP/0.9", 505],
    ["CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443", 405],
  ];

  it.each(cases)("rejects %s", (_name, text, status) => {
    httpError(() => req(text), status);
  });

  it("the statuses carry their types", () => {
    expect(httpError(() => req("GET / HTTP/3.0"), 505).type).toBe("http_version_not_supported");
    expect(httpError(() => req("CONNECT h:1 HTTP/1.1\r\nHost: h"), 405).type).toBe("method_not_allowed");
    expect(httpError(() => req(`${GET}\r\nTransfer-Encoding: br, chunked`), 501).type).toBe("not_implemented");
    expect(httpError(() => req("nonsense"), 400).type).toBe("bad_request");
  });

  it("rejects too many header lines with 431", () => {
    const lines = ["GET / HTTP/1.1", "Host: x", ...Array.from({ length: 200 }, (_, i) => `X-${i}: v`)];
    const err = httpError(() => req(lines.join("\r\n")), 431);
    expect(err.type).toBe("too_many_headers");
    httpError(
      () => parseRequestHead("GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2", { maxHeaderBytes: 16384, maxHeaderCount: 2 }),
      431,
    );
  });
});

describe("hasToken", () => {
  it("finds whole tokens in comma lists", () => {
    expect(hasToken("close", "close")).toBe(true);
    expect(hasToken("keep-alive, upgrade", "upgrade")).toBe(true);
    expect(hasToken("upgrade,keep-alive", "upgrade")).toBe(true);
    expect(hasToken("a ,\tclose\t, b", "close")).toBe(true);
    expect(hasToken("closed, close", "close")).toBe(true);
  });

  it("does not match parts of other tokens", () => {
    expect(hasToken("", "close")).toBe(false);
    expect(hasToken("closed", "close")).toBe(false);
    expect(hasToken("xclose", "close")).toBe(false);
    expect(hasToken("upgrade-insecure-requests", "upgrade")).toBe(false);
    expect(hasToken("keep-alive;close", "close")).toBe(false);
    expect(hasToken("no-close-here", "close")).toBe(false);
  });
});

describe("takeResponseHead", () => {
  it("returns undefined until the head is complete, then the head and the bytes after it", () => {
    expect(takeResponseHead(b("HTTP/1.1 200 OK\r\nA: 1\r\n"))).toBeUndefined();
    const taken = takeResponseHead(b("HTTP/1.1 200 OK\r\nA: 1\r\n\r\nbody"));
    expect(taken?.head.status).toBe(200);
    expect(taken?.head.lines).toEqual(["A: 1"]);
    expect(taken?.rest.toString()).toBe("body");
  });

  it("accepts a head of exactly MAX_RESPONSE_HEAD_BYTES and answers 502 beyond it, however the bytes arrive", () => {
    const head = (extra: number) => `HTTP/1.1 200 OK\r\nX: ${"a".repeat(MAX_RESPONSE_HEAD_BYTES - 20 + extra)}`;
    expect(head(0).length).toBe(MAX_RESPONSE_HEAD_BYTES);
    expect(takeResponseHead(b(`${head(0)}\r\n\r\n`))?.rest.length).toBe(0);
    expect(takeResponseHead(b(`${head(0)}\r\n\r`))).toBeUndefined();
    expect(httpError(() => takeResponseHead(b(`${head(1)}\r\n\r\n`)), 502).type).toBe("bad_upstream_response");
    httpError(() => takeResponseHead(b(`${head(1)}\r\n\r`)), 502);
  });
});

describe("parseResponseHead and responseFraming", () => {
  it("parses the status line and headers", () => {
    const h = res("HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nX-A: b");
    expect(h).toEqual({
      status: 404,
      reason: "Not Found",
      minor: 1,
      lines: ["Content-Length: 9", "X-A: b"],
      names: ["content-length", "x-a"],
      keepAlive: true,
    });
    expect(responseHeader(h, "content-length")).toBe("9");
    expect(responseHeader(h, "x-b")).toBeUndefined();
  });

  it("accepts a status line without reason", () => {
    const h = res("HTTP/1.1 200");
    expect(h.status).toBe(200);
    expect(h.reason).toBe("");
    expect(res("HTTP/1.1 200 ").reason).toBe("");
  });

  it("keep-alive follows the version and Connection", () => {
    expect(res("HTTP/1.1 200 OK").keepAlive).toBe(true);
    expect(res("HTTP/1.1 200 OK\r\nConnection: close").keepAlive).toBe(false);
    expect(res("HTTP/1.1 200 OK\r\nConnection: x\r\nConnection: Close").keepAlive).toBe(false);
    const old = res("HTTP/1.0 200 OK");
    expect(old.minor).toBe(0);
    expect(old.keepAlive).toBe(false);
    expect(res("HTTP/1.0 200 OK\r\nConnection: keep-alive").keepAlive).toBe(true);
  });

  it("framing is none for HEAD, 1xx, 204, 304 and Content-Length: 0", () => {
    expect(responseFraming(res("HTTP/1.1 200 OK\r\nContent-Length: 10"), "HEAD")).toEqual({ kind: "none" });
    expect(responseFraming(res("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"), "HEAD")).toEqual({ kind: "none" });
    for (const status of [100, 101, 103, 204, 304]) {
      expect(responseFraming(res(`HTTP/1.1 ${status} X\r\nContent-Length: 10`), "GET")).toEqual({ kind: "none" });
    }
    expect(responseFraming(res("HTTP/1.1 200 OK\r\nContent-Length: 0"), "GET")).toEqual({ kind: "none" });
  });

  it("framing by Content-Length", () => {
    expect(responseFraming(res("HTTP/1.1 200 OK\r\nContent-Length: 10"), "GET")).toEqual({
      kind: "length",
      length: 10,
    });
    expect(responseFraming(res("HTTP/1.1 200 OK\r\nContent-Length: 10, 10"), "POST")).toEqual({
      kind: "length",
      length: 10,
    });
    expect(responseFraming(res("HTTP/1.1 200 OK\r\nContent-Length: 10\r\ncontent-length: 10"), "GET")).toEqual({
      kind: "length",
      length: 10,
    });
  });

  it("framing chunked when the last coding is chunked", () => {
    expect(responseFraming(res("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"), "GET")).toEqual({ kind: "chunked" });
    expect(responseFraming(res("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked"), "GET")).toEqual({
      kind: "chunked",
    });
    expect(
      responseFraming(res("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked"), "GET"),
    ).toEqual({ kind: "chunked" });
  });

  it("framing close-delimited without length or chunked", () => {
    expect(responseFraming(res("HTTP/1.1 200 OK"), "GET")).toEqual({ kind: "close" });
    expect(responseFraming(res("HTTP/1.0 200 OK\r\nX-A: b"), "GET")).toEqual({ kind: "close" });
    expect(responseFraming(res("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip"), "GET")).toEqual({ kind: "close" });
    expect(responseFraming(res("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip"), "GET")).toEqual({
      kind: "close",
    });
  });

  const malformed: [string, string][] = [
    ["no version", "200 OK"],
    ["HTTP/2", "HTTP/2 200 OK"],
    ["HTTP/1.2", "HTTP/1.2 200 OK"],
    ["a two-digit status", "HTTP/1.1 20 OK"],
    ["a four-digit status", "HTTP/1.1 2000 OK"],
    ["a status below 100", "HTTP/1.1 099 OK"],
    ["no space before status", "HTTP/1.1200 OK"],
    ["a CR in the reason", "HTTP/1.1 200 O\rK"],
    ["a NUL in the reason", "HTTP/1.1 200 O\x00K"],
    ["a bare LF", "HTTP/1.1 200 OK\nContent-Length: 1"],
    ["obs-fold", "HTTP/1.1 200 OK\r\nX-A: b\r\n c"],
    ["a space before the colon", "HTTP/1.1 200 OK\r\nContent-Length : 1"],
    ["a header line without colon", "HTTP/1.1 200 OK\r\nX-A"],
    ["a control character in a value", "HTTP/1.1 200 OK\r\nX-A: \x01"],
  ];

  it.each(malformed)("rejects a response head with %s (502)", (_name, text) => {
    const err = httpError(() => res(text), 502);
    expect(err.type).toBe("bad_upstream_response");
  });

  it("rejects too many response header lines (502)", () => {
    httpError(
      () => parseResponseHead("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3", { maxHeaderBytes: 16384, maxHeaderCount: 2 }),
      502,
    );
  });

  it("rejects ambiguous response framing (502)", () => {
    httpError(
      () => responseFraming(res("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked"), "GET"),
      502,
    );
    httpError(
      () => responseFraming(res("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3"), "GET"),
      502,
    );
    httpError(() => responseFraming(res("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4"), "GET"), 502);
    httpError(() => responseFraming(res("HTTP/1.1 200 OK\r\nContent-Length: 3, 4"), "GET"), 502);
    httpError(() => responseFraming(res("HTTP/1.1 200 OK\r\nContent-Length: x"), "GET"), 502);
    httpError(() => responseFraming(res("HTTP/1.1 200 OK\r\nContent-Length: -3"), "GET"), 502);
  });
});

describe("ChunkedScanner", () => {
  const BODY = "5\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n";

  it("scans a complete body in one buffer", () => {
    const s = new ChunkedScanner(1024);
    expect(s.done).toBe(false);
    expect(s.scan(b(BODY))).toBe(BODY.length);
    expect(s.done).toBe(true);
  });

  it("gives the same result fed byte by byte, done exactly at the last byte", () => {
    const s = new ChunkedScanner(1024);
    const bytes = b(BODY);
    let total = 0;
    for (let i = 0; i < bytes.length; i++) {
      expect(s.done, `done before byte ${i}`).toBe(false);
      total += s.scan(bytes.subarray(i, i + 1));
    }
    expect(total).toBe(BODY.length);
    expect(s.done).toBe(true);
  });

  it("does not consume the bytes after the end", () => {
    const next = "GET /next HTTP/1.1\r\nHost: x\r\n\r\n";
    const s = new ChunkedScanner(1024);
    expect(s.scan(b(BODY + next))).toBe(BODY.length);
    expect(s.done).toBe(true);
    expect(s.scan(b(next))).toBe(0);
    // Split so that the end falls inside the second buffer.
    const t = new ChunkedScanner(1024);
    const all = b(BODY + next);
    expect(t.scan(all.subarray(0, 10))).toBe(10);
    expect(t.scan(all.subarray(10))).toBe(BODY.length - 10);
    expect(t.done).toBe(true);
  });

  it("honours the start offset", () => {
    const prefix = "HEADERS";
    const s = new ChunkedScanner(1024);
    expect(s.scan(b(prefix + BODY + "tail"), prefix.length)).toBe(BODY.length);
    expect(s.done).toBe(true);
  });

  it("accepts upper-case hex, leading zeros and 13 hex digits", () => {
    const body = "A\r\n0123456789\r\n000000000000B\r\n0123456789a\r\n0000000000000\r\n\r\n";
    const s = new ChunkedScanner(1024);
    expect(s.scan(b(body))).toBe(body.length);
    expect(s.done).toBe(true);
  });

  it("accepts chunk extensions", () => {
    const body = '3;a=b\r\nabc\r\n2;name="quoted;value";x\t\r\nde\r\n0;last\r\n\r\n';
    const s = new ChunkedScanner(1024);
    expect(s.scan(b(body))).toBe(body.length);
    expect(s.done).toBe(true);
  });

  it("accepts trailers and ends after the blank line that follows them", () => {
    const body = "3\r\nabc\r\n0\r\nX-Checksum: 1234\r\nX-Other: v\r\n\r\n";
    const s = new ChunkedScanner(1024);
    expect(s.scan(b(`${body}rest`))).toBe(body.length);
    expect(s.done).toBe(true);
  });

  it("is not done while the trailer section is open", () => {
    const s = new ChunkedScanner(1024);
    expect(s.scan(b("0\r\nX-A: b\r\n"))).toBe(11);
    expect(s.done).toBe(false);
    expect(s.scan(b("\r"))).toBe(1);
    expect(s.done).toBe(false);
    expect(s.scan(b("\nnext"))).toBe(1);
    expect(s.done).toBe(true);
  });

  const errors: [string, string][] = [
    ["a non-hex size", "g\r\nabc\r\n0\r\n\r\n"],
    ["a 0x prefix", "0x3\r\nabc\r\n0\r\n\r\n"],
    ["a negative size", "-3\r\nabc\r\n0\r\n\r\n"],
    ["a missing size", "\r\nabc\r\n0\r\n\r\n"],
    ["a missing size before an extension", ";a=b\r\n0\r\n\r\n"],
    ["a space after the size", "3 \r\nabc\r\n0\r\n\r\n"],
    ["a space before the size", " 3\r\nabc\r\n0\r\n\r\n"],
    ["a bare LF after the size", "3\nabc\r\n0\r\n\r\n"],
    ["a CR not followed by LF after the size", "3\rabc\r\n0\r\n\r\n"],
    ["a bare LF in an extension", "3;a\nabc\r\n0\r\n\r\n"],
    ["a NUL in an extension", "3;a\x00\r\nabc\r\n0\r\n\r\n"],
    ["data longer than its size", "3\r\nabcd\r\n0\r\n\r\n"],
    ["data without its CRLF", "3\r\nabc0\r\n\r\n"],
    ["data followed by a bare LF", "3\r\nabc\n0\r\n\r\n"],
    ["a size of 14 hex digits", "00000000000003\r\nabc\r\n0\r\n\r\n"],
    ["a huge size", "fffffffffffffff\r\n"],
    ["a bare LF ending the body", "0\r\n\n"],
    ["a bare CR ending the body", "0\r\n\rX"],
    ["a bare LF in a trailer", "0\r\nX-A: b\nc\r\n\r\n"],
    ["a bare CR in a trailer", "0\r\nX-A: b\rc\r\n\r\n"],
    ["a NUL in a trailer", "0\r\nX-A: b\x00\r\n\r\n"],
    ["a NUL starting a trailer line", "0\r\n\x00X-A: b\r\n\r\n"],
    ["a trailer line without a colon", "0\r\nX-A b\r\n\r\n"],
    ["a trailer with an empty name", "0\r\n: b\r\n\r\n"],
    ["a space before a trailer's colon", "0\r\nX-A : b\r\n\r\n"],
    ["an obs-folded trailer line", "0\r\nX-A: b\r\n c\r\n\r\n"],
    ["a control byte in a trailer value", "0\r\nX-A: b\x01\r\n\r\n"],
    ["a DEL in a trailer value", "0\r\nX-A: b\x7f\r\n\r\n"],
    ["a chunk extension longer than the limit", `3;${"a".repeat(1025)}\r\nabc\r\n0\r\n\r\n`],
  ];

  it.each(errors)("rejects %s (400)", (_name, body) => {
    const err = httpError(() => new ChunkedScanner(1024).scan(b(body)), 400);
    expect(err.type).toBe("bad_request");
  });

  it("reports the same error fed byte by byte", () => {
    for (const [name, body] of errors) {
      const s = new ChunkedScanner(1024);
      httpError(() => {
        for (const byte of b(body)) s.scan(Buffer.from([byte]));
      }, 400);
      expect(s.done, name).toBe(false);
    }
  });

  it("accepts trailers with obs-text, tabs and empty values, and an extension at the limit", () => {
    for (const body of ["0\r\nX-A:\r\nX-B:\tv\xe9 w\t\r\n\r\n", `3;${"a".repeat(1024)}\r\nabc\r\n0\r\n\r\n`]) {
      const s = new ChunkedScanner(1024);
      expect(s.scan(b(body))).toBe(body.length);
      expect(s.done).toBe(true);
    }
  });

  it("uses the error factory it is given (502 for responses)", () => {
    httpError(() => new ChunkedScanner(1024, chunkedResponseError).scan(b("zz\r\n")), 502);
  });

  it("rejects a trailer section larger than the limit with 431", () => {
    const ok = new ChunkedScanner(64);
    const fits = `0\r\nX-T: ${"a".repeat(40)}\r\n\r\n`;
    expect(ok.scan(b(fits))).toBe(fits.length);
    expect(ok.done).toBe(true);
    const err = httpError(() => new ChunkedScanner(64).scan(b(`0\r\nX-T: ${"a".repeat(80)}\r\n\r\n`)), 431);
    expect(err.type).toBe("headers_too_large");
    // Many small trailer lines count together.
    httpError(() => new ChunkedScanner(64).scan(b(`0\r\n${"X: y\r\n".repeat(20)}\r\n`)), 431);
  });
});
