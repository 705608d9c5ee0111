// The differential fuzzer's identity sources (issue 21 §10): generated identities — clean addresses and names, and
// ones with CR, LF, NUL, characters latin1 cuts to CR LF or to another letter, look-alike code points, spaces,
// surrogates and long values — fed to every place an identity enters, with an oracle that states the rule on its own
// (written independently of src/gate/identity.ts) and an llhttp witness on the far side:
//
//   - signed assertions go through the real sidecar (gate-fuzz.ts mode "assertion": the generators and the oracle
//     below, the signing here, with Ed25519 through node:crypto, verified by the sidecar with jose);
//   - OIDC claims through the policy (decide()) and the session round trip, and configured names through loadConfig
//     (`user`, tokensFile users, machine-credential users): each identity the sidecar grants is written by the
//     sidecar's own header rewrite and serializer to a recording upstream that parses with llhttp;
//   - configured names through a reload (issue 23): a running sidecar's tokensFile rewritten with the generated user
//     and reloaded (sidecar.reload(), what SIGHUP and a file change run), then a request with that entry's token
//     through it to a second recording upstream. A refused reload must leave the previous entry working; an accepted
//     one must have retired it.
//
// The oracle, for every source: the gateway parses exactly one user header whose value is, byte for byte, the
// identity the rule gives for the generated value — or the value was refused and nothing reached the gateway.
import { type KeyObject, generateKeyPairSync, sign } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { signSession, verifySession } from "../../src/gate/credentials.ts";
import { ConfigError, loadConfig } from "../../src/options/config.ts";
import { type TrustPolicy, rewriteHeaders } from "../../src/forwarding/forwarded-headers.ts";
import { HttpError, parseRequestHead, serializeRequestHead } from "../../src/http/http1.ts";
import { type OidcPolicy, decide } from "../../src/gate/sso/oidc-policy.ts";
import { startRecordingUpstream } from "../helpers/recording-upstream.ts";
import { startTestSidecar } from "../helpers/sidecar.ts";
import type { Rng } from "../helpers/rng.ts";

// ---- generating identities ---------------------------------------------------------------------------------------

const LOCALS = ["alice", "Bob.Smith", "ci+bot", "x_y", "ALICE", "o'neil"];
const DOMAINS = ["example.com", "EXAMPLE.com", "sub.example.org", "xn--bcher-kva.example"];
/** What an attacker puts in a claim they control: wire syntax, what latin1 turns into it, and look-alikes. */
const HOSTILE = [
  "\r\n",
  "\r",
  "\n",
  "\0",
  "\u010d\u010a",
  "\u010d",
  "\u010a",
  "\u0100",
  "\u0161",
  "\u212a",
  "\uff41",
  "\uff20",
  " ",
  "\t",
  "\u00a0",
  "\u00e9",
  "\ud83d\ude00",
  "\ud800",
  "@",
  "\r\nx-openclaw-scopes: operator.admin",
  "\u010d\u010ax-forwarded-user: mallory",
  ",",
  ";",
  '"',
  "\x7f",
  "\x1b",
  ".",
  "..",
  "-",
  "\ufeff",
  "\u200b",
];

/** One generated identity value (a claim, a configured name). */
export function generateIdentity(r: Rng): string {
  const clean = () => `${r.pick(LOCALS)}@${r.pick(DOMAINS)}`;
  switch (r.int(8)) {
    case 0:
    case 1:
    case 2:
      return clean();
    case 3:
      return r.pick(LOCALS);
    case 4:
    case 5: {
      // a clean address with hostile pieces slipped in
      let s = clean();
      for (let i = 1 + r.int(2); i > 0; i--) {
        const at = r.int(s.length + 1);
        s = s.slice(0, at) + r.pick(HOSTILE) + s.slice(at);
      }
      return s;
    }
    case 6:
      return Array.from({ length: 1 + r.int(6) }, () => r.pick([...LOCALS, ...HOSTILE, ...DOMAINS])).join("");
    default:
      return `${"a".repeat(200 + r.int(120))}${r.chance(0.5) ? `@${r.pick(DOMAINS)}` : ""}`;
  }
}

/** What a provider or a proxy says of the address. */
export function generateVerified(r: Rng): unknown {
  return r.pick([true, true, true, "true", false, "false", undefined, 0]);
}

