// src/gate/credentials.ts: exact behaviour tables for the token verifier, session cookies, the failure limiter and the
// two header parsers. node:crypto's timingSafeEqual is wrapped (still the real one underneath) so the tests can count
// calls.
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { beforeEach, describe, expect, it, vi } from "vitest";
import {
  type CookieKeys,
  type Credential,
  FailureLimiter,
  TokenVerifier,
  bearerToken,
  parseCookies,
  signSession,
  verifySession,
} from "../../src/gate/credentials.ts";

vi.mock("node:crypto", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:crypto")>();
  return { ...real, timingSafeEqual: vi.fn(real.timingSafeEqual) };
});
const equalSpy = vi.mocked(timingSafeEqual);
beforeEach(() => {
  equalSpy.mockClear();
});

const hexOf = (s: string) => createHash("sha256").update(s).digest("hex");

describe("TokenVerifier", () => {
  const alice: Credential = { user: "alice", token: "alice-secret-token", scopes: ["operator.read"] };
  const bob: Credential = { user: "bob", tokenSha256: `sha256:${hexOf("bob-secret")}` };
  const carol: Credential = { user: "carol", tokenSha256: hexOf("carol-secret").toUpperCase() }; // bare, upper-case hex
  const verifier = new TokenVerifier([alice, bob, carol]);

  it.each<[string, string | undefined]>([
    ["alice-secret-token", "alice"],
    ["bob-secret", "bob"],
    ["carol-secret", "carol"],
    ["", undefined],
    ["alice-secret-toke", undefined],
    ["alice-secret-token ", undefined],
    [" alice-secret-token", undefined],
    ["ALICE-SECRET-TOKEN", undefined],
    [`sha256:${hexOf("bob-secret")}`, undefined], // the stored hash is not the password
    [hexOf("bob-secret"), undefined],
  ])("%j → %s", (presented, user) => expect(verifier.verify(presented)?.user).toBe(user));

  it("returns the configured credential, scopes included; any length may be presented", () => {
    expect(verifier.verify("alice-secret-token")).toBe(alice);
    expect(verifier.verify("alice-secret-token".repeat(1000))).toBeUndefined();
  });

  it("compares against every credential, 32 bytes each, wherever (or whether) the match is", () => {
    for (const presented of ["alice-secret-token", "bob-secret", "carol-secret", "nobody", "", "y".repeat(5000)]) {
      equalSpy.mockClear();
      verifier.verify(presented);
      expect(equalSpy, presented).toHaveBeenCalledTimes(3);
      for (const [a, b] of equalSpy.mock.calls) expect([a.byteLength, b.byteLength]).toEqual([32, 32]);
    }
  });

  it("no credentials: nothing verifies", () => {
    expect(new TokenVerifier([]).verify("anything")).toBeUndefined();
  });

  it.each<[string, Credential[], string]>([
    ["neither secret", [{ user: "u" }], 'credential 0 (user "u"): set exactly one of token or tokenSha256'],
    [
      "both secrets",
      [{ user: "u", token: "t", tokenSha256: hexOf("t") }],
      'credential 0 (user "u"): set exactly one of token or tokenSha256',
    ],
    ["empty token", [{ user: "u", token: "" }], 'credential 0 (user "u"): the token is empty'],
    [
      "short hash",
      [{ user: "u", tokenSha256: "sha256:abcd" }],
      'credential 0 (user "u"): tokenSha256 must be 64 hex digits, optionally prefixed "sha256:"',
    ],
    [
      "non-hex hash",
      [{ user: "u", tokenSha256: "z".repeat(64) }],
      'credential 0 (user "u"): tokenSha256 must be 64 hex digits, optionally prefixed "sha256:"',
    ],
    [
      "same token twice",
      [
        { user: "a", token: "t1" },
        { user: "b", tokenSha256: hexOf("t1") },
      ],
      'credential 1 (user "b"): its token is already used by another credential',
    ],
  ])("rejects %s", (_name, creds, message) => expect(() => new TokenVerifier(creds)).toThrow(message));
});

