// The command line: the only file that reads argv and calls process.exit.
//   openclaw-sidecar [run] [--option value …]   start the proxy (options: docs/options.md; also OPENCLAW_SIDECAR_* env)
//   openclaw-sidecar check-config               validate the configuration and print it (secrets hidden)
//   openclaw-sidecar healthcheck                exit 0 when the admin /healthz answers (the Docker HEALTHCHECK)
//   openclaw-sidecar doctor                     diagnose the gateway and print the gateway config to paste
//   openclaw-sidecar print-gateway-config       print the gateway config for --mode [--gateway-version V]
// openclaw-sidecar print-client-config print the CLI/TUI config for a gateway behind the sidecar (identity mode)
//   openclaw-sidecar import-nginx <nginx.conf>  translate a hand-written nginx.conf into sidecar config
//   openclaw-sidecar init [--dry-run] …         add the sidecar to your compose file and patch openclaw.json
import http from "node:http";
import { type Config, ConfigError, loadConfig, sidecarAddress as parseSidecarAddress } from "./options/config.ts";
import { createLogger } from "./ops/log.ts";
import { startedByNpmScript, watchParent } from "./commands/parent-watch.ts";
import { ListenError, startSidecar } from "./proxy/sidecar.ts";
import { probeGatewayAtStartup } from "./setup/startup-probe.ts";

/** Exit codes: 0 ok, 1 failure, 2 usage or bad input, 69 cannot listen (EX_UNAVAILABLE), 78 bad config (EX_CONFIG). */
export const EXIT = { ok: 0, failure: 1, usage: 2, unavailable: 69, config: 78 } as const;

const COMMANDS = [
  "run",
  "check-config",
  "healthcheck",
  "doctor",
  "print-gateway-config",
  "print-client-config",
  "import-nginx",
  "init",
  "help",
];

export function parseArgs(argv: string[]): {
  command: string;
  flags: Record<string, string>;
  positional: string[];
  file?: string;
} {
  const flags: Record<string, string> = {};
  const positional: string[] = [];
  let command = "run";
  let file: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (i === 0 && COMMANDS.includes(arg)) {
      command = arg;
      continue;
    }
    if (arg === "-h" || arg === "--help") {
      command = "help";
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
  return { command, flags, positional, ...(file !== undefined ? { file } : {}) };
}

const HELP = `usage: openclaw-sidecar [run|check-config|healthcheck|doctor|print-gateway-config|print-client-config|import-nginx|init] [--config file.json] [--option value …]
Options (flag / env OPENCLAW_SIDECAR_* / config file key) are listed in docs/options.md. Exit codes: 0 ok, 2 usage, 69 cannot listen, 78 bad config.`;

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
  if (args.command === "help") {
    process.stdout.write(`${HELP}\n`);
    return EXIT.ok;
  }
  if (args.command === "import-nginx") {
    const { runImportNginx } = await import("../nginx-compat/cli.ts");
    return runImportNginx(args.positional, process.stdout, process.stderr);
  }
  // Flags that belong to a command, not to the configuration.
  const { "--sidecar-address": sidecarAddressFlag, "--gateway-version": gatewayVersion, ...configFlags } = args.flags;
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
  try {
    config = loadConfig({
      env: process.env,
      flags: configFlags,
      ...(args.file !== undefined ? { file: args.file } : {}),
    });
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
    default:
      return run(config);
  }
}

/** The configuration as JSON with secrets replaced: safe to print and to paste into an issue. */
export function describeConfig(config: Config): Record<string, unknown> {
  return {
    ...config,
    upstream: config.upstream.origin,
    publicOrigin: config.publicOrigin?.origin,
    trustedHops: config.trustedHops.map(([addr, bits]) => `${addr.toString()}/${bits}`),
    credentials: config.credentials.map((c) => ({ user: c.user, token: "[REDACTED]", scopes: c.scopes })),
    cookieSecrets: config.cookieSecrets.map(() => "[REDACTED]"),
    oidc: config.oidc && {
      ...config.oidc,
      issuer: config.oidc.issuer.href,
      clientSecret: config.oidc.clientSecret === undefined ? undefined : "[REDACTED]",
    },
  };
}

async function run(config: Config): Promise<number> {
  const logger = createLogger(config.logLevel);
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
  let sidecar;
  try {
    sidecar = await startSidecar(config, { logger });
  } catch (err) {
    if (err instanceof ListenError) {
      logger.fatal(err.message);
      return EXIT.unavailable;
    }
    throw err;
  }
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