// ---- the oracle's statement of the rule (independent of src/gate/identity.ts)
// -------------------------------------------

const PRINTABLE_ASCII = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;
const DOT_ATOM = /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * The identity `raw` must become at the gateway, or undefined when it must be refused: printable ASCII, at most 256
 * characters, never trimmed; as an email, one @, a dot-atom local part and LDH labels, lower-cased; any other claim
 * exactly as sent.
 */
export function expectedIdentity(raw: string, kind: "email" | "exact"): string | undefined {
  if (raw.length > 256 || !PRINTABLE_ASCII.test(raw)) return undefined;
  if (kind === "exact") return raw;
  const lower = raw.toLowerCase();
  const parts = lower.split("@");
  if (parts.length !== 2 || lower.length > 254) return undefined;
  const [local, domain] = parts as [string, string];
  return DOT_ATOM.test(local) && domain.split(".").every((l) => LABEL.test(l)) ? lower : undefined;
}

/** Whether the source vouches for the address; `sent`: the source sends email_verified at all. */
export function expectedVerified(value: unknown, sent: boolean): boolean {
  return value === true || value === "true" || (value === undefined && !sent);
}

// ---- signed assertions (for gate-fuzz.ts mode "assertion")
// -----------------------------------------------------------

export const ASSERTION = {
  header: "x-edge-assertion",
  audience: "fuzz-audience",
  issuer: "https://edge.fuzz.example",
  kid: "fuzz-k1",
};

export interface AssertionSigner {
  jwks: string;
  sign(claims: Record<string, unknown>): string;
}

/** An Ed25519 key and its JWKS document; JWTs signed here are verified by the sidecar with jose. */
export function assertionSigner(): AssertionSigner {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const jwk = {
    ...(publicKey.export({ format: "jwk" }) as Record<string, unknown>),
    kid: ASSERTION.kid,
    alg: "EdDSA",
    use: "sig",
  };
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  return {
    jwks: JSON.stringify({ keys: [jwk] }),
    sign(claims) {
      const now = Math.floor(Date.now() / 1000);
      const signing = `${b64({ alg: "EdDSA", kid: ASSERTION.kid, typ: "JWT" })}.${b64({ aud: ASSERTION.audience, iss: ASSERTION.issuer, sub: "fuzz", iat: now, exp: now + 600, ...claims })}`;
      return `${signing}.${sign(null, Buffer.from(signing), privateKey as KeyObject).toString("base64url")}`;
    },
  };
}

// ---- OIDC claims and configured names, through the sidecar's own rewrite and serializer
// -------------------------------

export interface SourceViolation {
  source: string;
  caseIndex: number;
  detail: string;
}
export interface SourceResult {
  cases: number;
  granted: number;
  refused: number;
  violations: SourceViolation[];
}

const POLICY_BASE = {
  issuer: "https://id.fuzz.example/",
  clientId: "sidecar",
  groupsClaim: "groups",
  scopesByGroup: { ops: ["operator.read"] },
};
const POLICY: OidcPolicy = {
  ...POLICY_BASE,
  userClaim: "email",
  allowedEmails: [],
  allowedDomains: ["example.com", "sub.example.org"],
};
const TRUST: TrustPolicy = {
  mode: "identity",
  trustedHops: [],
  allowedClients: [],
  loopbackSubstitute: "198.51.100.77",
  identityHeader: "x-forwarded-user",
  passHeaders: new Set(),
};
const KEYS = { current: Buffer.from("fuzz-session-key-0123456789abcdef"), previous: [] };

/**
 * Runs `cases` generated identities through each source. What a source grants is written as a request head by
 * rewriteHeaders + serializeRequestHead and sent to an llhttp upstream; the oracle compares what it parsed.
 */
