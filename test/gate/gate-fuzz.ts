// The end-to-end differential fuzzer of the gate (issue 11). Seeded, random and mutated HTTP/1.1 — every framing,
// hop-by-hop, Connection-token, trailer, upgrade, pipelining, public-path and credential shape the security findings
// were made of — is sent through the real sidecar in each mode to an upstream that parses with llhttp, the real
// gateway's parser (test/helpers/recording-upstream.ts). The oracle holds for every request that upstream parses:
//
//   1. it was written by the sidecar: exactly one X-Forwarded-For, carrying this run's secret marker (the
//      loopbackSubstitute, which no generated input contains), one X-Forwarded-Proto, at most one X-Forwarded-Host
//      equal to its Host; no forwarding or identity header of a client's (local mode: no forwarding header at all);
//   2. it was authorised: identity mode injects a configured user with exactly that user's scopes, or the path the
//      gateway resolves is public and it is no upgrade; local mode forwards the gateway token or a public path;
//   3. nothing reached the gateway that the sidecar did not decide to send: per connection, the requests upstream
//      parsed are, in order, among the ones the sidecar's access log says it forwarded (`sentUpstream`) — fewer
//      when the sidecar cut a body it refused before the head left, never more, never others;
//   4. every client byte it accepted is accounted for (unmutated cases): bodies and tunnel bytes arrive whole — also
//      bytes sent while the gateway had not answered an upgrade yet — and each forwarded request carries the identity
//      of the credential it was sent with;
//   5. trailers carry nothing a head may not, and every redirect the client receives stays on the sidecar's origin;
//   7. a sub-path is a boundary (publicBasePath, a configuration dimension: one worker of each mode runs under
//      BASE_PATH): the gateway parses no request whose path, as the gateway resolves it, is outside the prefix — not
//      the prefix or below it, or carrying an encoded "/" or "\\" — over HTTP or as an upgrade; public paths and the
//      Control UI shell count relative to the prefix there;
//   6. identities are data (issue 21): in mode "assertion" every request carries a real signed assertion whose user
//      claim is a generated identity (test/gate/identity-fuzz.ts: CR, LF, NUL, latin1-truncating and look-alike code
//      points, long values), and the gateway parses exactly one user header equal, byte for byte, to the identity
//      the rule gives for that claim — or nothing of the request with an identity. OIDC claims and configured
//      names go through the same oracle in runIdentitySources (identity-fuzz.ts);
//   7. allowedClients (issue 23): in mode "allow-list" (identity mode behind a trusted hop, with a list) cases come
//      from three loopback addresses — one outside the list, one inside, and the trusted hop, whose generated
//      X-Forwarded-For chains name clients in and out of it. Nothing from the address outside reaches the gateway;
//      through the hop only a client in the list does (the one X-Forwarded-For the gateway parses is in it); and in
//      unmutated cases each request's verdict in the access log is the one an independent walk of its chain gives —
//      403 client_not_allowed with nothing sent, or anything but that.
//
//   node test/gate/gate-fuzz.ts [--long] [--seed N] [--cases N]     (npm run fuzz -- --long)
// In `npm test` it runs with a fixed budget (test/gate/gate-fuzz.test.ts); a failure prints its seed, case and bytes.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { type Server, createServer } from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { COOKIE_NAME } from "../../src/gate/auth-gate.ts";
import { TokenVerifier, signSession } from "../../src/gate/credentials.ts";
import type { Mode } from "../../src/options/config.ts";
import { redactUrl } from "../../src/ops/log.ts";
import { type Parsed, type RecordingUpstream, startRecordingUpstream } from "../helpers/recording-upstream.ts";
import {
  ASSERTION,
  type AssertionSigner,
  assertionSigner,
  expectedIdentity,
  expectedVerified,
  generateIdentity,
  generateVerified,
  runIdentitySources,
} from "./identity-fuzz.ts";
import { type Rng, rng } from "../helpers/rng.ts";
import { type TestSidecar, startTestSidecar } from "../helpers/sidecar.ts";

/**
 * The sidecar's modes, plus identity mode with one user, where session-less upgrades are held (token-field login),
 * identity mode with verified assertions whose user claims are generated identities, and identity mode behind a
 * trusted hop with allowedClients set (allow-list).
 */
export type FuzzMode = Mode | "token-field" | "assertion" | "allow-list";
export interface FuzzOptions {
  seed: number;
  casesPerMode: number;
  modes?: FuzzMode[];
  workers?: number;
}
export interface Violation {
  mode: FuzzMode | "identity-sources";
  caseIndex: number;
  rule: string;
  detail: string;
  bytes: string;
}
export interface FuzzResult {
  cases: number;
  upstreamRequests: number;
  /** Mode "assertion": requests that reached the gateway with a generated identity (the oracle judged something). */
  assertedIdentities: number;
  /** runIdentitySources: generated OIDC claims and configured names, and how many were granted. */
  identitySources: { cases: number; granted: number };
  /** Mode "allow-list": requests from inside the list that reached the gateway, and refusals client_not_allowed. */
  allowList: { passed: number; refused: number };
  violations: Violation[];
  ms: number;
}

// ---- the world the cases live in ----------------------------------------------------------------------------

/** Never produced by the generator: an X-Forwarded-For carrying it can only have been written by the sidecar. */
const MARKER = "198.51.100.77";
const SECRET = "fuzz-cookie-secret-0123456789abcdef";
const USERS = {
  alice: { token: "alice-token-0123456789abcdefghij", scopes: ["operator.read", "operator.write"] },
  bob: { token: "bob-token-0123456789abcdefghijklm", scopes: ["operator.admin", "operator.read"] },
} as const;
const LOCAL_TOKEN = "local-gateway-token-0123456789abcd";
const PUBLIC_PATHS = ["/healthz", "/assets/", "/static/"];
/** publicBasePath of the workers that run under a prefix (workers with index 1 of each mode). */
const BASE_PATH = "/claw";
/** Targets at the prefix's edge, for the workers under BASE_PATH (beside every TARGET with the prefix before it). */
const BASE_TARGETS = [
  "/claw",
  "/claw/",
  "/claw?token=x",
  "/CLAW/",
  "/Claw/healthz",
  "/clawx",
  "/claw-x/",
  "/claw/../api",
  "/claw/%2e%2e/api",
  "/claw/.%2E/api",
  "/claw/..%2fapi",
  "/claw%2fhealthz",
  "/claw%5Chealthz",
  "/claw\\..\\api",
  "/claw/x/../../api",
  "/%63law/healthz",
  "/%63law/../api",
  "/c%6caw/assets/a.js",
  "/claw/..;/api",
  "/claw/%00/x",
  "http://x/claw/abs",
  "http://x/clawabs",
  "/claw/j/abcdefghijklmnopqrstuv",
];

