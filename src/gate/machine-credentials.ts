// Machine credentials of identity mode (issue 16 §3): the CF-Access-Client-Id / CF-Access-Client-Secret header pair
// that `openclaw connect`, nodes and the CLI send to an identity-aware proxy (gateway.remote.edgeAuth, the gateway's
// Cloudflare Access guide). Each is a tokensFile entry {user, clientId, clientSecretSha256}: the id picks the entry,
// the secret is compared as a SHA-256 digest in constant time, and only the digest is ever stored.
import { createHash, timingSafeEqual } from "node:crypto";
import type { Credential } from "./credentials.ts";

export const CLIENT_ID_HEADER = "cf-access-client-id";
export const CLIENT_SECRET_HEADER = "cf-access-client-secret";

export class MachineCredentials {
  private readonly byId: ReadonlyMap<string, { digest: Buffer; cred: Credential }>;

  constructor(creds: readonly Credential[]) {
    this.byId = new Map(
      creds
        .filter((c) => c.clientId !== undefined)
        .map((c) => [c.clientId as string, { digest: Buffer.from(c.clientSecretSha256 as string, "hex"), cred: c }]),
    );
  }

  get size(): number {
    return this.byId.size;
  }

  /** Whether `cred` (from an earlier set) is still configured here: same id, same secret digest, same user. */
  holds(cred: Credential): boolean {
    const entry = this.byId.get(cred.clientId as string);
    return (
      entry !== undefined &&
      entry.cred.user === cred.user &&
      entry.cred.clientSecretSha256?.toLowerCase() === cred.clientSecretSha256?.toLowerCase() &&
      sameScopes(entry.cred.scopes, cred.scopes)
    );
  }

  /** The credential the pair proves, or undefined (an unknown id costs the same digest and comparison). */
  verify(clientId: string, secret: string): Credential | undefined {
    const digest = createHash("sha256").update(secret, "utf8").digest();
    const entry = this.byId.get(clientId);
    const ok = timingSafeEqual(digest, entry?.digest ?? UNKNOWN);
    return ok && entry !== undefined ? entry.cred : undefined;
  }
}

const UNKNOWN = Buffer.alloc(32);

/** Two scope lists grant the same (order aside; none is the gateway's defaults). */
export function sameScopes(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.length === b.length && [...a].sort().join(",") === [...b].sort().join(",");
}
