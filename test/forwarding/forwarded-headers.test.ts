import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, cidrList, loadConfig } from "../../src/options/config.ts";
import {
  type TrustPolicy,
  parseAddress,
  resolveClient,
  rewriteHeaders,
  stripHopByHop,
} from "../../src/forwarding/forwarded-headers.ts";
import { startTestSidecar } from "../helpers/sidecar.ts";
import { type FakeGateway, startFakeGateway } from "../helpers/upstream.ts";

const policy = (over: Partial<TrustPolicy> = {}): TrustPolicy => ({
  mode: "attribution",
  trustedHops: [],
  allowedClients: [],
  loopbackSubstitute: "192.0.2.1",
  identityHeader: "x-forwarded-user",
  passHeaders: new Set<string>(),
  ...over,
});
const hops = (...cidrs: string[]) => cidrList(cidrs, "trustedHops");

describe("parseAddress", () => {
  it.each([
    ["10.0.0.1", "10.0.0.1"],
    ["10.0.0.1:5555", "10.0.0.1"],
    ["::ffff:172.18.0.1", "172.18.0.1"],
    ["[2001:db8::1]:443", "2001:db8::1"],
    ["2001:db8::1", "2001:db8::1"],
    ["fe80::1%eth0", "fe80::1"],
    [" 192.168.1.9 ", "192.168.1.9"],
  ])("%s → %s", (input, out) => expect(parseAddress(input)?.toString()).toBe(out));
  it.each(["", "unknown", "10.0.0", "_hidden", "1.2.3.4.5", "[::1"])("%s → undefined", (input) =>
    expect(parseAddress(input)).toBeUndefined(),
  );
});