/** What a client writes to look like someone else; the oracle knows every name and value. */
const FORGED: Array<[string, string]> = [
  ["X-Forwarded-For", "10.9.9.9"],
  ["x-forwarded-user", "mallory"],
  ["X-OpenClaw-Scopes", "operator.admin"],
  ["Forwarded", "for=10.9.9.9"],
  ["X-Real-IP", "10.9.9.9"],
  ["tailscale-user-login", "mallory"],
  ["CF-Connecting-IP", "10.9.9.9"],
  ["x_forwarded_for", "10.9.9.9"],
  ["X-Forwarded-Host", "evil.example"],
  ["X-Forwarded-Proto", "https"],
  ["True-Client-IP", "10.9.9.9"],
  ["X-Auth-Request-User", "mallory"],
  ["Remote-User", "mallory"],
  ["X-Original-URL", "/admin"],
  ["x_forwarded_user", "mallory"],
  ["X-Client-IP", "10.9.9.9"],
  ["CF-Access-Client-Id", "mallory.access"],
  ["CF-Access-Client-Secret", "mallory-secret"],
];
const FORGED_VALUES = new Set(FORGED.map(([, v]) => v));

const SMUGGLED = [
  "GET /smuggled HTTP/1.1\r\nHost: x\r\nx-forwarded-user: mallory\r\nx-openclaw-scopes: operator.admin\r\nX-Forwarded-For: 10.9.9.9\r\n\r\n",
  "GET /smuggled-ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nx-forwarded-user: mallory\r\n\r\n",
  "POST /smuggled-post HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nForwarded: for=10.9.9.9\r\n\r\nabcd",
];

// ---- allowedClients (mode "allow-list") ----
/** The loopback addresses cases connect from: outside allowedClients, inside it, and the one trusted hop. */
const OUTSIDE = "127.0.0.1";
const INSIDE = "127.0.0.3";
const HOP = "127.0.0.2";
const ALLOWED_CLIENTS = `${INSIDE}, 203.0.113.0/24, 2001:db8::/32`;
/**
 * X-Forwarded-For entries and what each is, read by hand (not by src/): a client in or out of ALLOWED_CLIENTS, the
 * trusted hop (any spelling), something that stops the walk (not an address in the strict forms), or nothing.
 */
type Entry = "in" | "out" | "hop" | "stop" | "empty";
const XFF_ENTRIES = new Map<string, Entry>([
  ["203.0.113.5", "in"],
  ["203.0.113.200", "in"],
  ["::ffff:203.0.113.9", "in"],
  ["2001:db8::7", "in"],
  ["[2001:db8::7]:443", "in"],
  ["203.0.113.5:8080", "in"],
  [INSIDE, "in"],
  ["198.51.100.9", "out"],
  ["10.9.9.9", "out"], // FORGED's X-Forwarded-For
  [OUTSIDE, "out"],
  ["::1", "out"],
  ["2001:db9::7", "out"],
  ["fe80::1%eth0", "out"],
  ["203.0.114.5", "out"],
  [HOP, "hop"],
  ["::ffff:127.0.0.2", "hop"],
  ["127.0.0.2:9000", "hop"],
  ["garbage", "stop"],
  ["unknown", "stop"],
  ["203.0.113", "stop"],
  ["0xcb.0.113.5", "stop"],
  ["", "empty"],
]);
const XFF_VALUES = [...XFF_ENTRIES.keys()];

/**
 * Whether allowedClients lets a request in, from the address it came from and its head lines: the hop's chain is
 * walked right to left past the hop's own entries; the first other entry decides, and one that is no address, or no
 * entry at all, leaves the hop as the client, which is not in the list.
 */
function expectedAllowed(from: string, lines: readonly string[]): boolean {
  if (from !== HOP) return from === INSIDE;
  const chain = lines
    .filter((l) => /^x-forwarded-for:/i.test(l))
    .flatMap((l) => l.slice(l.indexOf(":") + 1).split(","))
    .map((e) => e.trim());
  for (let i = chain.length - 1; i >= 0; i--) {
    const entry = XFF_ENTRIES.get(chain[i] as string);
    if (entry === undefined) throw new Error(`allow-list: no verdict for the entry ${JSON.stringify(chain[i])}`);
    if (entry === "empty" || entry === "hop") continue;
    return entry === "in";
  }
  return false;
}

const TARGETS = [
  "/",
  "/x",
  "/api/x",
  "/chat?session=1",
  "/healthz",
  "/healthz/",
  "/assets/app.js",
  "/static/app.css",
  "/static/../api/x",
  "/static/%2e%2e/api/x",
  "/static/.%2E/api",
  "/static/..%2fapi",
  "/static\\..\\api",
  "/assets/..;/api",
  "/st%61tic/a.js",
  "/%73tatic/../api",
  "//evil.example/",
  "/.//evil.example/",
  "/healthz/../api",
  "/assets/./x",
  "/a/b/../../healthz",
  "*",
  "http://x/abs",
  "/assets/%2e%2e%2f..%2fapi",
  "/static/x#/../../api",
  "/\\evil.example",
];

// ---- generating one case --------------------------------------------------------------------------------------

interface Generated {
  method: string;
  target: string;
  upgrade: boolean;
  /** Decoded body as the gateway should see it. */
  body: Buffer;
  /** Bytes the client sends after an upgrade head. */
  tunnel: Buffer;
  /** The user whose credential the request carries (identity mode), "local" for the gateway token, or none. */
  credential: keyof typeof USERS | "local" | undefined;
  /** Mode "assertion": the identity the rule gives for the assertion's claim, or null when it must be refused. */
  asserted?: string | null;
  /** Mode "allow-list": whether allowedClients lets the request in (expectedAllowed). */
  allowed?: boolean;
}
interface Case {
  bytes: Buffer;
  requests: Generated[];
  exact: boolean;
  /** Where an upgrade's tunnel bytes begin: the client pauses there sometimes, so they land before the 101. */
  tunnelAt: number | undefined;
  /** Mode "allow-list": the loopback address the case connects from. */
  from?: string;
}

function cookieFor(user: keyof typeof USERS, ttlMs = 600_000): string {
  const cred = { user, token: USERS[user].token };
  const verifier = new TokenVerifier([cred]);
  return `${COOKIE_NAME}=${signSession({ current: Buffer.from(SECRET), previous: [] }, { user, credential: verifier.idOf(cred) }, Date.now(), ttlMs)}`;
}

/** What an assertion worker signs with, and which claim its sidecar takes the user from. */
export interface AssertionContext {
  signer: AssertionSigner;
  claim: "email" | "name";
}

/**
 * A signed assertion whose user claim is a generated identity, or a broken one; `asserted` is what the rule expects.
 */
function assertionLines(r: Rng, ctx: AssertionContext): { lines: string[]; asserted: string | null | undefined } {
  if (r.chance(0.15)) return { lines: [], asserted: undefined };
  if (r.chance(0.1))
    return {
      lines: [
        `X-Edge-Assertion: ${r.pick(["garbage", "a.b.c", ctx.signer.sign({ email: "alice@example.com" }).slice(0, -4)])}`,
      ],
      asserted: null,
    };
  const raw = generateIdentity(r);
  const verified = generateVerified(r);
  const claims = {
    [ctx.claim]: raw,
    ...(ctx.claim === "name" ? { email: "someone@example.com" } : {}),
    ...(verified === undefined ? {} : { email_verified: verified }),
  };
  const identity = expectedIdentity(raw, ctx.claim === "email" ? "email" : "exact");
  const admitted = ctx.claim !== "email" || expectedVerified(verified, false);
  return {
    lines: [`X-Edge-Assertion: ${ctx.signer.sign(claims)}`],
    asserted: admitted && identity !== undefined ? identity : null,
  };
}

