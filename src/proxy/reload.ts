// Credentials without a restart (issue 23): on SIGHUP (cli.ts) or when a file the configuration came from changes,
// the configuration is loaded again from the same sources (file + environment + flags, options/config.ts loadConfig)
// and its reloadable slice — tokens, machine credentials, cookie secrets, the token-field login, single sign-on's
// allow-lists (gate/auth-gate.ts RELOADABLE_*) — replaces the one in force. A configuration that does not load is
// refused whole, with one error line, and the previous credentials stay. Any other option that changed is named in a
// warning ("needs a restart") and left as it was. Then every WebSocket whose credential is gone is closed
// (http/forward-upgrade.ts revoke()); every other stays open.
import { createHash } from "node:crypto";
import { statSync, unwatchFile, watchFile } from "node:fs";
import { type AuthGate, RELOADABLE_GATE_OPTIONS, RELOADABLE_OIDC_OPTIONS } from "../gate/auth-gate.ts";
import type { UpgradeForwarder } from "../http/forward-upgrade.ts";
import type { Logger } from "../ops/log.ts";
import type { Metrics } from "../ops/metrics.ts";
import { type Config, ConfigError, type Credential } from "../options/config.ts";

export interface ReloadParts {
  /** The configuration the sidecar started with. */
  config: Config;
  /** Loads the configuration again from the sources the sidecar started with; throws when it does not load. */
  load: () => Config;
  /** None in attribution mode: nothing there is reloadable. */
  gate: AuthGate | undefined;
  upgrades: UpgradeForwarder;
  logger: Logger;
  metrics: Metrics;
}

export interface Reloader {
  /** Loads and applies; false when refused (the previous credentials stay). `trigger` goes into the log line. */
  reload(trigger: string): boolean;
  /** Reloads when one of the configuration's files changes (polled: bind mounts, Kubernetes secret symlinks). */
  watch(intervalMs: number): void;
  stop(): void;
}

/** Wait after a change before reading: files are often replaced in several steps (a token file, then the config). */
const SETTLE_MS = 200;

export function createReloader(parts: ReloadParts): Reloader {
  const { gate, upgrades, logger, metrics, load } = parts;
  const started = parts.config;
  /** The reloadable slice in force. */
  let applied: Config = started;

  const refuse = (trigger: string, problem: string): false => {
    metrics.credentialReloads.inc({ result: "refused" });
    logger.error(
      { kind: "reload", trigger, problem },
      `credential reload refused: ${problem}; the previous credentials stay in force`,
    );
    return false;
  };

  function reload(trigger: string): boolean {
    let next: Config;
    try {
      next = load();
    } catch (err) {
      const problem = err instanceof ConfigError ? err.problems.join("; ") : (err as Error).message;
      return refuse(trigger, problem);
    }
    try {
      gate?.update(next);
    } catch (err) {
      return refuse(trigger, (err as Error).message);
    }
    const restart = needsRestart(started, next);
    if (restart.length > 0) {
      logger.warn(
        { kind: "reload", trigger, options: restart },
        `options changed that need a restart, left as they were: ${restart.join(", ")} (needs a restart)`,
      );
    }
    const changes = gate === undefined ? undefined : describeChanges(applied, next);
    if (gate !== undefined) applied = next;
    const closed = upgrades.revoke();
    metrics.credentialReloads.inc({ result: "ok" });
    logger.info(
      { kind: "reload", trigger, ...changes, closedWebSockets: closed },
      gate === undefined
        ? "configuration reloaded: attribution mode has no credentials to change"
        : `credentials reloaded${closed > 0 ? `; ${closed} WebSocket(s) closed whose credentials were removed` : ""}`,
    );
    sync();
    return true;
  }

  // ---- watching the files ----
  let intervalMs: number | undefined;
  let timer: NodeJS.Timeout | undefined;
  const watched = new Map<string, () => void>();
  /** Watches the files of the configuration in force (a reload may name other ones). */
  function sync(): void {
    if (intervalMs === undefined) return;
    const wanted = new Set(applied.watchFiles);
    for (const [path, listener] of watched) {
      if (wanted.has(path)) continue;
      unwatchFile(path, listener);
      watched.delete(path);
    }
    for (const path of wanted) {
      if (watched.has(path)) continue;
      const listener = () => {
        clearTimeout(timer);
        timer = setTimeout(() => reload(`file ${path}`), SETTLE_MS);
      };
      // watchFile's baseline is its first stat, taken asynchronously: a change written before it (just after the
      // configuration was read) would never be seen. So the file as it is now is compared once more after an
      // interval, when that baseline surely exists.
      const before = fingerprint(path);
      watchFile(path, { interval: intervalMs, persistent: false }, listener);
      watched.set(path, listener);
      setTimeout(() => {
        if (watched.get(path) === listener && fingerprint(path) !== before) listener();
      }, intervalMs * 2).unref();
    }
  }

  return {
    reload,
    watch(ms) {
      intervalMs = ms;
      sync();
    },
    stop() {
      clearTimeout(timer);
      for (const [path, listener] of watched) unwatchFile(path, listener);
      watched.clear();
      intervalMs = undefined;
    },
  };
}