describe("session cookies", () => {
  const secret = "0123456789abcdef0123456789abcdef";
  const keys: CookieKeys = { current: Buffer.from(secret), previous: [] };
  const now = 1_800_000_000_000;
  const hour = 3_600_000;

  it("round trip: value is base64url(payload).base64url(hmac), payload {v, user, cid, exp}", () => {
    const value = signSession(keys, { user: "alice", credential: "c1" }, now, hour);
    expect(value).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    const [payload, mac] = value.split(".") as [string, string];
    expect(JSON.parse(Buffer.from(payload, "base64url").toString())).toEqual({
      v: 2,
      user: "alice",
      cid: "c1",
      exp: now + hour,
    });
    expect(mac).toBe(createHmac("sha256", secret).update(payload).digest("base64url"));
    expect(verifySession(keys, value, now)).toEqual({ user: "alice", credential: "c1", expiresAt: now + hour });
  });

  it("user names survive any characters", () => {
    for (const user of ["alice@example.com", 'a"b;c=d', "ünïcødé 😀", "x".repeat(300)]) {
      expect(verifySession(keys, signSession(keys, { user: user, credential: "c1" }, now, hour), now)).toEqual({
        user,
        credential: "c1",
        expiresAt: now + hour,
      });
    }
  });

  it("expires exactly at exp", () => {
    const value = signSession(keys, { user: "alice", credential: "c1" }, now, hour);
    expect(verifySession(keys, value, now + hour - 1)).toEqual({
      user: "alice",
      credential: "c1",
      expiresAt: now + hour,
    });
    expect(verifySession(keys, value, now + hour)).toEqual({ error: "expired" });
    expect(verifySession(keys, signSession(keys, { user: "alice", credential: "c1" }, now, 0), now)).toEqual({
      error: "expired",
    });
  });

  it("tampering with the payload or the MAC is a bad signature", () => {
    const value = signSession(keys, { user: "alice", credential: "c1" }, now, hour);
    const [payload, mac] = value.split(".") as [string, string];
    const forged = Buffer.from(JSON.stringify({ v: 2, user: "admin", cid: "c1", exp: now + hour })).toString(
      "base64url",
    );
    const longer = Buffer.from(JSON.stringify({ v: 2, user: "alice", cid: "c1", exp: now + 1000 * hour })).toString(
      "base64url",
    );
    const macBytes = Buffer.from(mac, "base64url");
    macBytes[0] = (macBytes[0] as number) ^ 1;
    for (const tampered of [
      `${forged}.${mac}`,
      `${longer}.${mac}`,
      `${payload}.${macBytes.toString("base64url")}`,
      `${payload}A.${mac}`,
    ]) {
      expect(verifySession(keys, tampered, now), tampered).toEqual({ error: "bad_signature" });
    }
  });

  it("another key's cookie is a bad signature", () => {
    const other: CookieKeys = { current: Buffer.from("another secret, same length......"), previous: [] };
    expect(verifySession(keys, signSession(other, { user: "alice", credential: "c1" }, now, hour), now)).toEqual({
      error: "bad_signature",
    });
  });

  const signed = (payload: object | string) => {
    const p = Buffer.from(typeof payload === "string" ? payload : JSON.stringify(payload)).toString("base64url");
    return `${p}.${createHmac("sha256", secret).update(p).digest("base64url")}`;
  };
  // The last of 43 base64url characters carries 4 bits of the 32-byte MAC and 2 unused bits: flipping the lowest
  // gives another spelling of the same bytes.
  const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const flipLowBit = (c: string) => B64URL[B64URL.indexOf(c) ^ 1] as string;
  const good = signSession(keys, { user: "alice", credential: "c1" }, now, hour);
  it.each<[string, string]>([
    ["empty", ""],
    ["no dot", good.replace(".", "")],
    ["only a dot", "."],
    ["no payload", `.${good.split(".")[1]}`],
    ["no MAC", `${good.split(".")[0]}.`],
    ["three parts", `${good}.x`],
    ["standard base64 characters", good.replace(/.$/, "+")],
    ["padding", `${good}=`],
    ["MAC too short", good.slice(0, -2)],
    ["MAC not canonical (unused low bits set)", good.replace(/.$/, flipLowBit)],
    ["too long", `${"a".repeat(5000)}.${good.split(".")[1]}`],
    ["signed but not JSON", signed("not json")],
    ["signed JSON null", signed("null")],
    ["signed, version 1 (before sessions named their credential)", signed({ v: 1, user: "alice", exp: now + hour })],
    ["signed, version 3", signed({ v: 3, user: "alice", cid: "c1", exp: now + hour })],
    ["signed, no user", signed({ v: 2, cid: "c1", exp: now + hour })],
    ["signed, empty user", signed({ v: 2, user: "", cid: "c1", exp: now + hour })],
    ["signed, no credential id", signed({ v: 2, user: "alice", exp: now + hour })],
    ["signed, exp as a string", signed({ v: 2, user: "alice", cid: "c1", exp: String(now + hour) })],
    ["signed, empty single sign-on subject", signed({ v: 2, user: "alice", cid: "oidc:x", sub: "", exp: now + hour })],
    [
      "signed, scopes not a list",
      signed({ v: 2, user: "alice", cid: "oidc:x", sub: "s", scopes: "operator.admin", exp: now + hour }),
    ],
    [
      "signed, scopes with a non-string",
      signed({ v: 2, user: "alice", cid: "oidc:x", sub: "s", scopes: ["operator.read", 1], exp: now + hour }),
    ],
  ])("malformed: %s", (_name, value) => expect(verifySession(keys, value, now)).toEqual({ error: "malformed" }));

  it("a single sign-on session carries its subject and scopes (same version: token sessions are unchanged)", () => {
    const value = signSession(
      keys,
      { user: "alice@example.com", credential: "oidc:abc", sub: "alice", scopes: ["operator.read"] },
      now,
      hour,
    );
    expect(JSON.parse(Buffer.from(value.split(".")[0] as string, "base64url").toString())).toEqual({
      v: 2,
      user: "alice@example.com",
      cid: "oidc:abc",
      sub: "alice",
      scopes: ["operator.read"],
      exp: now + hour,
    });
    expect(verifySession(keys, value, now)).toEqual({
      user: "alice@example.com",
      credential: "oidc:abc",
      sub: "alice",
      scopes: ["operator.read"],
      expiresAt: now + hour,
    });
  });

  it("non-canonical MAC spelling is rejected only when the bytes still match (sanity of the case above)", () => {
    const mac = good.split(".")[1] as string;
    expect(Buffer.from(mac.replace(/.$/, flipLowBit), "base64url")).toEqual(Buffer.from(mac, "base64url"));
  });

  it("key rotation: new cookies use the current key; cookies of a previous key are accepted until it is dropped", () => {
    const oldKey = Buffer.from("old-secret-old-secret-old-secret");
    const newKey = Buffer.from("new-secret-new-secret-new-secret");
    const before = signSession({ current: oldKey, previous: [] }, { user: "alice", credential: "c1" }, now, hour);
    const rotated: CookieKeys = { current: newKey, previous: [oldKey] };
    expect(verifySession(rotated, before, now)).toEqual({ user: "alice", credential: "c1", expiresAt: now + hour });
    const after = signSession(rotated, { user: "bob", credential: "c1" }, now, hour);
    expect(verifySession({ current: newKey, previous: [] }, after, now)).toEqual({
      user: "bob",
      credential: "c1",
      expiresAt: now + hour,
    });
    expect(verifySession({ current: newKey, previous: [] }, before, now)).toEqual({ error: "bad_signature" });
    equalSpy.mockClear();
    verifySession({ current: newKey, previous: [oldKey, Buffer.from("third")] }, after, now);
    expect(equalSpy).toHaveBeenCalledTimes(3); // every key is tried, even after the first matched
  });

  it("replica A's cookie is accepted by replica B configured with the same secrets", () => {
    // Two replicas build their keys independently from the same configuration: no shared state, no shared objects.
    const replica = (secrets: string[]): CookieKeys => ({
      current: Buffer.from(secrets[0] as string),
      previous: secrets.slice(1).map((s) => Buffer.from(s)),
    });
    const a = replica(["shared-current-secret-0123456789", "shared-previous-secret-987654321"]);
    const b = replica(["shared-current-secret-0123456789", "shared-previous-secret-987654321"]);
    const fromA = signSession(a, { user: "alice", credential: "c1" }, now, hour);
    expect(verifySession(b, fromA, now + 1000)).toEqual({ user: "alice", credential: "c1", expiresAt: now + hour });
    expect(verifySession(replica(["a-different-secret-for-replica-c"]), fromA, now)).toEqual({
      error: "bad_signature",
    });
  });

  it("an empty key is refused, not used", () => {
    expect(() =>
      signSession({ current: Buffer.alloc(0), previous: [] }, { user: "alice", credential: "c1" }, now, hour),
    ).toThrow("a cookie key is empty");
    expect(() => verifySession({ current: Buffer.alloc(0), previous: [] }, good, now)).toThrow("a cookie key is empty");
  });
});