function credentialLines(
  r: Rng,
  mode: FuzzMode,
  target: string,
  upgrade: boolean,
): { lines: string[]; credential: Generated["credential"]; target: string } {
  // Token-field login: upgrades come with no credential at all, so every one is held for its first message.
  if (mode === "token-field" && upgrade) return { lines: [], credential: undefined, target };
  if (mode === "attribution")
    return {
      lines: r.chance(0.2) ? [`Authorization: Bearer ${r.pick(["x", USERS.alice.token])}`] : [],
      credential: undefined,
      target,
    };
  const choice = r.int(mode === "local" ? 6 : 10);
  const join = (t: string, q: string) => `${t}${t.includes("?") ? "&" : "?"}${q}`;
  if (mode === "local") {
    switch (choice) {
      case 0:
        return { lines: [`Authorization: Bearer ${LOCAL_TOKEN}`], credential: "local", target };
      case 1:
        return { lines: ["Authorization: Bearer wrong-token"], credential: undefined, target };
      case 2:
        return { lines: [], credential: undefined, target: join(target, `token=${LOCAL_TOKEN}`) };
      case 3:
        return { lines: [], credential: undefined, target: join(target, "token=wrong") };
      default:
        return { lines: [], credential: undefined, target };
    }
  }
  switch (choice) {
    case 0:
      return { lines: [`Authorization: Bearer ${USERS.alice.token}`], credential: "alice", target };
    case 1:
      return { lines: [`Authorization: bearer ${USERS.bob.token}`], credential: "bob", target };
    case 2:
      return { lines: [`Cookie: theme=dark; ${cookieFor("alice")}`], credential: "alice", target };
    case 3:
      return { lines: [`Cookie: ${cookieFor("bob")}`], credential: "bob", target };
    case 4:
      return { lines: [`Cookie: ${cookieFor("alice").replace(/.$/, "A")}`], credential: undefined, target };
    case 5:
      return { lines: ["Authorization: Bearer wrong-token"], credential: undefined, target };
    case 6:
      return { lines: [], credential: undefined, target: join(target, `token=${USERS.alice.token}`) };
    case 7:
      return { lines: [], credential: undefined, target: join(target, "token=wrong") };
    default:
      return { lines: [], credential: undefined, target };
  }
}

/** One request: head lines, body framing and bytes. `exact` goes false when framing is meant to mislead. */
function generateRequest(
  r: Rng,
  mode: FuzzMode,
  port: number,
  state: { exact: boolean; from?: string },
  ctx: AssertionContext | undefined,
  base: string,
): { bytes: string; gen: Generated } {
  const upgrade = r.chance(mode === "token-field" ? 0.5 : 0.2);
  const method = upgrade
    ? r.chance(0.9)
      ? "GET"
      : "POST"
    : r.pick(["GET", "GET", "POST", "POST", "PUT", "HEAD", "OPTIONS", "DELETE", "PATCH"]);
  const assertion = mode === "assertion" && ctx !== undefined ? assertionLines(r, ctx) : undefined;
  // Under a prefix: mostly the usual targets below it, sometimes as they are (outside), sometimes at its edge.
  const pick = () => {
    const t = r.pick(TARGETS);
    if (base === "") return t;
    const roll = r.int(10);
    return roll < 7 && t.startsWith("/") ? `${base}${t}` : roll < 9 ? r.pick(BASE_TARGETS) : t;
  };
  const cred =
    assertion !== undefined
      ? { lines: assertion.lines, credential: undefined, target: pick() }
      : credentialLines(r, mode, pick(), upgrade);
  if (mode === "token-field" && cred.credential === "bob") cred.credential = undefined; // bob is not configured there
  const target = cred.target;
  const lines: string[] = [];
  if (r.chance(0.95)) lines.push(`Host: ${r.pick([`127.0.0.1:${port}`, "x", "localhost"])}`);
  lines.push(...cred.lines);
  if (upgrade) {
    lines.push("Upgrade: websocket", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==");
    if (r.chance(0.5))
      lines.push(`Origin: ${r.pick([`http://127.0.0.1:${port}`, `https://127.0.0.1:${port}`, "http://evil.example"])}`);
  }
  for (let i = r.int(3); i > 0; i--) {
    const [name, value] = r.pick(FORGED);
    lines.push(`${name}: ${value}`);
  }
  // Chains a trusted hop might send (or a client might forge), of clients in and out of the list.
  if (mode === "allow-list")
    for (let i = r.chance(0.85) ? 1 + r.int(2) : 0; i > 0; i--)
      lines.push(
        `X-Forwarded-For: ${Array.from({ length: 1 + r.int(3) }, () => r.pick(XFF_VALUES)).join(r.pick([", ", ","]))}`,
      );
  const allowed = state.from === undefined ? undefined : expectedAllowed(state.from, lines);
  if (r.chance(0.2))
    lines.push(
      r.pick([
        "Trailer: x-checksum",
        "TE: trailers",
        "Expect: 100-continue",
        "Keep-Alive: timeout=5",
        "Proxy-Connection: keep-alive",
      ]),
    );
  // Connection tokens, the framing-field ones included.
  const tokens: string[] = upgrade ? ["Upgrade"] : [];
  // (Not Authorization in local mode: a client may drop its own gateway token, and the oracle could not tell.)
  const named = [
    "close",
    "keep-alive",
    "keep-alive",
    "x-forwarded-for",
    "x-forwarded-user",
    "cookie",
    "te",
    "trailer",
    "x-hop",
    "origin",
    ...(mode === "local" ? [] : ["authorization"]),
  ];
  for (let i = r.chance(0.5) ? r.int(3) : 0; i > 0; i--)
    tokens.push(r.chance(0.15) ? r.pick(["content-length", "transfer-encoding", "host"]) : r.pick(named));
  if (tokens.length > 0) lines.push(`Connection: ${tokens.join(r.pick([", ", ",", " , "]))}`);
  if (tokens.includes("x-hop")) lines.push("x-hop: 1");

  // The body, and how it is framed.
  const payload = Buffer.from(r.chance(0.4) ? r.pick(SMUGGLED) : `body-${r.int(1e6)}`, "latin1");
  let bodyBytes = "";
  let decoded = Buffer.alloc(0);
  const framing = r.int(14);
  switch (framing > 8 ? r.pick([0, 3, 5]) : framing) {
    case 0:
    case 1:
    case 2:
      break; // none
    case 3:
      lines.push(`Content-Length: ${payload.length}`);
      bodyBytes = payload.toString("latin1");
      decoded = payload;
      break;
    case 4: {
      // a wrong length: the rest is the next request, as the sidecar sees it
      const length = r.int(payload.length + 8);
      lines.push(`Content-Length: ${length}`);
      bodyBytes = payload.toString("latin1");
      state.exact = false;
      break;
    }
    case 5: {
      // chunked, with extensions and trailers (forbidden ones among them)
      lines.push(r.pick(["Transfer-Encoding: chunked", "Transfer-Encoding: chunked", "transfer-encoding: Chunked"]));
      const cut = r.int(payload.length + 1);
      const ext = r.chance(0.2) ? ";name=value" : "";
      for (const part of [payload.subarray(0, cut), payload.subarray(cut)])
        if (part.length > 0) bodyBytes += `${part.length.toString(16)}${ext}\r\n${part.toString("latin1")}\r\n`;
      bodyBytes += "0\r\n";
      if (r.chance(0.4)) {
        const [name, value] = r.chance(0.5) ? r.pick(FORGED) : ["x-checksum", "1234"];
        bodyBytes += `${name}: ${value}\r\n`;
      }
      bodyBytes += "\r\n";
      decoded = payload;
      break;
    }
    case 6: // both framings, or a doubled length
      lines.push(
        ...r.pick([
          [`Content-Length: ${payload.length}`, "Transfer-Encoding: chunked"],
          [`Content-Length: ${payload.length}`, `Content-Length: ${payload.length + 1}`],
          [`Content-Length: ${payload.length}, ${payload.length}`],
        ]),
      );
      bodyBytes = payload.toString("latin1");
      state.exact = false;
      break;
    case 7: // codings the sidecar does not speak
      lines.push(
        `Transfer-Encoding: ${r.pick(["chunked, chunked", "gzip, chunked", "identity", "chunked ", "xchunked", "chunked;q=1"])}`,
      );
      bodyBytes = `${payload.length.toString(16)}\r\n${payload.toString("latin1")}\r\n0\r\n\r\n`;
      state.exact = false;
      break;
    default: // malformed chunk sizes
      lines.push("Transfer-Encoding: chunked");
      bodyBytes = `${r.pick(["0x5", "5 ", "-1", "fffffffffffffff", "5\n", " 5"])}\r\nhello\r\n0\r\n\r\n`;
      state.exact = false;
  }
  const tunnel = !upgrade
    ? Buffer.alloc(0)
    : mode === "token-field"
      ? firstMessages(r)
      : Buffer.from(`tunnel-${r.int(1e6)}`);
  const version = r.chance(0.95) ? "HTTP/1.1" : "HTTP/1.0";
  const head = `${method} ${target} ${version}\r\n${lines.map((l) => `${l}\r\n`).join("")}\r\n`;
  return {
    bytes: head + bodyBytes + tunnel.toString("latin1"),
    gen: {
      method,
      target,
      upgrade,
      body: decoded,
      tunnel,
      credential: cred.credential,
      ...(assertion !== undefined ? { asserted: assertion.asserted } : {}),
      ...(allowed !== undefined ? { allowed } : {}),
    },
  };
}

/** A masked client frame. */
function maskedFrame(opcode: number, payload: Buffer, fin = true, masked = true): Buffer {
  const n = payload.length;
  const len =
    n < 126 ? Buffer.from([(masked ? 0x80 : 0) | n]) : Buffer.from([(masked ? 0x80 : 0) | 126, n >> 8, n & 0xff]);
  if (!masked) return Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | opcode]), len, payload]);
  const mask = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
  return Buffer.concat([
    Buffer.from([(fin ? 0x80 : 0) | opcode]),
    len,
    mask,
    Buffer.from(payload.map((b, i) => b ^ (mask[i & 3] as number))),
  ]);
}