/** What watchFile compares (modification time, size, inode), or "" for a file that cannot be read. */
function fingerprint(path: string): string {
  try {
    const st = statSync(path);
    return `${st.mtimeMs} ${st.size} ${st.ino}`;
  } catch {
    return "";
  }
}

/** The options other than the reloadable slice whose value differs: they need a restart. */
export function needsRestart(before: Config, after: Config): string[] {
  const skip = new Set<string>([...RELOADABLE_GATE_OPTIONS, "watchFiles"]);
  const changed: string[] = [];
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]) as Set<keyof Config>;
  for (const key of keys) {
    if (skip.has(key)) continue;
    if (key === "oidc" && before.oidc !== undefined && after.oidc !== undefined) {
      const fixed = new Set<string>(RELOADABLE_OIDC_OPTIONS);
      for (const sub of Object.keys(before.oidc) as Array<keyof typeof before.oidc>) {
        if (fixed.has(sub)) continue;
        if (stable(before.oidc[sub]) !== stable(after.oidc[sub]))
          changed.push(`oidc${sub[0]?.toUpperCase()}${sub.slice(1)}`);
      }
      continue;
    }
    if (stable(before[key]) !== stable(after[key])) changed.push(key);
  }
  return changed;
}

const stable = (value: unknown): string => JSON.stringify(value ?? null);

/** What a reload changed, as counts: never a token, a secret or a digest. */
function describeChanges(before: Config, after: Config): Record<string, number | boolean> {
  const ids = (creds: Credential[]) => new Set(creds.map(credentialKey));
  const was = ids(before.credentials);
  const now = ids(after.credentials);
  const secretsWere = new Set(before.cookieSecrets);
  return {
    users: new Set(after.credentials.map((c) => c.user)).size,
    tokens: after.credentials.filter((c) => c.clientId === undefined).length,
    machineCredentials: after.credentials.filter((c) => c.clientId !== undefined).length,
    added: [...now].filter((k) => !was.has(k)).length,
    removed: [...was].filter((k) => !now.has(k)).length,
    cookieKeys: after.cookieSecrets.length,
    cookieKeysRemoved: [...secretsWere].filter((s) => !after.cookieSecrets.includes(s)).length,
    controlUiTokenLogin: after.controlUiTokenLogin,
    ...(after.oidc !== undefined
      ? {
          oidcAllowedEmails: after.oidc.allowedEmails.length,
          oidcAllowedDomains: after.oidc.allowedDomains.length,
          oidcPolicyChanged: stable(policyOf(before)) !== stable(policyOf(after)),
        }
      : {}),
  };
}

const policyOf = (config: Config) =>
  config.oidc && RELOADABLE_OIDC_OPTIONS.map((k) => (config.oidc as NonNullable<Config["oidc"]>)[k]);

/** One credential as a comparable key: who, with which scopes, proven by what (hashed: the key is never logged). */
function credentialKey(c: Credential): string {
  const proof = c.clientId !== undefined ? `machine ${c.clientId} ${c.clientSecretSha256}` : (c.tokenSha256 ?? c.token);
  return createHash("sha256")
    .update(JSON.stringify([c.user, c.scopes === undefined ? null : [...c.scopes].sort(), proof]))
    .digest("hex");
}
