// The option reference, written from the schema: the grouped list `--help` and `<command> --help` print, and
// docs/options.md (`npm run docs:options` writes it; test/options/docs.test.ts fails when the file is stale).
import { DETAILS, GROUPS, OPTIONS, OTHER_ENV, type OptionKey, envName, flagName, shownDefault } from "./schema.ts";

/** The options `keys` (all by default), grouped: flag, environment name and default, then one line saying what. */
export function optionHelp(keys: readonly OptionKey[] = OPTIONS.map((o) => o.key)): string {
  const out: string[] = [];
  for (const group of GROUPS) {
    const specs = OPTIONS.filter((o) => o.group === group && keys.includes(o.key));
    if (specs.length === 0) continue;
    out.push(`${out.length === 0 ? "" : "\n"}${group}:`);
    for (const o of specs) {
      out.push(`  ${flagName(o.key).padEnd(30)} ${envName(o.key)}  (default: ${shownDefault(o)})`);
      out.push(`      ${o.description}`);
    }
  }
  return out.join("\n");
}

const cell = (text: string): string => text.replaceAll("|", "\\|");
const code = (text: string): string => `\`${text}\``;

/** docs/options.md, in full. */
export function renderOptionsDoc(): string {
  const out = [
    "# Options",
    "",
    "<!-- Generated from src/options/schema.ts by `npm run docs:options`: edit the schema, not this file. -->",
    "",
    "Every option has one name in three places: the JSON config file key (`--config file.json` or",
    "`OPENCLAW_SIDECAR_CONFIG`), the environment (`OPENCLAW_SIDECAR_<UPPER_SNAKE>`), and a flag (`--kebab-case`).",
    "Precedence: flag > environment > file > default. Everything is validated before anything listens; every problem",
    "is reported at once, and the process exits 78. An unknown flag, config-file key or `OPENCLAW_SIDECAR_*` variable",
    "is a problem too (with a suggestion when one is close). `openclaw-sidecar <command> --help` lists the options a",
    "command reads.",
  ];
  for (const group of GROUPS) {
    out.push(
      "",
      `## ${group}`,
      "",
      "| Flag | Env | Config key | Default | Description |",
      "| --- | --- | --- | --- | --- |",
    );
    for (const o of OPTIONS.filter((spec) => spec.group === group)) {
      const row = [flagName(o.key), envName(o.key), o.key].map(code);
      out.push(`| ${row.join(" | ")} | ${cell(shownDefault(o))} | ${DETAILS[o.key] ?? cell(o.description)} |`);
    }
  }
  out.push("", "## Commands and credential files", "", ...NOTES);
  out.push(
    "",
    "## Other variables",
    "",
    "These `OPENCLAW_SIDECAR_*` variables are not options and are accepted in the sidecar's environment:",
    "",
  );
  for (const e of OTHER_ENV) out.push(`- ${code(e.name)}: ${e.why}`);
  out.push(
    "- the variables Kubernetes sets for a Service named `openclaw-sidecar` (`OPENCLAW_SIDECAR_SERVICE_HOST`,",
    "  `OPENCLAW_SIDECAR_SERVICE_PORT*`, `OPENCLAW_SIDECAR_PORT_<port>_TCP*`) when service links are on",
    "",
  );
  return out.join("\n");
}

/** Prose the options page carries after the tables. */
const NOTES = [
  "Commands: `openclaw-sidecar [run]`, `check-config` (validate and print, secrets hidden), `healthcheck` (the image's",
  "HEALTHCHECK), `doctor`, `print-gateway-config`, `print-client-config` (the CLI/TUI block, identity mode),",
  "`link [--user name]` (the link people open: [Clients](clients.md#the-link-to-open)), `import-nginx <nginx.conf>`,",
  "`init`.",
  "",
  "`tokensFile` entries are `{user, token | tokenSha256, scopes?}` for people and scripts, or `{user, clientId,",
  "clientSecretSha256, scopes?}` for machines: those are accepted from the `CF-Access-Client-Id` / `CF-Access-Client-Secret`",
  "header pair that `openclaw connect`, nodes and the CLI (`gateway.remote.edgeAuth`) send an identity-aware proxy.",
];