/** What a client sends first on a held upgrade: a connect with the right, a wrong or no token, or something else. */
function firstMessages(r: Rng): Buffer {
  const connect = (token: string | undefined) =>
    Buffer.from(
      JSON.stringify({
        type: "req",
        id: `c${r.int(100)}`,
        method: "connect",
        params: { minProtocol: 4, auth: token === undefined ? {} : { token } },
      }),
    );
  const message = r.pick([
    connect(USERS.alice.token),
    connect(USERS.alice.token),
    connect("wrong-token"),
    connect(USERS.bob.token),
    connect(undefined),
    Buffer.from('{"type":"req","method":"chat.send"}'),
    Buffer.from("not json"),
  ]);
  const after = r.chance(0.5) ? maskedFrame(0x1, Buffer.from(`after-${r.int(1e6)}`)) : Buffer.alloc(0);
  switch (r.int(5)) {
    case 0: {
      // fragmented, with a ping between the fragments
      const cut = 1 + r.int(message.length - 1);
      return Buffer.concat([
        maskedFrame(0x1, message.subarray(0, cut), false),
        maskedFrame(0x9, Buffer.from("p")),
        maskedFrame(0x0, message.subarray(cut)),
        after,
      ]);
    }
    case 1:
      return Buffer.concat([maskedFrame(0x1, message, true, false), after]); // unmasked: a protocol error
    default:
      return Buffer.concat([maskedFrame(0x1, message), after]);
  }
}

/** The first data message in client frames (an independent reading: unmask, join fragments, skip control frames). */
function firstClientMessage(bytes: Buffer): string | undefined {
  let at = 0;
  let text = "";
  while (at + 2 <= bytes.length) {
    const opcode = (bytes[at] as number) & 0x0f;
    const fin = ((bytes[at] as number) & 0x80) !== 0;
    let n = (bytes[at + 1] as number) & 0x7f;
    let head = 2;
    if (n === 126) {
      n = bytes.readUInt16BE(at + 2);
      head = 4;
    }
    const masked = ((bytes[at + 1] as number) & 0x80) !== 0;
    const mask = masked ? bytes.subarray(at + head, at + head + 4) : Buffer.alloc(4);
    const start = at + head + (masked ? 4 : 0);
    const payload = Buffer.from(bytes.subarray(start, start + n).map((b, i) => b ^ (mask[i & 3] as number)));
    at = start + n;
    if (opcode >= 8) continue;
    text += payload.toString("utf8");
    if (fin) return text;
  }
  return undefined;
}

const MUTATIONS = [
  "\r\n",
  "\n",
  "\r",
  " ",
  "\t",
  "\0",
  "\r\n\r\n",
  "0\r\n\r\n",
  "Transfer-Encoding: chunked\r\n",
  "Content-Length: 0\r\n",
  ":",
  ",",
  "\x7f",
  "\x80",
];

function mutate(r: Rng, bytes: Buffer): Buffer {
  const at = r.int(bytes.length);
  switch (r.int(4)) {
    case 0:
      return Buffer.concat([bytes.subarray(0, at), Buffer.from(r.pick(MUTATIONS), "latin1"), bytes.subarray(at)]);
    case 1:
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1 + r.int(8))]);
    case 2: {
      const copy = Buffer.from(bytes);
      copy[at] = Buffer.from(r.pick(MUTATIONS), "latin1")[0] as number;
      return copy;
    }
    default: {
      // repeat a line
      const text = bytes.toString("latin1");
      const start = text.lastIndexOf("\r\n", at) + 2;
      const end = text.indexOf("\r\n", at);
      if (end === -1) return bytes;
      return Buffer.from(text.slice(0, end + 2) + text.slice(start, end + 2) + text.slice(end + 2), "latin1");
    }
  }
}