describe("FailureLimiter", () => {
  const opts = { maxFailures: 3, windowMs: 60_000, lockoutMs: 300_000, maxKeys: 100 };
  const t0 = 1_000_000;

  it("locks after maxFailures within the window, for lockoutMs, then starts afresh", () => {
    const limiter = new FailureLimiter(opts);
    limiter.recordFailure("10.0.0.1", t0);
    limiter.recordFailure("10.0.0.1", t0 + 1000);
    expect(limiter.isLocked("10.0.0.1", t0 + 1000)).toBe(false);
    limiter.recordFailure("10.0.0.1", t0 + 2000);
    expect(limiter.isLocked("10.0.0.1", t0 + 2000)).toBe(true);
    expect(limiter.isLocked("10.0.0.2", t0 + 2000)).toBe(false); // per key
    expect(limiter.isLocked("10.0.0.1", t0 + 2000 + 299_999)).toBe(true);
    expect(limiter.isLocked("10.0.0.1", t0 + 2000 + 300_000)).toBe(false);
    expect(limiter.size).toBe(0); // the lapsed lockout was dropped
    limiter.recordFailure("10.0.0.1", t0 + 400_000);
    expect(limiter.isLocked("10.0.0.1", t0 + 400_000)).toBe(false); // counting restarted at 1
  });

  it("failures further apart than the window do not add up", () => {
    const limiter = new FailureLimiter(opts);
    limiter.recordFailure("k", t0);
    limiter.recordFailure("k", t0 + 30_000);
    limiter.recordFailure("k", t0 + 60_000); // window [t0, t0+60s) is over: this starts a new one
    expect(limiter.isLocked("k", t0 + 60_000)).toBe(false);
    limiter.recordFailure("k", t0 + 61_000);
    limiter.recordFailure("k", t0 + 62_000);
    expect(limiter.isLocked("k", t0 + 62_000)).toBe(true);
  });

  it("success forgets failures, but does not lift a lockout; failures while locked do not extend it", () => {
    const limiter = new FailureLimiter(opts);
    limiter.recordFailure("k", t0);
    limiter.recordFailure("k", t0);
    limiter.recordSuccess("k");
    limiter.recordFailure("k", t0);
    limiter.recordFailure("k", t0);
    expect(limiter.isLocked("k", t0)).toBe(false);
    limiter.recordFailure("k", t0);
    expect(limiter.isLocked("k", t0)).toBe(true);
    limiter.recordSuccess("k");
    limiter.recordFailure("k", t0 + 200_000);
    expect(limiter.isLocked("k", t0 + 299_999)).toBe(true);
    expect(limiter.isLocked("k", t0 + 300_000)).toBe(false);
  });

  it("memory is bounded: the least recently failed key is evicted", () => {
    const limiter = new FailureLimiter({ ...opts, maxKeys: 3 });
    for (const key of ["a", "b", "c"]) for (let i = 0; i < 3; i++) limiter.recordFailure(key, t0);
    limiter.recordFailure("a", t0 + 1); // ignored while locked, but "a" is still the oldest entry
    limiter.recordFailure("d", t0 + 2);
    expect(limiter.size).toBe(3);
    expect(["a", "b", "c"].map((k) => limiter.isLocked(k, t0 + 3))).toEqual([false, true, true]);
    limiter.recordFailure("b", t0 + 70_000); // still locked: no change, no reordering
    limiter.recordFailure("d", t0 + 70_000); // d's window lapsed: restarts, moves to the end
    limiter.recordFailure("e", t0 + 70_000);
    expect(["b", "c", "d", "e"].map((k) => limiter.isLocked(k, t0 + 70_000))).toEqual([false, true, false, false]);
    for (let i = 0; i < 10_000; i++) limiter.recordFailure(`10.1.${i >> 8}.${i & 255}`, t0);
    expect(limiter.size).toBe(3);
  });

  it.each(["maxFailures", "windowMs", "lockoutMs", "maxKeys"] as const)("rejects a non-positive %s", (name) => {
    expect(() => new FailureLimiter({ ...opts, [name]: 0 })).toThrow(
      `FailureLimiter: ${name} must be a positive integer, got 0`,
    );
    expect(() => new FailureLimiter({ ...opts, [name]: 1.5 })).toThrow(`${name} must be a positive integer`);
  });
});

