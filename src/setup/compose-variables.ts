// Compose-style variable interpolation, enough for `init` to know the values a compose file will see: `${VAR}`,
// `${VAR:-default}`, `${VAR-default}`, `${VAR:?message}`, `$VAR` and `$$`, from the environment first and then the
// `.env` file beside the compose file (the order Compose uses).
import { existsSync, readFileSync } from "node:fs";

export type Variables = Record<string, string | undefined>;

/** KEY=VALUE lines of a Compose `.env` file (comments, blank lines, `export ` and matching quotes handled). */
export function parseDotEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim().replace(/^export\s+/, "");
    if (line === "" || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    if (eq <= 0) continue;
    let value = line.slice(eq + 1).trim();
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0]))
      value = value.slice(1, -1);
    else value = value.replace(/\s+#.*$/, "");
    out[line.slice(0, eq).trim()] = value;
  }
  return out;
}

/** The variables a compose file in `dir` sees: `env` over `dir/.env`. */
export function composeVariables(dotEnvFile: string, env: Variables): Variables {
  const fromFile = existsSync(dotEnvFile) ? parseDotEnv(readFileSync(dotEnvFile, "utf8")) : {};
  return { ...fromFile, ...env };
}

/**
 * Interpolates `text`. Returns undefined when a variable without a default is unset (the caller cannot know the value
 * the compose file will see, and says so) — except that Compose's own rule of "unset means empty" is applied when
 * `emptyWhenUnset` is true.
 */
export function interpolate(text: string, vars: Variables, emptyWhenUnset = false): string | undefined {
  let unknown = false;
  const out = text.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])((?:[^{}]|\{[^{}]*\})*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (match, braced?: string, op?: string, arg?: string, bare?: string) => {
      if (match === "$$") return "$";
      const name = (braced ?? bare) as string;
      const value = vars[name];
      const missing = op?.startsWith(":") ? value === undefined || value === "" : value === undefined;
      if (!missing) return value as string;
      if (op === ":-" || op === "-") return interpolate(arg ?? "", vars, emptyWhenUnset) ?? ((unknown = true), "");
      if (!emptyWhenUnset) unknown = true;
      return "";
    },
  );
  return unknown ? undefined : out;
}