export function generateCase(r: Rng, mode: FuzzMode, port: number, ctx?: AssertionContext, base = ""): Case {
  const from = mode === "allow-list" ? r.pick([OUTSIDE, INSIDE, HOP, HOP]) : undefined;
  const state = { exact: true, ...(from !== undefined ? { from } : {}) };
  const requests: Generated[] = [];
  let bytes = "";
  let tunnelAt: number | undefined;
  for (let n = 1 + (r.chance(0.4) ? r.int(4) : 0); n > 0; n--) {
    const { bytes: b, gen } = generateRequest(r, mode, port, state, ctx, base);
    bytes += b;
    requests.push(gen);
    if (gen.upgrade) {
      tunnelAt = bytes.length - gen.tunnel.length;
      break; // whatever follows an upgrade is tunnel bytes
    }
  }
  let out: Buffer = Buffer.from(bytes, "latin1");
  if (r.chance(0.3)) {
    state.exact = false;
    for (let i = 1 + r.int(2); i > 0; i--) out = mutate(r, out);
  }
  return { bytes: out, requests, exact: state.exact, tunnelAt, ...(from !== undefined ? { from } : {}) };
}

// ---- running it ------------------------------------------------------------------------------------------------

interface Worker {
  mode: FuzzMode;
  /** publicBasePath it runs under ("" = the root). */
  base: string;
  up: RecordingUpstream;
  sc: TestSidecar;
  port: number;
  ctx?: AssertionContext;
}

async function startWorker(
  mode: FuzzMode,
  dir: string,
  assertions: { ctx: AssertionContext; jwksUrl: string } | undefined,
  basePath: string,
): Promise<Worker> {
  // The 101 comes a little late, so that split writes land while the handshake is still open.
  const up = await startRecordingUpstream({ upgradeDelayMs: 3 });
  const base = {
    "--upstream": up.url,
    "--loopback-substitute": MARKER,
    "--log-level": "info",
    "--headers-timeout-ms": "2000",
    "--body-timeout-ms": "2000",
    ...(basePath !== "" ? { "--public-base-path": basePath } : {}),
  };
  let flags: Record<string, string> = base;
  if (mode === "identity" || mode === "token-field" || mode === "allow-list") {
    const file = path.join(dir, `tokens-${mode}.json`);
    const users = Object.entries(USERS).filter(([user]) => mode !== "token-field" || user === "alice");
    writeFileSync(file, JSON.stringify(users.map(([user, u]) => ({ user, token: u.token, scopes: u.scopes }))));
    flags = {
      ...base,
      "--mode": "identity",
      "--tokens-file": file,
      "--cookie-secret": SECRET,
      "--public-paths": PUBLIC_PATHS.join(","),
      "--auth-max-failures": "1000000",
      ...(mode === "allow-list" ? { "--trusted-hops": HOP, "--allowed-clients": ALLOWED_CLIENTS } : {}),
    };
  } else if (mode === "assertion" && assertions !== undefined) {
    flags = {
      ...base,
      "--mode": "identity",
      "--trust-assertion": "generic",
      "--assertion-header": ASSERTION.header,
      "--assertion-jwks-url": assertions.jwksUrl,
      "--assertion-audience": ASSERTION.audience,
      "--assertion-issuer": ASSERTION.issuer,
      "--assertion-user-claim": assertions.ctx.claim,
      "--cookie-secret": SECRET,
      "--public-paths": PUBLIC_PATHS.join(","),
      "--auth-max-failures": "1000000",
    };
  } else if (mode === "local") {
    flags = {
      ...base,
      "--mode": "local",
      "--token": LOCAL_TOKEN,
      "--cookie-secret": SECRET,
      "--public-paths": PUBLIC_PATHS.join(","),
      "--auth-max-failures": "1000000",
    };
  }
  const sc = await startTestSidecar(flags);
  return {
    mode,
    base: basePath,
    up,
    sc,
    port: Number(new URL(sc.url).port),
    ...(assertions !== undefined ? { ctx: assertions.ctx } : {}),
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const QUIET_MS = 40;

/** Sends one case over one connection, in random pieces; returns when nothing more happens. */
async function send(w: Worker, c: Case, r: Rng): Promise<Buffer> {
  const socket = net.connect({
    port: w.port,
    host: "127.0.0.1",
    ...(c.from !== undefined ? { localAddress: c.from } : {}),
  });
  let last = Date.now();
  let closed = false;
  const received: Buffer[] = [];
  socket.on("data", (d: Buffer) => {
    received.push(d);
    last = Date.now();
  });
  socket.on("error", () => {});
  socket.on("close", () => (closed = true));
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()).once("close", () => resolve()));
  let at = 0;
  const pauseAt = c.tunnelAt !== undefined && r.chance(0.5) ? c.tunnelAt : -1;
  while (at < c.bytes.length && !closed) {
    let n = r.chance(0.5) ? c.bytes.length - at : 1 + r.int(Math.min(64, c.bytes.length - at));
    if (at < pauseAt && at + n > pauseAt) n = pauseAt - at;
    socket.write(c.bytes.subarray(at, at + n));
    at += n;
    if (at === pauseAt) await sleep(r.int(6));
    if (r.chance(0.3)) await new Promise((resolve) => setImmediate(resolve));
    else if (r.chance(0.1)) await sleep(r.int(6));
  }
  const activity = () => w.up.parsed.length + w.up.parsed.reduce((n, p) => n + p.tunnel.length, 0) + w.sc.logs.length;
  let seen = activity();
  const started = Date.now();
  while (!closed && Date.now() - last < QUIET_MS && Date.now() - started < 3000) {
    await sleep(5);
    const now = activity();
    if (now !== seen) {
      seen = now;
      last = Date.now();
    }
  }
  // A FIN lets an open tunnel close at once on both sides; then the sidecar must be back to no connections at all.
  if (!closed) {
    socket.end();
    await Promise.race([new Promise((resolve) => socket.once("close", resolve)), sleep(300)]);
  }
  socket.destroy();
  const deadline = Date.now() + 6000;
  while (Date.now() < deadline) {
    if ((await w.sc.metric("openclaw_sidecar_active_connections")) === 0) break;
    await sleep(5);
  }
  await sleep(5);
  return Buffer.concat(received);
}

// ---- the oracle -----------------------------------------------------------------------------------------------

const dashes = (name: string) => name.toLowerCase().replaceAll("_", "-");
/** Header names no request from the sidecar may carry on a client's behalf (written independently of src/). */
const CLIENT_TRUST_NAMES =
  /^(forwarded|x-real-ip|x-openclaw-scopes|x-forwarded-user|x-forwarded-.*|tailscale-.*|cf-connecting-ip|true-client-ip|x-client-ip|x-auth-request-.*|remote-user|x-original-url)$/;
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

/**
 * The Control UI's shell as the gateway serves it to anyone (its dist/control-ui), public with the token-field login.
 */