describe("resolveClient", () => {
  const peer = (address: string, encrypted = false) => ({ address, encrypted });
  it.each([
    // [peer, XFF, trusted hops, expected forwardedFor, case]
    ["172.18.0.1", undefined, [], "172.18.0.1", "the socket peer, with no hops trusted"],
    ["::ffff:172.18.0.1", undefined, [], "172.18.0.1", "IPv4-mapped IPv6 normalised"],
    ["172.18.0.1", "127.0.0.1", [], "172.18.0.1", "a spoofed XFF from an untrusted peer is ignored"],
    ["127.0.0.1", undefined, [], "192.0.2.1", "a loopback peer (docker-proxy) gets the substitute"],
    ["::1", undefined, [], "192.0.2.1", "IPv6 loopback gets the substitute"],
    ["10.0.0.5", "203.0.113.7", ["10.0.0.0/24"], "203.0.113.7", "one trusted hop"],
    [
      "10.0.0.5",
      "198.51.100.1, 203.0.113.7, 10.0.0.9",
      ["10.0.0.0/24"],
      "203.0.113.7",
      "walk right to left past trusted hops",
    ],
    ["10.0.0.5", "6.6.6.6, 203.0.113.7", ["10.0.0.0/24"], "203.0.113.7", "never the leftmost (client-written) entry"],
    [
      "10.0.0.5",
      "203.0.113.7, garbage",
      ["10.0.0.0/24"],
      "10.0.0.5",
      "a malformed entry stops the walk at the hop that sent it",
    ],
    [
      "10.0.0.5",
      "127.0.0.1",
      ["10.0.0.0/24"],
      "192.0.2.1",
      "a trusted hop reporting loopback still never yields loopback",
    ],
    ["10.0.0.5", "10.0.0.6, 10.0.0.7", ["10.0.0.0/24"], "10.0.0.6", "all hops trusted: the leftmost trusted hop"],
    ["10.0.0.5", undefined, ["10.0.0.0/24"], "10.0.0.5", "a trusted hop without XFF is the client"],
    ["10.0.0.5", "[2001:db8::7]:1234", ["10.0.0.0/24"], "2001:db8::7", "bracketed IPv6 with port in XFF"],
    ["fd00::5", "203.0.113.7", ["fd00::/8"], "203.0.113.7", "IPv6 trusted hop"],
    ["::ffff:10.0.0.5", "203.0.113.7", ["10.0.0.0/24"], "203.0.113.7", "mapped peer matches an IPv4 CIDR"],
    [
      "10.0.0.5",
      "203.0.113.7",
      ["::ffff:10.0.0.0/120"],
      "203.0.113.7",
      "an IPv4 peer matches a mapped CIDR (read as 10.0.0.0/24)",
    ],
    ["::ffff:10.0.0.5", "203.0.113.7", ["::ffff:10.0.0.5"], "203.0.113.7", "a mapped peer matches a mapped address"],
    ["::1", "203.0.113.7", ["::ffff:10.0.0.0/104"], "192.0.2.1", "a mapped CIDR never trusts IPv6 loopback"],
  ] as Array<[string, string | undefined, string[], string, string]>)(
    "%s XFF=%s hops=%j → %s (%s)",
    (address, xff, trusted, expected) => {
      const headers = xff === undefined ? {} : { "x-forwarded-for": xff };
      const view = resolveClient(peer(address), headers, policy({ trustedHops: hops(...trusted) }));
      expect(view.forwardedFor).toBe(expected);
    },
  );

  it("takes X-Forwarded-Proto and -Host only from a trusted hop", () => {
    const headers = { host: "sidecar:18789", "x-forwarded-proto": "https", "x-forwarded-host": "claw.example.com" };
    const untrusted = resolveClient(peer("172.18.0.1"), headers, policy());
    expect([untrusted.proto, untrusted.host]).toEqual(["http", "sidecar:18789"]);
    const trusted = resolveClient(peer("10.0.0.5"), headers, policy({ trustedHops: hops("10.0.0.5") }));
    expect([trusted.proto, trusted.host]).toEqual(["https", "claw.example.com"]);
  });

  it("reports https when the sidecar terminates TLS", () => {
    expect(resolveClient(peer("172.18.0.1", true), {}, policy()).proto).toBe("https");
  });

  it.each([
    // [peer, XFF, trusted hops, allowedClients, allowed, case]
    ["172.18.0.1", undefined, [], [], true, "an empty list lets everyone in"],
    ["garbage", undefined, [], [], true, "an empty list asks nothing, even of an unreadable peer"],
    ["172.18.0.1", undefined, [], ["172.18.0.0/16"], true, "a direct peer inside a range"],
    ["172.19.0.1", undefined, [], ["172.18.0.0/16"], false, "a direct peer outside it"],
    ["garbage", undefined, [], ["0.0.0.0/0", "::/0"], false, "an unreadable peer is never inside"],
    ["172.19.0.1", "172.18.0.1", [], ["172.18.0.0/16"], false, "a spoofed XFF from an untrusted peer does not help"],
    ["10.0.0.5", "203.0.113.7", ["10.0.0.0/24"], ["203.0.113.0/24"], true, "behind a trusted hop, the client decides"],
    ["10.0.0.5", "198.51.100.1", ["10.0.0.0/24"], ["10.0.0.0/24"], false, "the hop's own address is not the client"],
    [
      "10.0.0.5",
      "203.0.113.7, 198.51.100.1",
      ["10.0.0.0/24"],
      ["203.0.113.0/24"],
      false,
      "an allowed entry written left of the client does not help",
    ],
    [
      "10.0.0.5",
      "203.0.113.7, 10.0.0.9",
      ["10.0.0.0/24"],
      ["203.0.113.0/24"],
      true,
      "walked past trusted hops to the client",
    ],
    ["10.0.0.5", undefined, ["10.0.0.0/24"], ["203.0.113.0/24"], false, "a hop without XFF is itself the client"],
    ["10.0.0.5", "203.0.113.7, garbage", ["10.0.0.0/24"], ["203.0.113.0/24"], false, "garbage stops at the hop"],
    ["::ffff:127.0.0.1", undefined, [], ["127.0.0.0/8"], true, "an IPv4-mapped peer matches its IPv4 range"],
    ["127.0.0.1", undefined, [], ["::ffff:127.0.0.0/104"], true, "a mapped range means its IPv4 range"],
    ["::1", undefined, [], ["::ffff:127.0.0.0/104"], false, "a mapped range never holds IPv6 loopback"],
    ["::1", undefined, [], ["127.0.0.0/8"], false, "IPv6 loopback is not 127.0.0.0/8"],
    ["2001:db8::7", undefined, [], ["2001:db8::/32"], true, "an IPv6 peer inside an IPv6 range"],
    ["10.0.0.5", "[2001:db8::7]:1234", ["10.0.0.0/24"], ["2001:db8::7"], true, "an IPv6 client behind an IPv4 hop"],
  ] as Array<[string, string | undefined, string[], string[], boolean, string]>)(
    "allowedClients: %s XFF=%s hops=%j allowed=%j → %s (%s)",
    (address, xff, trusted, allowed, expected) => {
      const headers = xff === undefined ? {} : { "x-forwarded-for": xff };
      const trust = policy({ trustedHops: hops(...trusted), allowedClients: cidrList(allowed, "allowedClients") });
      expect(resolveClient(peer(address), headers, trust).allowed).toBe(expected);
      // Asked again, the answer comes from the peer cache, and must be the same.
      expect(resolveClient(peer(address), headers, trust).allowed).toBe(expected);
    },
  );
});

