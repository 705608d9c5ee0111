// The command line: the only file that reads argv and calls process.exit.
//   openclaw-sidecar [run] [--option value …]   start the proxy (options: --help, docs/options.md; also env)
//   openclaw-sidecar check-config               validate the configuration and print it (secrets hidden)
//   openclaw-sidecar healthcheck                exit 0 when the admin /healthz answers (the Docker HEALTHCHECK)
//   openclaw-sidecar doctor                     diagnose the gateway and print the gateway config to paste
//   openclaw-sidecar print-gateway-config       print the gateway config for --mode [--gateway-version V]
// openclaw-sidecar print-client-config print the CLI/TUI config for a gateway behind the sidecar (identity mode)
//   openclaw-sidecar link [--user name]         print the link people open to reach the Control UI
//   openclaw-sidecar import-nginx <nginx.conf>  translate a hand-written nginx.conf into sidecar config
//   openclaw-sidecar init [--dry-run] …         add the sidecar to your compose file and patch openclaw.json
import http from "node:http";
import {
  type Config,
  ConfigError,
  dashboardUrl,
  loadConfig,
  oidcRedirectUri,
  sidecarAddress as parseSidecarAddress,
} from "./options/config.ts";
import { optionHelp } from "./options/help.ts";
import type { OptionKey } from "./options/schema.ts";
import { didYouMean } from "./options/suggest.ts";
import { createLogger } from "./ops/log.ts";
import { startedByNpmScript, watchParent } from "./commands/parent-watch.ts";

/** Exit codes: 0 ok, 1 failure, 2 usage or bad input, 69 cannot listen (EX_UNAVAILABLE), 78 bad config (EX_CONFIG). */
export const EXIT = { ok: 0, failure: 1, usage: 2, unavailable: 69, config: 78 } as const;

/**
 * The commands: what each does, the flags of its own (not options), and the options it reads ("all" where it validates
 * and uses the whole configuration). `<command> --help` is written from this and the option schema.
 */
const COMMANDS: Record<string, { summary: string; flags?: Record<string, string>; options?: "all" | OptionKey[] }> = {
  run: { summary: "start the proxy (the default command)", options: "all" },
  "check-config": {
    summary: "validate the configuration and print it (secrets hidden), with where each option was set",
    options: "all",
  },
  healthcheck: {
    summary: "exit 0 when the admin /healthz answers (the Docker HEALTHCHECK); the rest is validated, not used",
    options: ["adminListen"],
  },
  doctor: {
    summary: "diagnose the gateway and print the gateway config to paste",
    flags: { "--sidecar-address": "the sidecar's own address as the gateway sees it, e.g. 10.119.0.10" },
    options: "all",
  },
  "print-gateway-config": {
    summary: "print the gateway config for this sidecar configuration",
    flags: {
      "--sidecar-address": "the sidecar's own address as the gateway sees it, e.g. 10.119.0.10",
      "--gateway-version": "the gateway release, e.g. 2026.9.6 (older releases get the config they understand)",
    },
    options: "all",
  },
  "print-client-config": {
    summary: "print the CLI/TUI config for a gateway behind the sidecar (identity mode)",
    options: "all",
  },
  link: {
    summary:
      "print the link people open to reach the Control UI through the sidecar (not the gateway's own dashboard link)",
    flags: { "--user": "with several token users (tokensFile): whose link to print; also the option user" },
    options: "all",
  },
  "import-nginx": { summary: "translate a hand-written nginx.conf into sidecar config: import-nginx <nginx.conf>" },
  init: { summary: "add the sidecar to your compose file and patch openclaw.json (init --help for its flags)" },
  help: { summary: "this text" },
};
const COMMAND_NAMES = Object.keys(COMMANDS);

export function parseArgs(argv: string[]): {
  command: string;
  flags: Record<string, string>;
  positional: string[];
  file?: string;
  help?: boolean;
} {
  const flags: Record<string, string> = {};
  const positional: string[] = [];
  let command = "run";
  let file: string | undefined;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (i === 0 && COMMAND_NAMES.includes(arg)) {
      command = arg;
      continue;
    }
    // Anything else first that is not a flag would be a positional argument of `run`, which takes none: a misspelt
    // command, refused rather than starting the proxy on the default address.
    if (i === 0 && !arg.startsWith("-"))
      throw new UsageError(
        `unknown command "${arg}"${didYouMean(arg, COMMAND_NAMES)}\ncommands: ${COMMAND_NAMES.join(", ")}`,
      );
    if (arg === "-h" || arg === "--help") {
      help = true;
      continue;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = eq === -1 ? arg : arg.slice(0, eq);
      const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
      if (value === undefined) throw new ConfigError([`${name} needs a value`]);
      if (name === "--config") file = value;
      else flags[name] = value;
      continue;
    }
    positional.push(arg);
  }
  if (command === "help") help = true;
  return { command, flags, positional, ...(file !== undefined ? { file } : {}), ...(help ? { help } : {}) };
}