const UI_SHELL = [
  "/",
  "/index.html",
  "/assets/",
  "/fonts/",
  "/themes/",
  "/provider-icons/",
  "/cloud-provider-icons/",
  "/file-icons/",
  "/app-art/",
  "/community-art/",
  "/favicon.ico",
  "/favicon.svg",
  "/favicon-32.png",
  "/apple-touch-icon.png",
  "/manifest.webmanifest",
  "/sw.js",
  "/social-card.png",
  "/asset-manifest.json",
];

/** The path the gateway routes on (its `new URL(url, "http://localhost").pathname`), unreserved escapes decoded. */
function gatewayPath(url: string): string | undefined {
  let pathname: string;
  try {
    pathname = new URL(url, "http://localhost").pathname;
  } catch {
    return undefined;
  }
  return pathname.replace(/%([0-9a-fA-F]{2})/g, (escape, hex: string) => {
    const c = String.fromCharCode(Number.parseInt(hex, 16));
    return UNRESERVED.test(c) ? c : escape;
  });
}

/**
 * Inside the prefix: the gateway's path is the prefix or below it, and nothing in it could be another path to another
 * decoder (an encoded "/" or "\\"). Everything is inside without a prefix.
 */
function insidePrefix(url: string, base: string): boolean {
  if (base === "") return true;
  const path = gatewayPath(url);
  if (path === undefined || /%(2f|5c)/i.test(path)) return false;
  return path === base || path.startsWith(`${base}/`);
}

/** Public if a configured path matches the gateway's path — below the prefix, relative to it, when there is one. */
function publicForGateway(url: string, paths: readonly string[] = PUBLIC_PATHS, base = ""): boolean {
  const full = gatewayPath(url);
  if (full === undefined || (base !== "" && !full.startsWith(`${base}/`))) return false;
  const decoded = full.slice(base.length);
  return paths.some((p) => (p !== "/" && p.endsWith("/") ? decoded.startsWith(p) : decoded === p));
}

function checkRequest(
  w: Worker,
  p: Parsed,
  exactCase: boolean,
  identities: ReadonlySet<string>,
  fail: (rule: string, detail: string) => void,
  from?: string,
): void {
  const names = new Map<string, string[]>();
  for (let i = 0; i < p.rawHeaders.length; i += 2) {
    const name = dashes(p.rawHeaders[i] as string);
    names.set(name, [...(names.get(name) ?? []), p.rawHeaders[i + 1] as string]);
  }
  const values = (name: string) => names.get(name) ?? [];
  const where = `${p.method} ${p.url}`;
  if (from === OUTSIDE) fail("allowedClients", `${where}: reached the gateway from ${OUTSIDE}, outside the list`);
  if (!insidePrefix(p.url, w.base))
    fail("a sub-path is a boundary", `${where}: outside ${w.base} and parsed by the gateway (upgrade=${p.upgrade})`);
  const isPublic = (url: string, paths: readonly string[] = PUBLIC_PATHS) => publicForGateway(url, paths, w.base);
  if (w.mode === "local") {
    for (const name of names.keys())
      if (CLIENT_TRUST_NAMES.test(name)) fail("written by the sidecar", `${where}: local mode forwarded ${name}`);
  } else if (from === HOP) {
    // Through the trusted hop: the one client it reported, and only one in the list (INSIDE is loopback: the marker).
    const xff = values("x-forwarded-for");
    const v = xff[0] ?? "";
    if (xff.length !== 1 || !(v === MARKER || /^203\.0\.113\.\d{1,3}$/.test(v) || /^2001:db8:/.test(v)))
      fail(
        "allowedClients",
        `${where}: reached the gateway through the hop with X-Forwarded-For ${JSON.stringify(xff)}`,
      );
    if (values("x-forwarded-proto").length !== 1)
      fail("written by the sidecar", `${where}: X-Forwarded-Proto ${JSON.stringify(values("x-forwarded-proto"))}`);
    if (values("x-forwarded-host").length > 1)
      fail("written by the sidecar", `${where}: X-Forwarded-Host ${JSON.stringify(values("x-forwarded-host"))}`);
  } else {
    if (JSON.stringify(values("x-forwarded-for")) !== JSON.stringify([MARKER]))
      fail("written by the sidecar", `${where}: X-Forwarded-For ${JSON.stringify(values("x-forwarded-for"))}`);
    if (JSON.stringify(values("x-forwarded-proto")) !== '["http"]')
      fail("written by the sidecar", `${where}: X-Forwarded-Proto ${JSON.stringify(values("x-forwarded-proto"))}`);
    const fwdHost = values("x-forwarded-host");
    if (fwdHost.length > 1 || (fwdHost.length === 1 && fwdHost[0] !== values("host")[0]))
      fail("written by the sidecar", `${where}: X-Forwarded-Host ${JSON.stringify(fwdHost)}`);
  }
  if (w.mode !== "local") {
    for (const name of names.keys()) {
      if (
        CLIENT_TRUST_NAMES.test(name) &&
        !["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-user", "x-openclaw-scopes"].includes(
          name,
        )
      )
        fail("written by the sidecar", `${where}: forwarded the client's ${name}`);
    }
  }
  // What the sidecar consumed or refused never reaches the gateway (issue 21 §6): its session cookie, an assertion, a
  // machine credential — and, in identity modes, any Authorization outside a public HTTP path; in local mode the one
  // Authorization is the gateway's own token.
  // A cookie by its name, as RFC 6265 parsers read the header: "theme= openclaw_sidecar_session=…" (a client that
  // dropped its ";") is one cookie named theme, and a pair without "=" carries no value (cookie parsers skip it).
  const cookieNames = values("cookie").flatMap((c) =>
    c.split(";").flatMap((pair) => (pair.includes("=") ? [pair.slice(0, pair.indexOf("=")).trim()] : [])),
  );
  if (cookieNames.includes(COOKIE_NAME))
    fail("consumed, not forwarded", `${where}: the sidecar's session cookie reached the gateway`);
  for (const name of [
    ...(w.mode === "assertion" ? [ASSERTION.header] : []),
    "cf-access-client-id",
    "cf-access-client-secret",
  ]) {
    if (values(name).length > 0) fail("consumed, not forwarded", `${where}: ${name} reached the gateway`);
  }
  if (
    (w.mode === "identity" || w.mode === "token-field" || w.mode === "assertion" || w.mode === "allow-list") &&
    values("authorization").length > 0 &&
    (p.upgrade || !isPublic(p.url))
  ) {
    fail(
      "consumed, not forwarded",
      `${where}: Authorization ${JSON.stringify(values("authorization"))} reached the gateway`,
    );
  }
  if (
    w.mode === "local" &&
    !(p.upgrade ? false : isPublic(p.url)) &&
    JSON.stringify(values("authorization")) !== JSON.stringify([`Bearer ${LOCAL_TOKEN}`])
  ) {
    fail(
      "consumed, not forwarded",
      `${where}: local mode forwarded Authorization ${JSON.stringify(values("authorization"))}`,
    );
  }
  const user = values("x-forwarded-user");
  const scopes = values("x-openclaw-scopes");
  if (w.mode === "identity" || w.mode === "token-field" || w.mode === "allow-list") {
    if (user.length === 0) {
      if (scopes.length > 0) fail("authorised", `${where}: scopes without a user`);
      const shell =
        w.mode === "token-field" && (p.method === "GET" || p.method === "HEAD") && isPublic(p.url, UI_SHELL);
      if (p.upgrade || !(isPublic(p.url) || shell))
        fail("authorised", `${where}: reached the gateway without an identity (upgrade=${p.upgrade})`);
    } else {
      const u = USERS[user[0] as keyof typeof USERS] as { scopes: readonly string[] } | undefined;
      if (user.length !== 1 || u === undefined) fail("authorised", `${where}: identity ${JSON.stringify(user)}`);
      else if (JSON.stringify(scopes) !== JSON.stringify([u.scopes.join(",")]))
        fail("authorised", `${where}: ${user[0]} with scopes ${JSON.stringify(scopes)}`);
    }
  } else if (w.mode === "assertion") {
    // Only an identity one of this case's assertions gives under the rule, exactly once, and never a scope.
    if (scopes.length > 0)
      fail("identities are data", `${where}: scopes ${JSON.stringify(scopes)} reached the gateway`);
    if (user.length === 0) {
      if (p.upgrade || !isPublic(p.url))
        fail("authorised", `${where}: reached the gateway without an identity (upgrade=${p.upgrade})`);
    } else if (user.length !== 1 || !identities.has(user[0] as string)) {
      fail(
        "identities are data",
        `${where}: the gateway parsed the user ${JSON.stringify(user)}; the case's assertions give ${JSON.stringify([...identities])}`,
      );
    }
  } else {
    if (user.length > 0 || scopes.length > 0) fail("authorised", `${where}: identity headers in ${w.mode} mode`);
    if (
      w.mode === "local" &&
      !values("authorization").includes(`Bearer ${LOCAL_TOKEN}`) &&
      (p.upgrade || !isPublic(p.url))
    ) {
      fail("authorised", `${where}: reached the gateway without the token`);
    }
  }
  if (exactCase) {
    for (const [name, vs] of names)
      for (const v of vs)
        // A trusted hop is believed about the scheme and host the client asked for.
        if (FORGED_VALUES.has(v) && !(from === HOP && (name === "x-forwarded-proto" || name === "x-forwarded-host")))
          fail("written by the sidecar", `${where}: a forged value ${v} reached the gateway`);
  }
}