describe("rewriteHeaders", () => {
  const dirty = () => ({
    host: "localhost:18789",
    origin: "http://localhost:18789",
    forwarded: "for=127.0.0.1",
    "x-forwarded-for": "127.0.0.1",
    "x-forwarded-proto": "https",
    "x-forwarded-host": "evil",
    "x-forwarded-port": "1",
    "x-real-ip": "127.0.0.1",
    "tailscale-user-login": "mallory@example.com",
    "x-openclaw-scopes": "operator.admin",
    "x-forwarded-user": "mallory",
    cookie: "a=b",
    "user-agent": "t",
  });
  const view = {
    forwardedFor: "172.18.0.1",
    proto: "http",
    host: "localhost:18789",
    clientAddress: "172.18.0.1",
    allowed: true,
  };

  it("attribution: strips every client forwarding/identity header and writes exactly one XFF", () => {
    expect(rewriteHeaders(dirty(), view, policy())).toEqual({
      host: "localhost:18789",
      origin: "http://localhost:18789",
      cookie: "a=b",
      "user-agent": "t",
      "x-forwarded-for": "172.18.0.1",
      "x-forwarded-proto": "http",
      "x-forwarded-host": "localhost:18789",
    });
  });

  it("identity: injects the user header and scopes after stripping the client's", () => {
    const out = rewriteHeaders(dirty(), view, policy({ mode: "identity" }), {
      user: "alice",
      scopes: ["operator.read"],
    });
    expect(out["x-forwarded-user"]).toBe("alice");
    expect(out["x-openclaw-scopes"]).toBe("operator.read");
    expect(out["x-forwarded-for"]).toBe("172.18.0.1");
  });

  it("identity: a custom identity header is stripped from clients too", () => {
    const headers = { ...dirty(), "x-auth-user": "mallory" };
    const out = rewriteHeaders(headers, view, policy({ mode: "identity", identityHeader: "x-auth-user" }), {
      user: "alice",
    });
    expect(out["x-auth-user"]).toBe("alice");
    expect(out["x-openclaw-scopes"]).toBeUndefined();
  });

  it("local: sends no forwarding header at all (the gateway must see a headerless loopback client)", () => {
    const out = rewriteHeaders(dirty(), view, policy({ mode: "local" }));
    expect(Object.keys(out).sort()).toEqual(["cookie", "host", "origin", "user-agent"]);
  });
});

describe("stripHopByHop", () => {
  it("removes hop-by-hop headers and those the client's Connection names (but never Host, Origin or Sec-WebSocket-*)", () => {
    const h: Record<string, string> = {
      host: "h",
      origin: "o",
      connection: "close, x-secret, host, origin, sec-websocket-key",
      "keep-alive": "timeout=5",
      "proxy-connection": "keep-alive",
      te: "trailers",
      trailer: "x",
      "proxy-authorization": "Basic x",
      "x-secret": "1",
      "sec-websocket-key": "k",
      "transfer-encoding": "chunked",
      accept: "*/*",
    };
    stripHopByHop(h, false);
    // Trailer stays: it announces the trailer fields relayed inside the chunked body.
    expect(h).toEqual({
      host: "h",
      origin: "o",
      "sec-websocket-key": "k",
      "transfer-encoding": "chunked",
      trailer: "x",
      accept: "*/*",
    });
  });

  it("writes an upgrade's Connection and Upgrade back in canonical form", () => {
    const h: Record<string, string> = { connection: "keep-alive, Upgrade", upgrade: "WebSocket" };
    stripHopByHop(h, true);
    expect(h).toEqual({ connection: "Upgrade", upgrade: "websocket" });
  });
});

describe("trustedHops end to end (a real sidecar, a loopback peer)", () => {
  let gw: FakeGateway;
  beforeAll(async () => {
    gw = await startFakeGateway();
  });
  afterAll(async () => {
    await gw?.close();
  });

  /** What the gateway received as X-Forwarded-For when 127.0.0.1 sent `X-Forwarded-For: 203.0.113.7`. */
  async function forwardedFor(trustedHops: string | undefined): Promise<unknown> {
    const sc = await startTestSidecar({
      "--upstream": gw.url,
      ...(trustedHops !== undefined ? { "--trusted-hops": trustedHops } : {}),
    });
    try {
      const res = await fetch(`${sc.url}/who`, { headers: { "x-forwarded-for": "203.0.113.7" } });
      return ((await res.json()) as { headers: Record<string, unknown> }).headers["x-forwarded-for"];
    } finally {
      await sc.close();
    }
  }

  it("an IPv4-mapped CIDR of /96 or more is its IPv4 range: ::ffff:127.0.0.0/104 trusts the loopback peer, whose X-Forwarded-For is walked", async () => {
    expect(await forwardedFor("::ffff:127.0.0.0/104")).toBe("203.0.113.7");
    // The same peer untrusted: its X-Forwarded-For is discarded, and the loopback peer is sent as the substitute.
    expect(await forwardedFor(undefined)).toBe("192.0.2.1");
  });

  it("a mapped CIDR under /96 (::ffff:10.0.0.0/8, read by ipaddr.js as ::/8) is refused before anything listens", () => {
    expect(() => loadConfig({ env: {}, flags: { "--trusted-hops": "::ffff:10.0.0.0/8" } })).toThrow(ConfigError);
    expect(() => loadConfig({ env: {}, flags: { "--trusted-hops": "::ffff:10.0.0.0/8" } })).toThrow(
      'trustedHops: "::ffff:10.0.0.0/8" is an IPv4-mapped address with a prefix under /96: it means ::/8 (::1 included), not an IPv4 range; write the IPv4 range "10.0.0.0/8" (or its mapped form "::ffff:10.0.0.0/104")',
    );
  });
});