/** A mistake on the command line itself (exit 2), as opposed to a bad configuration (exit 78). */
class UsageError extends Error {}

const USAGE = `usage: openclaw-sidecar [command] [--config file.json] [--option value …]
Every option is also an environment variable (OPENCLAW_SIDECAR_*) and a config file key; flag > env > file > default.
Exit codes: 0 ok, 1 failure, 2 usage, 69 cannot listen, 78 bad config.`;

/** `--help`: the commands and every option; `<command> --help`: that command, its own flags and its options. */
export function helpText(command: string): string {
  const spec = COMMANDS[command];
  if (command === "help" || command === "run" || spec === undefined) {
    const commands = COMMAND_NAMES.map((c) => `  ${c.padEnd(22)} ${COMMANDS[c]?.summary ?? ""}`).join("\n");
    return `${USAGE}\n\nCommands (\`openclaw-sidecar <command> --help\` for one):\n${commands}\n\nOptions:\n${optionHelp()}\n`;
  }
  const own = Object.entries({
    ...(spec.options ? { "--config": "a JSON config file of options" } : {}),
    ...spec.flags,
  })
    .map(([flag, what]) => `  ${flag.padEnd(30)} ${what}`)
    .join("\n");
  const options =
    spec.options === undefined ? "" : `\n\nOptions:\n${optionHelp(spec.options === "all" ? undefined : spec.options)}`;
  return `usage: openclaw-sidecar ${command} …\n${spec.summary}${own ? `\n\nFlags:\n${own}` : ""}${options}\n`;
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === "init") {
    // Its own flags (booleans such as --dry-run), parsed by init.ts.
    const { runInit } = await import("./commands/init.ts");
    return runInit(argv.slice(1), process.stdout, process.stderr);
  }
  let args: ReturnType<typeof parseArgs>;
  try {
    args = parseArgs(argv);
  } catch (err) {
    process.stderr.write(`openclaw-sidecar: ${(err as Error).message}\n`);
    return EXIT.usage;
  }
  if (args.help) {
    process.stdout.write(helpText(args.command));
    return EXIT.ok;
  }
  if (args.command === "import-nginx") {
    const { runImportNginx } = await import("../nginx-compat/cli.ts");
    return runImportNginx(args.positional, process.stdout, process.stderr);
  }
  // Flags that belong to a command, not to the configuration; refused on the commands that would ignore them.
  const { "--sidecar-address": sidecarAddressFlag, "--gateway-version": gatewayVersion, ...configFlags } = args.flags;
  const misplaced = [
    ...args.positional.map((p) => `unexpected argument "${p}" (${args.command} takes none)`),
    ...Object.keys(args.flags)
      .filter((f) => f in { "--sidecar-address": 1, "--gateway-version": 1 })
      .filter((f) => COMMANDS[args.command]?.flags?.[f] === undefined)
      .map((f) => `${f} is a flag of ${COMMAND_NAMES.filter((c) => COMMANDS[c]?.flags?.[f]).join(" and ")}`),
  ];
  if (misplaced.length > 0) {
    process.stderr.write(`openclaw-sidecar: ${misplaced.join("; ")}\n`);
    return EXIT.usage;
  }
  // The address goes into the gateway's trustedProxies: it must be exactly one address, in the form the gateway
  // matches.
  let sidecarAddress: string | undefined;
  try {
    sidecarAddress = sidecarAddressFlag === undefined ? undefined : parseSidecarAddress(sidecarAddressFlag);
  } catch (err) {
    process.stderr.write(`openclaw-sidecar: ${(err as Error).message}\n`);
    return EXIT.usage;
  }
  let config: Config;
  const origins = new Map<OptionKey, string>();
  // The same sources again on every reload (SIGHUP, a changed file): file + environment + flags.
  const sources = { env: process.env, flags: configFlags, ...(args.file !== undefined ? { file: args.file } : {}) };
  try {
    config = loadConfig(sources, origins);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`openclaw-sidecar: ${err.message}\n`);
      return EXIT.config;
    }
    throw err;
  }
  switch (args.command) {
    case "check-config":
      process.stdout.write(`${JSON.stringify(describeConfig(config), null, 2)}\n`);
      // Where each option came from, by the name it was given under (stderr: stdout stays the JSON alone).
      process.stderr.write(
        origins.size === 0
          ? "check-config: every option has its default\n"
          : `check-config: set (the rest are defaults):\n${[...origins].map(([k, where]) => `  ${k.padEnd(26)} ${where}\n`).join("")}`,
      );
      return EXIT.ok;
    case "healthcheck":
      return healthcheck(config);
    case "doctor": {
      const { runDoctor } = await import("./commands/doctor.ts");
      return runDoctor(config, process.stdout, sidecarAddress);
    }
    case "print-client-config": {
      const { clientConfigFor } = await import("./setup/client-config.ts");
      const printed = clientConfigFor(config);
      if ("error" in printed) process.stderr.write(`openclaw-sidecar: ${printed.error}\n`);
      else process.stdout.write(printed.text);
      return "error" in printed ? EXIT.usage : EXIT.ok;
    }
    case "print-gateway-config": {
      const { printGatewayConfig } = await import("./setup/gateway-config.ts");
      const printed = printGatewayConfig(config, sidecarAddress, gatewayVersion);
      if (printed.error !== undefined) process.stderr.write(`openclaw-sidecar: ${printed.error}\n`);
      else process.stdout.write(printed.text);
      return printed.error !== undefined ? EXIT.usage : EXIT.ok;
    }
    case "link": {
      const { runLink } = await import("./commands/link.ts");
      return runLink(config, configFlags["--user"], process.stdout, process.stderr);
    }
    default:
      return run(config, () => loadConfig(sources));
  }
}

