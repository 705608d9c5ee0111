// Seeded fuzzing of the header/XFF trust decision: whatever a client writes, the gateway gets exactly one
// X-Forwarded-For naming a valid, non-loopback address that the client could not choose (unless it is a trusted hop's
// report), and no client-supplied forwarding or identity header survives. FUZZ_SEED / FUZZ_CASES override the budget.
import ipaddr from "ipaddr.js";
import { describe, expect, it } from "vitest";
import { cidrList } from "../../src/options/config.ts";
import {
  type TrustPolicy,
  isForbiddenClientHeader,
  resolveClient,
  rewriteHeaders,
} from "../../src/forwarding/forwarded-headers.ts";
import { rng } from "../helpers/rng.ts";

const SEED = Number(process.env.FUZZ_SEED ?? 20261122);
const CASES = Number(process.env.FUZZ_CASES ?? 5000);

describe("forwarded headers, fuzzed", () => {
  it(`never yields a loopback, invalid or client-chosen X-Forwarded-For (${CASES} cases, seed ${SEED})`, () => {
    const { next: r, pick } = rng(SEED);
    const octet = () => String(Math.floor(r() * 256));
    const v4 = () => `${octet()}.${octet()}.${octet()}.${octet()}`;
    const junk = () =>
      pick([
        "",
        " ",
        "unknown",
        "_hidden",
        "::",
        "[::1",
        "1.2.3",
        "0x7f.1",
        "127.0.0.1:80",
        "[::1]:443",
        "::ffff:127.0.0.1",
        "fe80::1%eth0",
        "2001:db8::1",
        "\t10.0.0.1 ",
        "a,b",
        "\u00e9",
        "999.1.1.1",
        "10.0.0.1/8",
      ]);
    const entry = () => (r() < 0.6 ? v4() : r() < 0.5 ? pick(["127.0.0.1", "10.0.0.7", "::1", "172.18.0.1"]) : junk());
    const policy: TrustPolicy = {
      mode: "attribution",
      trustedHops: cidrList(["10.0.0.0/24", "fd00::/8"], "trustedHops"),
      allowedClients: [],
      loopbackSubstitute: "192.0.2.1",
      identityHeader: "x-forwarded-user",
      passHeaders: new Set(),
    };
    const forbidden = [
      "forwarded",
      "x-real-ip",
      "x-forwarded-port",
      "x-forwarded-prefix",
      "x-forwarded-user",
      "x-openclaw-scopes",
      "tailscale-user-login",
      "tailscale-funnel-request",
    ];
    // The allow-list's ranges, read independently of src/ (byte prefixes): some generated clients fall inside.
    const allowList: TrustPolicy = {
      ...policy,
      allowedClients: cidrList(["203.0.113.0/24", "10.0.0.0/30", "2001:db8::/32", "172.18.0.1"], "allowedClients"),
    };
    const insideAllowList = (text: string): boolean => {
      if (!ipaddr.isValid(text.replace(/%.*$/, ""))) return false;
      const bytes = ipaddr.process(text.replace(/%.*$/, "")).toByteArray();
      const [a, b, c, d] = bytes;
      if (bytes.length === 4)
        return (
          (a === 203 && b === 0 && c === 113) ||
          (a === 10 && b === 0 && c === 0 && (d as number) < 4) ||
          (a === 172 && b === 18 && c === 0 && d === 1)
        );
      return a === 0x20 && b === 0x01 && c === 0x0d && d === 0xb8;
    };
    const verdicts = { direct: 0, hop: 0, refused: 0 };
    for (let i = 0; i < CASES; i++) {
      const peer = pick([
        "10.0.0.5",
        "::ffff:10.0.0.9",
        "172.18.0.1",
        "127.0.0.1",
        "::1",
        "fd00::2",
        "203.0.113.9",
        "",
        "garbage",
      ]);
      const chain = Array.from({ length: Math.floor(r() * 5) }, entry);
      const headers: Record<string, string | string[]> = { host: "h" };
      if (chain.length > 0) headers["x-forwarded-for"] = r() < 0.2 ? chain : chain.join(pick([",", ", ", " ,"]));
      for (const name of forbidden) if (r() < 0.3) headers[name] = entry();
      if (r() < 0.3) headers["x-forwarded-proto"] = pick(["https", "HTTP", "", "gopher"]);

      const view = resolveClient({ address: peer, encrypted: false }, headers, policy);
      // allowedClients asks about that same client, and only about it: an untrusted peer is let in by its own address
      // alone, whatever it wrote; an empty list lets everyone in.
      const listed = resolveClient({ address: peer, encrypted: false }, headers, allowList);
      const ctxAllowed = `case ${i}: peer=${JSON.stringify(peer)} headers=${JSON.stringify(headers)}`;
      expect(listed.clientAddress, ctxAllowed).toBe(view.clientAddress);
      expect(view.allowed, ctxAllowed).toBe(true);
      expect(listed.allowed, ctxAllowed).toBe(insideAllowList(view.clientAddress));
      const trustedHop = peer === "10.0.0.5" || peer === "::ffff:10.0.0.9" || peer === "fd00::2";
      if (!trustedHop) expect(listed.allowed, ctxAllowed).toBe(insideAllowList(peer));
      verdicts[listed.allowed ? (trustedHop ? "hop" : "direct") : "refused"]++;
      const out = rewriteHeaders({ ...headers }, view, policy);
      const ctx = `case ${i}: peer=${JSON.stringify(peer)} headers=${JSON.stringify(headers)}`;
      expect(typeof out["x-forwarded-for"], ctx).toBe("string");
      const xff = out["x-forwarded-for"] as string;
      expect(ipaddr.isValid(xff), ctx).toBe(true);
      expect(ipaddr.process(xff).range(), ctx).not.toBe("loopback");
      // An untrusted peer's own claims never matter: the answer is the peer (or the substitute).
      const trustedPeer = peer === "10.0.0.5" || peer === "::ffff:10.0.0.9" || peer === "fd00::2";
      if (!trustedPeer)
        expect(xff, ctx).toBe(
          ipaddr.isValid(peer) && ipaddr.process(peer).range() !== "loopback"
            ? ipaddr.process(peer).toString()
            : "192.0.2.1",
        );
      for (const name of Object.keys(out)) {
        if (["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"].includes(name)) continue;
        expect(isForbiddenClientHeader(name, policy), `${ctx} kept ${name}`).toBe(false);
      }
    }
    // Both answers were reached, by a direct client and through a trusted hop.
    expect(Math.min(verdicts.direct, verdicts.hop, verdicts.refused)).toBeGreaterThan(CASES / 100);
  });
});