export async function runIdentitySources(r: Rng, cases: number): Promise<SourceResult> {
  const up = await startRecordingUpstream();
  const dir = mkdtempSync(path.join(tmpdir(), "ocsc-identity-fuzz-"));
  // The reload path: one running sidecar whose tokensFile each case rewrites, in front of its own witness.
  const reloadUp = await startRecordingUpstream();
  const reloadFile = path.join(dir, "reloaded.json");
  const reloadToken = (i: number) => `fuzz-reload-token-${i}-0123456789abcdef`;
  writeFileSync(reloadFile, JSON.stringify([{ user: "fuzz-start", token: reloadToken(-1) }]));
  const reloading = await startTestSidecar({
    "--upstream": reloadUp.url,
    "--mode": "identity",
    "--cookie-secret": "r".repeat(40),
    "--tokens-file": reloadFile,
    "--log-level": "fatal",
    // A reload that went wrong shows as violations, not as a lockout's one-second answers.
    "--auth-max-failures": "1000000",
  });
  /** The user the witness parsed for a request with `token` through the reloading sidecar; undefined: not forwarded. */
  const throughReload = async (token: string): Promise<{ status: number; users: string[] | undefined }> => {
    const before = reloadUp.parsed.length;
    const res = await fetch(`${reloading.url}/fuzz`, { headers: { authorization: `Bearer ${token}` } });
    await res.arrayBuffer();
    const p = reloadUp.parsed[before];
    return { status: res.status, users: p === undefined ? undefined : reloadUp.values(p, "x-forwarded-user") };
  };
  let inForce = { token: reloadToken(-1), user: "fuzz-start" };
  const result: SourceResult = { cases: 0, granted: 0, refused: 0, violations: [] };
  const heads: Array<{ source: string; caseIndex: number; user: string; scopes: string[] | undefined; text: string }> =
    [];
  try {
    for (let i = 0; i < cases; i++) {
      const raw = generateIdentity(r);
      const fail = (source: string, detail: string) =>
        result.violations.push({ source, caseIndex: i, detail: `${detail} (generated ${JSON.stringify(raw)})` });
      const grant = (source: string, user: string, scopes: string[] | undefined) => {
        result.granted++;
        const head = parseRequestHead("GET /fuzz HTTP/1.1\r\nHost: gw", { maxHeaderBytes: 65536, maxHeaderCount: 100 });
        rewriteHeaders(
          head.headers,
          { forwardedFor: "198.51.100.77", proto: "http", host: "gw", clientAddress: "127.0.0.1", allowed: true },
          TRUST,
          { user, ...(scopes ? { scopes } : {}) },
        );
        try {
          heads.push({ source, caseIndex: i, user, scopes, text: serializeRequestHead(head) });
        } catch (err) {
          if (!(err instanceof HttpError)) throw err;
          fail(
            source,
            `granted ${JSON.stringify(user)}, which the serializer refused (${err.message}): the entry check let it through`,
          );
        }
      };
      result.cases++;

      // OIDC: the email claim as the identity, matched against the domain list, under a provider that sends
      // email_verified.
      const claimName = r.chance(0.7) ? "email" : "preferred_username";
      const verified = generateVerified(r);
      const claims: Record<string, unknown> = {
        sub: `s${i}`,
        groups: ["ops"],
        email: claimName === "email" ? raw : `${r.pick(LOCALS)}@example.com`,
        ...(verified === undefined ? {} : { email_verified: verified }),
      };
      if (claimName !== "email") claims.preferred_username = raw;
      const verdict = decide({ ...POLICY, userClaim: claimName }, claims, undefined, true);
      const email = expectedIdentity(String(claims.email), "email");
      const admitted =
        email !== undefined &&
        expectedVerified(verified, true) &&
        ["example.com", "sub.example.org"].includes(email.slice(email.indexOf("@") + 1));
      const identity = expectedIdentity(raw, claimName === "email" ? "email" : "exact");
      const want = admitted ? identity : undefined;
      if ("denied" in verdict) {
        result.refused++;
        if (want !== undefined)
          fail("oidc", `refused (${verdict.denied}) where the rule admits ${JSON.stringify(want)}`);
      } else if (verdict.user !== want) {
        fail("oidc", `granted ${JSON.stringify(verdict.user)} where the rule gives ${JSON.stringify(want)}`);
      } else {
        // The session round trip: what the cookie carries is what the gateway sees.
        const session = verifySession(
          KEYS,
          signSession(
            KEYS,
            {
              user: verdict.user,
              credential: "oidc:x",
              sub: verdict.sub,
              ...(verdict.scopes ? { scopes: verdict.scopes } : {}),
            },
            Date.now(),
            60_000,
          ),
          Date.now(),
        );
        if ("error" in session) fail("oidc", `the session did not verify (${session.error})`);
        else grant("oidc", session.user, session.scopes);
      }

      // Configured names: `user`, a tokensFile user, a machine-credential user. Config trims what it reads.
      const configured = expectedIdentity(raw.trim(), "exact");
      const file = path.join(dir, `t${i}.json`);
      writeFileSync(
        file,
        JSON.stringify([
          { user: raw, token: `fuzz-file-token-${i}-0123456789abcdef` },
          { user: raw, clientId: `c${i}`, clientSecretSha256: "ab".repeat(32) },
        ]),
      );
      for (const [source, flags] of [
        ["user", { "--user": raw, "--token": `fuzz-flag-token-${i}-0123456789abcdef` }],
        ["tokensFile", { "--tokens-file": file }],
      ] as const) {
        let users: string[];
        try {
          users = loadConfig({
            env: {},
            flags: { "--mode": "identity", "--cookie-secret": "c".repeat(40), ...flags },
          }).credentials.map((c) => c.user);
        } catch (err) {
          if (!(err instanceof ConfigError)) throw err;
          result.refused++;
          if (configured !== undefined && raw.trim() !== "")
            fail(
              source,
              `refused at start where the rule admits ${JSON.stringify(configured)}: ${err.problems.join("; ")}`,
            );
          continue;
        }
        for (const user of users) {
          if (user !== configured)
            fail(source, `configured as ${JSON.stringify(user)} where the rule gives ${JSON.stringify(configured)}`);
          else grant(source, user, undefined);
        }
      }

      // The same name through a reload of a running sidecar's tokensFile: the entry checks of startup, and then the
      // gateway sees exactly the rule's identity; a refused file changes nothing.
      writeFileSync(reloadFile, JSON.stringify([{ user: raw, token: reloadToken(i) }]));
      const accepted = reloading.reload();
      if (!accepted) {
        result.refused++;
        if (configured !== undefined && raw.trim() !== "")
          fail("reload", `reload refused where the rule admits ${JSON.stringify(configured)}`);
        const previous = await throughReload(inForce.token);
        if (previous.status !== 200 || JSON.stringify(previous.users) !== JSON.stringify([inForce.user]))
          fail(
            "reload",
            `after a refused reload the previous entry got ${previous.status}, ${JSON.stringify(previous.users)}`,
          );
      } else {
        if (configured === undefined) fail("reload", "reload accepted a name the rule refuses");
        const now = await throughReload(reloadToken(i));
        if (now.status !== 200 || JSON.stringify(now.users) !== JSON.stringify([configured]))
          fail(
            "reload",
            `granted; the gateway saw ${now.status}, users ${JSON.stringify(now.users)} where the rule gives ${JSON.stringify(configured)}`,
          );
        else result.granted++;
        const retired = await throughReload(inForce.token);
        if (retired.status !== 401 || retired.users !== undefined)
          fail("reload", `the replaced entry still got ${retired.status} (${JSON.stringify(retired.users)})`);
        inForce = { token: reloadToken(i), user: configured ?? "" };
      }
    }

    // The witness: every granted head, pipelined on one connection to llhttp, parsed in order.
    const socket = net.connect(up.port, "127.0.0.1");
    socket.on("error", () => {});
    socket.on("data", () => {});
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    for (const h of heads) socket.write(Buffer.from(h.text, "latin1"));
    const deadline = Date.now() + 10_000;
    while (up.parsed.length < heads.length && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 10));
    socket.destroy();
    if (up.parsed.length !== heads.length)
      result.violations.push({
        source: "witness",
        caseIndex: -1,
        detail: `${heads.length} heads written, llhttp parsed ${up.parsed.length}`,
      });
    up.parsed.forEach((p, k) => {
      const h = heads[k];
      if (h === undefined) return;
      const users = up.values(p, "x-forwarded-user");
      const scopes = up.values(p, "x-openclaw-scopes");
      const wantScopes = h.scopes === undefined || h.scopes.length === 0 ? [] : [h.scopes.join(",")];
      if (users.length !== 1 || users[0] !== h.user || JSON.stringify(scopes) !== JSON.stringify(wantScopes)) {
        result.violations.push({
          source: h.source,
          caseIndex: h.caseIndex,
          detail: `granted ${JSON.stringify(h.user)} with ${JSON.stringify(h.scopes)}; llhttp parsed users ${JSON.stringify(users)}, scopes ${JSON.stringify(scopes)}`,
        });
      }
    });
  } finally {
    await reloading.close();
    await reloadUp.close();
    await up.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return result;
}