/** The configuration as JSON with secrets replaced: safe to print and to paste into an issue. */
export function describeConfig(config: Config): Record<string, unknown> {
  return {
    ...config,
    upstream: config.upstream.origin,
    publicOrigin: config.publicOrigin?.origin,
    trustedHops: config.trustedHops.map(([addr, bits]) => `${addr.toString()}/${bits}`),
    allowedClients: config.allowedClients.map(([addr, bits]) => `${addr.toString()}/${bits}`),
    credentials: config.credentials.map((c) => ({ user: c.user, token: "[REDACTED]", scopes: c.scopes })),
    cookieSecrets: config.cookieSecrets.map(() => "[REDACTED]"),
    oidc: config.oidc && {
      ...config.oidc,
      issuer: config.oidc.issuer.href,
      clientSecret: config.oidc.clientSecret === undefined ? undefined : "[REDACTED]",
      // What to register at the provider: the callback under publicBasePath, on publicOrigin.
      redirectUri: oidcRedirectUri(config),
    },
    dashboardUrl: dashboardUrl(config),
  };
}

async function run(config: Config, load: () => Config): Promise<number> {
  // Lines for people on a terminal, for the log collector everywhere else, unless logFormat says.
  const logger = createLogger(
    config.logLevel,
    undefined,
    config.logFormat ?? (process.stdout.isTTY ? "pretty" : "json"),
  );
  if (config.mode === "local") {
    logger.warn(
      "LOCAL MODE: every client that passes the sidecar's token check reaches the gateway as a loopback client and is " +
        "silently paired with ADMIN scopes. The gateway does not rate-limit loopback, so the sidecar's limiter is the only " +
        "brake on token guessing. Use it for a single-user machine only, published on 127.0.0.1.",
    );
  }
  // Signals are handled from the first moment: a SIGTERM that arrives while the listeners are still opening must
  // drain, not kill the process with the default action.
  let signalled: (signal: string) => void = () => {};
  const stopped = new Promise<string>((resolve) => (signalled = resolve));
  process.once("SIGTERM", () => signalled("SIGTERM"));
  process.once("SIGINT", () => signalled("SIGINT"));
  // SIGHUP reloads the credentials (proxy/reload.ts); one that arrives before the listeners are open finds the
  // configuration just loaded, and must not end the process (the default action).
  let hangup = (): void => logger.info({ kind: "reload", trigger: "SIGHUP" }, "SIGHUP before startup ended: ignored");
  process.on("SIGHUP", () => hangup());
  // The proxy itself is loaded only to run it: `healthcheck`, the Docker HEALTHCHECK every 10 s under a 3 s timeout,
  // and the other commands start without it (and without its TLS, ACME, JWT and metrics libraries).
  const { ListenError, startSidecar } = await import("./proxy/sidecar.ts");
  const { probeGatewayAtStartup } = await import("./setup/startup-probe.ts");
  let sidecar;
  try {
    sidecar = await startSidecar(config, { logger, load });
  } catch (err) {
    if (err instanceof ListenError) {
      logger.fatal(err.message);
      return EXIT.unavailable;
    }
    throw err;
  }
  const started = sidecar;
  hangup = () => started.reload("SIGHUP");
  // In the background, after the listeners are open: one log line on what the gateway looks like from here.
  void probeGatewayAtStartup(config, logger);
  if (startedByNpmScript()) watchParent(() => signalled("parent exited"));
  const signal = await stopped;
  logger.info({ signal }, "shutting down");
  await sidecar.drain();
  return EXIT.ok;
}

/** GET http://<admin>/healthz; exit 0 on 200. Used by the image's HEALTHCHECK (no curl in the image). */
function healthcheck(config: Config): Promise<number> {
  const host =
    config.adminListen.host === "0.0.0.0" || config.adminListen.host === "::" ? "127.0.0.1" : config.adminListen.host;
  return new Promise((resolve) => {
    const req = http.get({ host, port: config.adminListen.port, path: "/healthz", timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200 ? EXIT.ok : EXIT.failure);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", (err) => {
      process.stderr.write(`healthcheck: ${err.message}\n`);
      resolve(EXIT.failure);
    });
  });
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`openclaw-sidecar: unexpected error: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(EXIT.failure);
    },
  );
}