/** Fields a trailer may never carry (independent of src/: RFC 9110 §6.5.1 framing, routing, authentication). */
const NEVER_TRAILERS = /^(content-length|transfer-encoding|host|authorization|cookie|connection|upgrade|te|trailer)$/;

function checkCase(
  w: Worker,
  c: Case,
  parsed: Parsed[],
  lines: Array<Record<string, unknown>>,
  response: Buffer,
  fail: (rule: string, detail: string) => void,
): void {
  const identities = new Set(c.requests.map((g) => g.asserted).filter((a): a is string => typeof a === "string"));
  for (const p of parsed) checkRequest(w, p, c.exact, identities, fail, c.from);
  for (const p of parsed) {
    for (let i = 0; i < p.rawTrailers.length; i += 2) {
      const name = dashes(p.rawTrailers[i] as string);
      if (CLIENT_TRUST_NAMES.test(name) || NEVER_TRAILERS.test(name))
        fail("trailers", `${p.method} ${p.url}: trailer ${name} reached the gateway`);
    }
  }
  if (w.mode === "token-field") {
    // Held upgrades: nothing reaches the gateway's socket before a connect carrying the one user's token.
    for (const p of parsed) {
      if (!p.upgrade || p.tunnel.length === 0) continue;
      const first = firstClientMessage(p.tunnel);
      let request: { method?: unknown; params?: { auth?: { token?: unknown } } } | undefined;
      try {
        request = first === undefined ? undefined : (JSON.parse(first) as typeof request);
      } catch {
        request = undefined;
      }
      if (request?.method !== "connect" || request.params?.auth?.token !== USERS.alice.token) {
        fail(
          "held until a valid connect",
          `${p.url}: the gateway received ${JSON.stringify(p.tunnel.toString("latin1").slice(0, 120))} on a session-less upgrade`,
        );
      }
    }
  }
  for (const m of response.toString("latin1").matchAll(/\r\nLocation: ([^\r]*)\r\n/gi)) {
    if (!/^\/(?![/\\])/.test(m[1] as string)) fail("same-origin redirects", `Location: ${m[1]}`);
  }
  const sent = lines.filter((l) => (l.kind === "http" || l.kind === "websocket") && Number(l.sentUpstream ?? 0) > 0);
  const fromLog = sent.map((l) => `${l.kind === "websocket" ? "GET" : String(l.method)} ${String(l.url)}`);
  const fromUpstream = parsed.map((p) => `${p.method} ${redactUrl(p.url)}`);
  let i = 0;
  for (const request of fromUpstream) {
    while (i < fromLog.length && fromLog[i] !== request) i++;
    if (i++ === fromLog.length) {
      fail(
        "nothing but what the sidecar forwarded",
        `the sidecar forwarded ${JSON.stringify(fromLog)}; the gateway parsed ${JSON.stringify(fromUpstream)}`,
      );
      return;
    }
  }
  if (!c.exact) return;
  // allowedClients, unmutated: each request the sidecar routed has the verdict the independent walk gives. (A head
  // the parser refused never got one: its line has no url.)
  const routed = lines.filter((l) => l.kind === "http" || l.kind === "websocket");
  for (let gi = 0; gi < routed.length && gi < c.requests.length; gi++) {
    const allowed = c.requests[gi]!.allowed;
    const l = routed[gi]!;
    if (allowed === undefined || l.url === undefined) continue;
    const refused = (l.error ?? l.result) === "client_not_allowed";
    if (refused === allowed || (refused && (l.status !== 403 || Number(l.sentUpstream ?? 0) !== 0)))
      fail(
        "allowedClients",
        `request ${gi} from ${String(c.from)}: expected ${allowed ? "let in" : "refused"}, the sidecar logged status ${String(l.status)} ${String(l.error ?? l.result)} sentUpstream ${String(l.sentUpstream)}`,
      );
  }
  // Unmutated, each request the client sent is one exchange in the sidecar's log, in order: the forwarded ones
  // (sentUpstream) are, in order, the requests the gateway parsed (fewer when a refused body never let a head leave).
  const exchanges = lines.filter((l) => l.kind === "http" || l.kind === "websocket");
  let k = 0;
  for (let gi = 0; gi < exchanges.length && gi < c.requests.length && k < parsed.length; gi++) {
    if (Number(exchanges[gi]!.sentUpstream ?? 0) === 0) continue;
    const gen = c.requests[gi]!;
    const p = parsed[k++]!;
    if (!(gen.method === p.method && p.url === originForm(gen.target))) {
      fail(
        "accounted for",
        `${p.method} ${p.url} reached the gateway where the client sent ${gen.method} ${gen.target}`,
      );
      return;
    }
    if (p.complete && !p.upgrade && !p.body.equals(gen.body))
      fail(
        "accounted for",
        `${p.method} ${p.url}: body ${JSON.stringify(p.body.toString("latin1"))}, sent ${JSON.stringify(gen.body.toString("latin1"))}`,
      );
    // Tunnel bytes are owed only to a tunnel that opened: a client that gave up before the 101 owes nothing.
    const opened = exchanges[gi]!.kind === "websocket" && exchanges[gi]!.result === "ok";
    if (p.upgrade && opened && !p.tunnel.equals(gen.tunnel))
      fail(
        "accounted for",
        `${p.url}: tunnel bytes ${JSON.stringify(p.tunnel.toString("latin1"))}, sent ${JSON.stringify(gen.tunnel.toString("latin1"))}`,
      );
    const user = p.headers["x-forwarded-user"];
    if (
      (w.mode === "identity" || w.mode === "token-field" || w.mode === "allow-list") &&
      gen.credential !== undefined &&
      !(user === undefined && publicForGateway(p.url, PUBLIC_PATHS, w.base)) &&
      user !== gen.credential
    )
      fail(
        "accounted for",
        `${p.method} ${p.url}: sent with ${gen.credential}'s credential, forwarded as ${String(user)}`,
      );
    if (
      w.mode === "assertion" &&
      gen.asserted !== undefined &&
      !(user === undefined && publicForGateway(p.url, PUBLIC_PATHS, w.base)) &&
      user !== (gen.asserted ?? undefined)
    ) {
      fail(
        "identities are data",
        `${p.method} ${p.url}: the assertion's claim gives ${JSON.stringify(gen.asserted)}, the gateway parsed ${JSON.stringify(user)}`,
      );
    }
  }
}