describe("parseCookies", () => {
  it.each<[string | undefined, Record<string, string>]>([
    [undefined, {}],
    ["", {}],
    ["a=1", { a: "1" }],
    ["a=1; b=2", { a: "1", b: "2" }],
    ["a=1;b=2;;  ;c=3", { a: "1", b: "2", c: "3" }],
    ["  a = 1 ; b=  2  ", { a: "1", b: "2" }],
    ["a=1; a=2", { a: "1" }], // first wins
    ["a=x=y==", { a: "x=y==" }], // only the first "=" splits
    ['a="quoted"', { a: '"quoted"' }], // as sent
    ["a=%41%zz", { a: "%41%zz" }], // no decoding, so no decoding error
    ["noequals; b=2", { b: "2" }],
    ["=nameless; b=2", { b: "2" }],
    ["a=", { a: "" }],
  ])("%j", (header, expected) => {
    expect(Object.fromEntries(parseCookies(header))).toEqual(expected);
  });

  it("names that are special on objects are plain names in the map", () => {
    expect([...parseCookies("__proto__=x; constructor=y; hasOwnProperty=z")]).toEqual([
      ["__proto__", "x"],
      ["constructor", "y"],
      ["hasOwnProperty", "z"],
    ]);
  });

  it("never throws on junk", () => {
    for (const junk of [
      "\u0000;=;\uffff=\ud800",
      ";".repeat(10_000),
      42 as unknown as string,
      null as unknown as string,
    ]) {
      expect(() => parseCookies(junk)).not.toThrow();
    }
  });
});

describe("bearerToken", () => {
  it.each<[string | undefined, string | undefined]>([
    ["Bearer abc.DEF-123_~+/=", "abc.DEF-123_~+/="],
    ["bearer abc", "abc"],
    ["BEARER abc", "abc"],
    ["Bearer   abc  ", "abc"],
    ["Bearer\tabc", "abc"],
    ["  Bearer abc", "abc"],
    [undefined, undefined],
    ["", undefined],
    ["Bearer", undefined],
    ["Bearer ", undefined],
    ["Bearer a b", undefined],
    ["Basic YWxpY2U6cw==", undefined],
    ["Bearerabc", undefined],
    ["Token abc", undefined],
  ])("%j → %j", (header, token) => expect(bearerToken(header)).toBe(token));
});