/** A target as the sidecar forwards it: absolute form becomes origin form. */
function originForm(target: string): string {
  const m = /^https?:\/\/[^/?]*(.*)$/i.exec(target);
  if (m === null) return target;
  const rest = m[1] as string;
  return rest === "" ? "/" : rest.startsWith("?") ? `/${rest}` : rest;
}

// ---- the run ---------------------------------------------------------------------------------------------------

export async function runGateFuzz(opts: FuzzOptions): Promise<FuzzResult> {
  const started = Date.now();
  const modes = opts.modes ?? ["attribution", "identity", "local", "token-field", "assertion", "allow-list"];
  const perMode = opts.workers ?? 3;
  const dir = mkdtempSync(path.join(tmpdir(), "ocsc-gate-fuzz-"));
  const violations: Violation[] = [];
  let upstreamRequests = 0;
  let assertedIdentities = 0;
  const allowList = { passed: 0, refused: 0 };
  let cases = 0;
  const workers: Worker[] = [];
  // Mode "assertion": one signing key, its JWKS served here; workers alternate the claim the identity comes from.
  const signer = assertionSigner();
  let jwks: Server | undefined;
  let identitySources = { cases: 0, granted: 0 };
  try {
    if (modes.includes("assertion")) {
      const server = createServer((_req, res) =>
        res.writeHead(200, { "content-type": "application/json" }).end(signer.jwks),
      );
      jwks = server;
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    }
    const jwksUrl = `http://127.0.0.1:${(jwks?.address() as { port: number } | null)?.port ?? 0}/jwks`;
    for (const mode of modes) {
      for (let i = 0; i < perMode; i++) {
        const ctx: AssertionContext = { signer, claim: i % 2 === 0 ? "email" : "name" };
        workers.push(
          await startWorker(mode, dir, mode === "assertion" ? { ctx, jwksUrl } : undefined, i === 1 ? BASE_PATH : ""),
        );
      }
    }
    await Promise.all(
      workers.map(async (w, wi) => {
        const modeIndex = modes.indexOf(w.mode);
        const r = rng(opts.seed * 7919 + modeIndex * 104_729 + (wi % perMode));
        for (let i = wi % perMode; i < opts.casesPerMode; i += perMode) {
          const c = generateCase(r, w.mode, w.port, w.ctx, w.base);
          const p0 = w.up.parsed.length;
          const l0 = w.sc.logs.length;
          const response = await send(w, c, r);
          const parsed = w.up.parsed.slice(p0);
          upstreamRequests += parsed.length;
          if (w.mode === "assertion")
            assertedIdentities += parsed.filter((p) => p.headers["x-forwarded-user"] !== undefined).length;
          if (w.mode === "allow-list") {
            if (c.from !== OUTSIDE) allowList.passed += parsed.length;
            allowList.refused += w.sc.logs
              .slice(l0)
              .filter((l) => (l.error ?? l.result) === "client_not_allowed").length;
          }
          cases++;
          const bytes = JSON.stringify(c.bytes.toString("latin1"));
          checkCase(w, c, parsed, w.sc.logs.slice(l0), response, (rule, detail) =>
            violations.push({ mode: w.mode, caseIndex: i, rule, detail, bytes }),
          );
          if (violations.length > 20) return;
        }
      }),
    );
    // OIDC claims and configured names: a share of the budget, through the policy, config and the serializer to llhttp.
    const sources = await runIdentitySources(rng(opts.seed * 31 + 7), Math.max(50, Math.floor(opts.casesPerMode / 2)));
    identitySources = { cases: sources.cases, granted: sources.granted };
    for (const v of sources.violations)
      violations.push({
        mode: "identity-sources",
        caseIndex: v.caseIndex,
        rule: `identities are data (${v.source})`,
        detail: v.detail,
        bytes: "",
      });
  } finally {
    for (const w of workers) {
      await w.sc.close();
      await w.up.close();
    }
    rmSync(dir, { recursive: true, force: true });
    if (jwks !== undefined) await new Promise((resolve) => jwks?.close(resolve));
  }
  return {
    cases,
    upstreamRequests,
    assertedIdentities,
    identitySources,
    allowList,
    violations,
    ms: Date.now() - started,
  };
}

export function describeViolation(v: Violation, seed: number): string {
  return `[${v.mode}] seed ${seed}, case ${v.caseIndex}: ${v.rule} — ${v.detail}\n  bytes: ${v.bytes}`;
}

// ---- command line ----------------------------------------------------------------------------------------------

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const arg = (name: string) => {
    const i = args.indexOf(name);
    return i === -1 ? undefined : args[i + 1];
  };
  const seed = Number(arg("--seed") ?? Date.now() % 1_000_000);
  const casesPerMode = Number(arg("--cases") ?? (args.includes("--long") ? 20_000 : 400));
  const result = await runGateFuzz({ seed, casesPerMode, workers: args.includes("--long") ? 4 : 3 });
  process.stdout.write(
    `gate-fuzz: seed ${seed}, ${casesPerMode} cases per mode: ${result.upstreamRequests} upstream requests checked (${result.assertedIdentities} with a generated identity), allow-list ${result.allowList.passed} let in and ${result.allowList.refused} refused, ${result.identitySources.cases} identity-source cases (${result.identitySources.granted} granted), ${result.violations.length} violations (${(result.ms / 1000).toFixed(1)} s)\n`,
  );
  for (const v of result.violations) process.stdout.write(`${describeViolation(v, seed)}\n`);
  process.exit(result.violations.length === 0 ? 0 : 1);
}
