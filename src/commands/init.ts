// `openclaw-sidecar init`: adds the sidecar to the user's own compose file (the official OpenClaw one, or theirs) and
// patches the gateway's openclaw.json to match, for one mode:
//   - the sidecar service: the only published port (127.0.0.1), a pinned address on an `internal` network it shares
//     with the gateway alone (identity, attribution), or the gateway's network namespace (local);
//   - the gateway: its published ports removed, bind lan (loopback in local mode), trustedProxies = the sidecar's
//     address, allowedOrigins = the published origin, trusted-proxy auth with a password for internal clients
//     (identity); the CLI service moved into the gateway's namespace and given what the mode needs;
//   - secrets generated into a new directory beside the compose file (0700, files 0600), referenced from compose;
//   - with --public-base-path: the same prefix for the sidecar (publicBasePath) and the gateway (controlUi.basePath);
//   - when it can reach the Docker engine (setup/docker-engine.ts): an internal subnet none of the engine's networks
//     holds, and a descriptor limit the engine can grant; a note says what was chosen and why either way.
// The gateway block comes from gateway-config.ts (print-gateway-config), computed from a sidecar configuration that
// loadConfig validates like any other. Nothing is written until everything has been understood; then every file is
// backed up and replaced at once (file-transaction.ts). --dry-run prints the unified diff instead.
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createTwoFilesPatch } from "diff";
import {
  ComposeFile,
  type YAMLMap,
  appendWithComment,
  commandLine,
  commandOption,
  isMap,
  isScalar,
  isSeq,
  joinNetwork,
  keyOf,
  parsePort,
  removeEnvironment,
  addEnvFile,
} from "../setup/compose-edit.ts";
import { type Variables, composeVariables, interpolate } from "../setup/compose-variables.ts";
import { ConfigError, type Mode, MODES, basePath, loadConfig, weakToken } from "../options/config.ts";
import { type NewSecret, commit } from "../setup/file-transaction.ts";
import { gatewayConfig } from "../setup/gateway-config.ts";
import { GatewayConfigFile } from "../setup/gateway-config-edit.ts";
import {
  DEFAULT_SUBNET,
  SUBNET_RANGE,
  type Engine,
  type TakenSubnet,
  chooseNofile,
  chooseSubnet,
  probeEngine,
  sidecarAddressIn,
} from "../setup/docker-engine.ts";
import { InitRefusal } from "../setup/init-refusal.ts";

export const SIDECAR_SERVICE = "openclaw-sidecar";
export const INTERNAL_NETWORK = "openclaw-sidecar-internal";
export const PUBLIC_NETWORK = "openclaw-sidecar-public";
/** The defaults; init picks another /24 of docker-engine.ts's range when the engine or the file already uses it. */
export const INTERNAL_SUBNET = DEFAULT_SUBNET;
export const SIDECAR_ADDRESS = sidecarAddressIn(DEFAULT_SUBNET);
/** The secrets directory, beside the compose file. */
export const SECRETS_DIR = "openclaw-sidecar";
const IN_CONTAINER = "/run/secrets/openclaw-sidecar";
/** The sidecar image's user (Dockerfile: USER node). */
const SIDECAR_UID = 1000;
const SIDECAR_PORT = 18789;
const REPO = fileURLToPath(new URL("../..", import.meta.url));

export interface InitOptions {
  compose: string;
  gatewayConfig?: string | undefined;
  mode: Mode;
  publicOrigin?: string | undefined;
  /** The path prefix (publicBasePath), already validated by options/config.ts basePath: "" or "/claw". */
  publicBasePath?: string | undefined;
  gatewayService: string;
  cliService: string;
  /** `image:` of the sidecar service. */
  sidecarImage: string;
  /** `build:` of the sidecar service (a checkout of openclaw-sidecar); omitted when undefined. */
  sidecarBuild?: string | undefined;
  /** Variables for ${…} in the compose file (the environment; .env beside the compose file fills in the rest). */
  env: Variables;
  /** What the Docker engine said (docker-engine.ts probeEngine): its networks and descriptor limit. */
  engine: Engine;
}

export interface InitPlan {
  compose: { file: string; before: string; after: string };
  gatewayConfig: { file: string; before: string; after: string };
  secretsDir?: { dir: string; secrets: NewSecret[] };
  /** What changed and what to do next, one line each. */
  notes: string[];
  /** The URL users open: the public origin, or the published loopback port, and the path prefix. */
  url: string;
}

const hex = (bytes = 32): string => randomBytes(bytes).toString("hex");

/** Reads both files and works out every change. Throws InitRefusal on anything it cannot do safely; writes nothing. */
export function planInit(opts: InitOptions): InitPlan {
  const composeFile = path.resolve(opts.compose);
  if (!existsSync(composeFile))
    throw new InitRefusal(`${composeFile} does not exist; point --compose at your docker-compose.yml.`);
  const composeDir = path.dirname(composeFile);
  const vars = composeVariables(path.join(composeDir, ".env"), opts.env);
  const composeBefore = readFileSync(composeFile, "utf8");
  const compose = new ComposeFile(composeBefore, composeFile);
  const notes: string[] = [];
  const gwName = opts.gatewayService;

  const gw = compose.service(gwName, "--gateway-service");
  if (compose.serviceNames().includes(SIDECAR_SERVICE)) {
    throw new InitRefusal(
      `${composeFile} already has a service "${SIDECAR_SERVICE}": init has been run on it (its backups end in .bak-…). Restore a backup to run it again.`,
    );
  }
  const networkMode = compose.editable(gw, gwName, "network_mode");
  if (networkMode !== undefined) {
    throw new InitRefusal(
      `${composeFile}: services.${gwName} has network_mode: ${String(isScalar(networkMode) ? networkMode.value : networkMode)}; init needs the gateway on compose networks (remove network_mode first).`,
    );
  }
  const cli = compose.serviceNames().includes(opts.cliService)
    ? compose.service(opts.cliService, "--cli-service")
    : undefined;
  if (cli === undefined)
    notes.push(
      `no service "${opts.cliService}" in the compose file: no CLI service changed (--cli-service NAME names yours).`,
    );

  // The gateway's own port, from its command line (the official file: `--port 18789`) or its config.
  const command = commandLine(gw, compose, gwName);
  const portOption = command ? commandOption(command, "--port") : undefined;

  const gatewayConfigFile = path.resolve(
    opts.gatewayConfig ?? gatewayConfigFromVolumes(compose, gw, gwName, vars, composeDir),
  );
  if (!existsSync(gatewayConfigFile))
    throw new InitRefusal(
      `the gateway config ${gatewayConfigFile} does not exist; pass --gateway-config FILE (your openclaw.json).`,
    );
  const configBefore = readFileSync(gatewayConfigFile, "utf8");
  const config = new GatewayConfigFile(configBefore, gatewayConfigFile);
  const authMode = config.get(["gateway", "auth", "mode"]);
  if (authMode !== undefined && authMode !== "token") {
    throw new InitRefusal(
      `${gatewayConfigFile}: gateway.auth.mode is ${JSON.stringify(authMode)}; init only converts a gateway in token auth (what the official setup writes) and will not replace another auth mode. ` +
        `Set it back to "token", or apply the block from \`openclaw-sidecar print-gateway-config --mode ${opts.mode}\` by hand.`,
    );
  }

  let gatewayPort = 18789;
  if (portOption !== undefined) {
    const value = interpolate(portOption.value, vars);
    if (value === undefined || !/^\d+$/.test(value))
      throw new InitRefusal(
        `${composeFile}: cannot tell the gateway's port from \`--port ${portOption.value}\` in services.${gwName}.command.`,
      );
    gatewayPort = Number(value);
  } else if (typeof config.get(["gateway", "port"]) === "number")
    gatewayPort = config.get(["gateway", "port"]) as number;

  // The host port users open today (the official file: ${OPENCLAW_GATEWAY_PORT:-18789}) moves to the sidecar.
  const portsNode = compose.editable(gw, gwName, "ports");
  const mappings = isSeq(portsNode) ? portsNode.items.map((item) => ({ item, mapping: parsePort(item) })) : [];
  const main = mappings.find(
    (m) => m.mapping !== undefined && interpolate(m.mapping.containerPort, vars) === String(gatewayPort),
  )?.mapping;
  const hostPortText = main?.hostPort ?? String(gatewayPort);
  const hostPort = interpolate(hostPortText, vars);
  if (hostPort === undefined || !/^\d+$/.test(hostPort)) {
    throw new InitRefusal(
      `${composeFile}: cannot tell the host port from "${hostPortText}" in services.${gwName}.ports (a variable without a value?); set it in the environment or in ${path.join(composeDir, ".env")}.`,
    );
  }
  const removedPorts = mappings.map((m) =>
    isScalar(m.item) ? String(m.item.value) : JSON.stringify((m.item as YAMLMap).toJSON()),
  );

  // The internal subnet and the sidecar's address in it: free on the engine and in this file (a pinned subnet that
  // overlaps another network fails `up` with "Pool overlaps with other one on this address space").
  let internal = { subnet: INTERNAL_SUBNET, sidecarAddress: SIDECAR_ADDRESS };
  if (opts.mode !== "local") {
    const taken: TakenSubnet[] = [...fileSubnets(compose), ...(opts.engine.reachable ? opts.engine.subnets : [])];
    const checked = opts.engine.reachable
      ? `free on the engine (${opts.engine.host}) and in the compose file`
      : `free in the compose file; not checked against the engine's networks (${opts.engine.reason})`;
    const choice = chooseSubnet(taken, checked);
    if (choice === undefined)
      throw new InitRefusal(
        `every /24 of ${SUBNET_RANGE}, the range init pins the sidecar in, is taken (${taken.map((t) => `${t.by} holds ${t.subnet}`).join("; ")}); remove a network or edit the subnet by hand.`,
      );
    internal = choice;
    notes.push(choice.note);
  }

  // The gateway block, exactly as print-gateway-config prints it for a validated sidecar configuration.
  const origins =
    opts.publicOrigin !== undefined ? [] : [`http://localhost:${hostPort}`, `http://127.0.0.1:${hostPort}`];
  const base = opts.publicBasePath ?? "";
  const sidecarPort = opts.mode === "local" ? (gatewayPort === 18790 ? 18791 : 18790) : SIDECAR_PORT;
  const userToken = hex();
  const cookieSecret = hex();
  let sidecarConfig;
  try {
    sidecarConfig = loadConfig({
      env: {},
      flags: {
        "--mode": opts.mode,
        "--listen": `0.0.0.0:${sidecarPort}`,
        "--upstream": opts.mode === "local" ? `http://127.0.0.1:${gatewayPort}` : `http://${gwName}:${gatewayPort}`,
        "--token": userToken,
        "--cookie-secret": cookieSecret,
        ...(base !== "" ? { "--public-base-path": base } : {}),
        ...(opts.publicOrigin !== undefined
          ? { "--public-origin": opts.publicOrigin }
          : { "--allowed-origins": origins.join(",") }),
      },
    });
  } catch (err) {
    if (err instanceof ConfigError) throw new InitRefusal(err.message);
    throw err;
  }
  const block = gatewayConfig({ config: sidecarConfig, sidecarAddress: internal.sidecarAddress }).gateway as {
    bind: string;
    port: number;
    trustedProxies?: string[];
    auth: { trustedProxy?: Record<string, unknown> };
    controlUi: { basePath?: string; allowedOrigins: string[] };
  };

  // ---- the gateway config ----
  config.set(["gateway", "bind"], block.bind);
  config.set(["gateway", "port"], gatewayPort);
  if (block.trustedProxies !== undefined) {
    const before = config.get(["gateway", "trustedProxies"]);
    if (Array.isArray(before) && JSON.stringify(before) !== JSON.stringify(block.trustedProxies)) {
      notes.push(
        `gateway.trustedProxies ${JSON.stringify(before)} replaced by ${JSON.stringify(block.trustedProxies)}: only the sidecar's pinned address may claim client addresses.`,
      );
    }
    config.set(["gateway", "trustedProxies"], block.trustedProxies);
  }
  const existingOrigins = config.get(["gateway", "controlUi", "allowedOrigins"]);
  const allowedOrigins = [
    ...new Set([
      ...(Array.isArray(existingOrigins) ? existingOrigins.map(String) : []),
      ...block.controlUi.allowedOrigins,
    ]),
  ];
  config.set(["gateway", "controlUi", "allowedOrigins"], allowedOrigins);
  // The gateway serves its Control UI under the sidecar's prefix (allowedOrigins above stay origins, without it).
  if (block.controlUi.basePath !== undefined) {
    const before = config.get(["gateway", "controlUi", "basePath"]);
    if (typeof before === "string" && before !== block.controlUi.basePath)
      notes.push(
        `gateway.controlUi.basePath ${JSON.stringify(before)} replaced by ${JSON.stringify(block.controlUi.basePath)} (--public-base-path).`,
      );
    config.set(["gateway", "controlUi", "basePath"], block.controlUi.basePath);
  }

  // ---- the compose file ----
  const secrets: NewSecret[] = [];
  const secretsDir = path.join(composeDir, SECRETS_DIR);
  const rel = (name: string): string => `./${SECRETS_DIR}/${name}`;
  const gwEnv = compose.editable(gw, gwName, "environment");
  const cliEnv = cli ? compose.editable(cli, opts.cliService, "environment") : undefined;
  const bindOption = command ? commandOption(command, "--bind") : undefined;
  const wantBind = opts.mode === "local" ? "loopback" : "lan";
  if (bindOption !== undefined && interpolate(bindOption.value, vars) !== wantBind) {
    bindOption.set(wantBind);
    notes.push(`services.${gwName}.command: --bind ${bindOption.value} → --bind ${wantBind}.`);
  }

  const sidecarEnv: Record<string, string> = {
    OPENCLAW_SIDECAR_MODE: opts.mode,
    OPENCLAW_SIDECAR_LISTEN: `0.0.0.0:${sidecarPort}`,
    OPENCLAW_SIDECAR_UPSTREAM: sidecarConfig.upstream.origin,
  };
  if (base === "") {
    // Liveness probes reach the gateway's /healthz without a login; it answers status only.
    sidecarEnv.OPENCLAW_SIDECAR_PUBLIC_PATHS = "/healthz";
  } else {
    // Not under a prefix: publicPaths are relative to it, and the gateway keeps /healthz at its root (measured on
    // 2026.9.6), so /claw/healthz would be its Control UI page served without a login, a probe that says nothing
    // about health. The sidecar's own /healthz and /readyz are on its admin listener (the image's HEALTHCHECK).
    sidecarEnv.OPENCLAW_SIDECAR_PUBLIC_BASE_PATH = base;
    notes.push(
      `no publicPaths under --public-base-path: the gateway's /healthz stays at its root, which the sidecar does not forward under a prefix (${base}/healthz would be the Control UI page, without a login); probe the sidecar's admin listener (/healthz, /readyz; the image's HEALTHCHECK) instead.`,
    );
  }
  if (opts.publicOrigin !== undefined)
    sidecarEnv.OPENCLAW_SIDECAR_PUBLIC_ORIGIN = sidecarConfig.publicOrigin?.origin ?? opts.publicOrigin;
  const sidecarVolumes: string[] = [];
  const owner = { uid: SIDECAR_UID, gid: SIDECAR_UID };
  const mountSecret = (name: string, content: string, envName: string): void => {
    secrets.push({ name, content: `${content}\n`, owner });
    sidecarVolumes.push(`${rel(name)}:${IN_CONTAINER}/${name}:ro`);
    sidecarEnv[envName] = `${IN_CONTAINER}/${name}`;
  };

  if (opts.mode === "identity") {
    mountSecret("token", userToken, "OPENCLAW_SIDECAR_TOKEN_FILE");
    mountSecret("cookie-secret", cookieSecret, "OPENCLAW_SIDECAR_COOKIE_SECRET_FILE");
    // The gateway refuses trusted-proxy auth while a shared token is configured; internal clients (the CLI, over the
    // gateway's loopback) use a password instead, read by compose from a 0600 env file.
    secrets.push({ name: "gateway.env", content: `OPENCLAW_GATEWAY_PASSWORD=${hex()}\n` });
    const auth = config.object(["gateway", "auth"]);
    if (auth.has("token")) auth.delete("token");
    config.set(["gateway", "auth", "mode"], "trusted-proxy");
    config.set(["gateway", "auth", "password"], "${OPENCLAW_GATEWAY_PASSWORD}");
    config.set(["gateway", "auth", "trustedProxy"], block.auth.trustedProxy as never);
    for (const [service, name, env] of [
      [gw, gwName, gwEnv],
      ...(cli ? [[cli, opts.cliService, cliEnv] as const] : []),
    ] as const) {
      if (removeEnvironment(env, "OPENCLAW_GATEWAY_TOKEN"))
        notes.push(
          `services.${name}.environment: OPENCLAW_GATEWAY_TOKEN removed (trusted-proxy auth refuses a shared token).`,
        );
      addEnvFile(compose, service, name, rel("gateway.env"));
    }
  }
  if (opts.mode === "local") {
    mountSecret("cookie-secret", cookieSecret, "OPENCLAW_SIDECAR_COOKIE_SECRET_FILE");
    const tokenSource = localTokenSource(config, gw, gwEnv);
    if (tokenSource.kind === "literal") mountSecret("token", tokenSource.value, "OPENCLAW_SIDECAR_TOKEN_FILE");
    else sidecarEnv.OPENCLAW_SIDECAR_TOKEN = `\${${tokenSource.name}}`;
  }

  const services = compose.services();
  let sidecar: Record<string, unknown>;
  if (opts.mode === "local") {
    gw.set("ports", compose.node([compose.quoted(`127.0.0.1:${hostPortText}:${sidecarPort}`)]));
    sidecar = {
      image: opts.sidecarImage,
      ...(opts.sidecarBuild !== undefined ? { build: opts.sidecarBuild } : {}),
      init: true,
      restart: "unless-stopped",
      network_mode: `service:${gwName}`,
      depends_on: [gwName],
      environment: sidecarEnv,
      ...(sidecarVolumes.length > 0 ? { volumes: sidecarVolumes } : {}),
      read_only: true,
      tmpfs: ["/tmp"],
      cap_drop: ["ALL"],
      security_opt: ["no-new-privileges:true"],
    };
  } else {
    const nofile = chooseNofile(opts.engine);
    notes.push(nofile.note);
    if (portsNode !== undefined) gw.delete("ports");
    joinNetwork(compose, gw, gwName, INTERNAL_NETWORK, undefined);
    const networks = compose.topLevel("networks");
    for (const p of networks.items) {
      const name = keyOf(p);
      if (name === INTERNAL_NETWORK || name === PUBLIC_NETWORK)
        throw new InitRefusal(`${composeFile} already defines a network "${name}"; init adds it. Remove it first.`);
    }
    networks.set(INTERNAL_NETWORK, compose.node({ internal: true, ipam: { config: [{ subnet: internal.subnet }] } }));
    networks.set(PUBLIC_NETWORK, compose.node({}));
    sidecar = {
      image: opts.sidecarImage,
      ...(opts.sidecarBuild !== undefined ? { build: opts.sidecarBuild } : {}),
      init: true,
      restart: "unless-stopped",
      depends_on: [gwName],
      environment: sidecarEnv,
      ...(sidecarVolumes.length > 0 ? { volumes: sidecarVolumes } : {}),
      ports: [`127.0.0.1:${hostPortText}:${SIDECAR_PORT}`],
      // Two descriptors per open WebSocket: the default 1,024 caps it near 500. No more than the engine grants.
      ...(nofile.nofile !== undefined ? { ulimits: { nofile: nofile.nofile } } : {}),
      read_only: true,
      tmpfs: ["/tmp"],
      cap_drop: ["ALL"],
      security_opt: ["no-new-privileges:true"],
      networks: { [INTERNAL_NETWORK]: { ipv4_address: internal.sidecarAddress }, [PUBLIC_NETWORK]: {} },
    };
  }
  if (removedPorts.length > 0) {
    notes.push(
      `services.${gwName}.ports ${removedPorts.join(", ")} ${opts.mode === "local" ? `replaced by 127.0.0.1:${hostPortText}:${sidecarPort} (the sidecar, in the gateway's namespace)` : "removed: only the sidecar is published"}.`,
    );
  }
  const sidecarNode = compose.node(sidecar) as YAMLMap;
  for (const key of ["depends_on", "tmpfs", "cap_drop", "security_opt"]) {
    const n = sidecarNode.get(key, true);
    if (isSeq(n)) n.flow = true;
  }
  // Quoted like the official file's ports (YAML 1.1 readers take some unquoted "a:b" for base-60 numbers).
  for (const key of ["ports", "security_opt"]) {
    const n = sidecarNode.get(key, true);
    if (isSeq(n)) n.items = n.items.map((i) => compose.quoted(String(isScalar(i) ? i.value : i)));
  }
  appendWithComment(
    services,
    SIDECAR_SERVICE,
    sidecarNode,
    `Added by openclaw-sidecar init (${opts.mode} mode). ${
      opts.mode === "local"
        ? `SINGLE-USER MACHINE ONLY: it shares ${gwName}'s network namespace,\nand everyone who has the gateway token is paired silently as an admin.`
        : `The only published port, on 127.0.0.1.\n${INTERNAL_NETWORK} is internal and holds only the gateway and this sidecar, whose address\n(${internal.sidecarAddress}) is the gateway's only trustedProxies entry: attach nothing else to it.`
    }`,
  );

  // The CLI reaches the gateway over the gateway's own loopback (its port is no longer published).
  if (cli !== undefined) {
    const cliMode = compose.editable(cli, opts.cliService, "network_mode");
    const want = `service:${gwName}`;
    if (cliMode === undefined) {
      for (const key of ["networks", "ports"]) {
        if (compose.editable(cli, opts.cliService, key) !== undefined) {
          throw new InitRefusal(
            `${composeFile}: services.${opts.cliService} has ${key}:, which cannot be combined with network_mode: ${want} (how the CLI reaches the gateway once its port is not published). Remove it, or pass --cli-service for another service.`,
          );
        }
      }
      cli.set("network_mode", want);
      notes.push(`services.${opts.cliService}: network_mode ${want} (the CLI reaches the gateway on its loopback).`);
    } else if (!(isScalar(cliMode) && cliMode.value === want)) {
      notes.push(
        `services.${opts.cliService} keeps network_mode ${String(isScalar(cliMode) ? cliMode.value : cliMode)}: the CLI must reach the gateway some other way than its loopback.`,
      );
    }
  }
  const plan: InitPlan = {
    compose: { file: composeFile, before: composeBefore, after: compose.toString() },
    gatewayConfig: { file: gatewayConfigFile, before: configBefore, after: config.toString() },
    notes,
    url: `${opts.publicOrigin !== undefined ? (sidecarConfig.publicOrigin?.origin ?? opts.publicOrigin) : `http://localhost:${hostPort}`}${base}/`,
  };
  if (secrets.length > 0) plan.secretsDir = { dir: secretsDir, secrets };
  if (plan.secretsDir !== undefined && existsSync(secretsDir)) {
    throw new InitRefusal(
      `${secretsDir} already exists; init writes new secrets there and will not overwrite any. Move it away first.`,
    );
  }
  return plan;
}

/** Subnets the compose file's own networks pin (`ipam: config: [{subnet}]`). */
function fileSubnets(compose: ComposeFile): TakenSubnet[] {
  const node = compose.doc.get("networks", true);
  if (!isMap(node)) return [];
  const out: TakenSubnet[] = [];
  for (const p of node.items) {
    const value = (isMap(p.value) ? p.value.toJSON() : undefined) as { ipam?: { config?: unknown } } | undefined;
    const config = value?.ipam?.config;
    for (const c of Array.isArray(config) ? config : [])
      if (typeof (c as { subnet?: unknown }).subnet === "string")
        out.push({ subnet: (c as { subnet: string }).subnet, by: `network "${keyOf(p)}" of the compose file` });
  }
  return out;
}

/** Where the gateway config is: `<host dir mounted at /home/node/.openclaw>/openclaw.json`. */
function gatewayConfigFromVolumes(
  compose: ComposeFile,
  gw: YAMLMap,
  gwName: string,
  vars: Variables,
  composeDir: string,
): string {
  const volumes = compose.editable(gw, gwName, "volumes");
  const items = isSeq(volumes) ? volumes.items : [];
  for (const item of items) {
    let source: string | undefined;
    let target: string | undefined;
    if (isScalar(item)) {
      const text = String(item.value);
      const m = /^(.*?):(\/[^:]*)(?::[a-z,]+)?$/.exec(text.replace(/\$\{[^}]*\}/g, (v) => v.replace(/:/g, "\u0000")));
      if (m) {
        source = (m[1] as string).replace(/\u0000/g, ":");
        target = m[2];
      }
    } else if (isMap(item)) {
      source = item.get("source") as string | undefined;
      target = item.get("target") as string | undefined;
    }
    if (target?.replace(/\/$/, "") !== "/home/node/.openclaw" || source === undefined) continue;
    const dir = interpolate(source, vars);
    if (dir === undefined || dir === "") {
      throw new InitRefusal(
        `cannot tell where the gateway config is: services.${gwName}.volumes mounts "${source}", which has no value here (set it in the environment or in ${path.join(composeDir, ".env")}), or pass --gateway-config FILE.`,
      );
    }
    const expanded = dir.startsWith("~/") ? path.join(os.homedir(), dir.slice(2)) : dir;
    return path.join(path.resolve(composeDir, expanded), "openclaw.json");
  }
  throw new InitRefusal(
    `cannot tell where the gateway config is: services.${gwName} mounts nothing at /home/node/.openclaw; pass --gateway-config FILE (your openclaw.json).`,
  );
}

/** In local mode the sidecar checks the gateway's own token: from the same variable, or (a literal) from a new file. */
function localTokenSource(
  config: GatewayConfigFile,
  _gw: YAMLMap,
  gwEnv: unknown,
): { kind: "literal"; value: string } | { kind: "variable"; name: string } {
  const token = config.get(["gateway", "auth", "token"]);
  if (typeof token === "string") {
    const m = /^\$\{([A-Z_][A-Z0-9_]*)\}$/.exec(token);
    if (m) return { kind: "variable", name: m[1] as string };
    // The sidecar would refuse it at startup (the only brake on guessing the gateway's token is its length): say so
    // now, before anything is written. A variable's value is not known here; the sidecar checks it when it starts.
    const weak = weakToken(token, `${config.file}: gateway.auth.token`);
    if (weak !== undefined) throw new InitRefusal(weak);
    return { kind: "literal", value: token };
  }
  if (token !== null && typeof token === "object" && (token as Record<string, unknown>).source === "env")
    return { kind: "variable", name: String((token as Record<string, unknown>).id) };
  if (token === undefined) {
    const env = gwEnv as { toJSON?: () => unknown } | undefined;
    const json = JSON.stringify(env?.toJSON?.() ?? null);
    if (json.includes("OPENCLAW_GATEWAY_TOKEN")) return { kind: "variable", name: "OPENCLAW_GATEWAY_TOKEN" };
  }
  throw new InitRefusal(
    `${config.file}: cannot tell the gateway token (gateway.auth.token is ${JSON.stringify(token)}); local mode needs the sidecar to check the same token. Use a literal, "\${VAR}" or an env SecretRef.`,
  );
}

/** The unified diff of a plan (what --dry-run prints). */
export function planDiff(plan: InitPlan): string {
  const patch = (f: { file: string; before: string; after: string }): string =>
    f.before === f.after
      ? ""
      : createTwoFilesPatch(f.file, f.file, f.before, f.after, "before init", "after init", { context: 3 });
  return patch(plan.compose) + patch(plan.gatewayConfig);
}

/** Backup suffix for a moment: `.bak-20261124T101500Z`. */
export const backupSuffix = (now: Date): string =>
  `.bak-${now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z")}`;

const USAGE = `usage: openclaw-sidecar init [--compose FILE] [--gateway-config FILE] [--mode identity|attribution|local] [--public-origin URL]
                             [--public-base-path /PATH] [--dry-run] [--gateway-service NAME] [--cli-service NAME]
                             [--sidecar-image IMAGE] [--sidecar-build DIR|none]
Adds openclaw-sidecar to your compose file and patches the gateway's openclaw.json for the mode (default identity).`;

interface Writable {
  write(s: string): unknown;
}

/** The command: 0 done (or dry run printed), 1 refused (nothing written), 2 usage. */
export function runInit(
  argv: string[],
  stdout: Writable,
  stderr: Writable,
  env: Variables = process.env,
  now = new Date(),
  askEngine: (env: Variables) => Engine = probeEngine,
): number {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        compose: { type: "string" },
        "gateway-config": { type: "string" },
        mode: { type: "string", default: "identity" },
        "public-origin": { type: "string" },
        "public-base-path": { type: "string" },
        "dry-run": { type: "boolean", default: false },
        "gateway-service": { type: "string", default: "openclaw-gateway" },
        "cli-service": { type: "string", default: "openclaw-cli" },
        "sidecar-image": { type: "string", default: "${OPENCLAW_SIDECAR_IMAGE:-openclaw-sidecar:local}" },
        "sidecar-build": { type: "string", default: REPO.replace(/\/$/, "") },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (err) {
    stderr.write(`openclaw-sidecar init: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!(MODES as readonly string[]).includes(values.mode)) {
    stderr.write(`openclaw-sidecar init: --mode must be one of ${MODES.join(", ")} (got "${values.mode}")\n`);
    return 2;
  }
  // The option's own validator (publicBasePath): "/claw/" is "/claw", "/" the root; anything else is a usage error.
  let publicBasePath = "";
  if (values["public-base-path"] !== undefined) {
    try {
      publicBasePath = basePath(values["public-base-path"], "--public-base-path");
    } catch (err) {
      stderr.write(`openclaw-sidecar init: ${(err as Error).message}\n`);
      return 2;
    }
  }
  const compose =
    values.compose ??
    ["docker-compose.yml", "docker-compose.yaml", "compose.yaml", "compose.yml"].find((f) => existsSync(f)) ??
    "docker-compose.yml";
  let plan: InitPlan;
  try {
    plan = planInit({
      compose,
      gatewayConfig: values["gateway-config"],
      mode: values.mode as Mode,
      publicOrigin: values["public-origin"],
      publicBasePath,
      gatewayService: values["gateway-service"],
      cliService: values["cli-service"],
      sidecarImage: values["sidecar-image"],
      sidecarBuild: values["sidecar-build"] === "none" ? undefined : values["sidecar-build"],
      env,
      // Local mode pins nothing on the engine: no question to ask.
      engine: values.mode === "local" ? { reachable: false, reason: "local mode" } : askEngine(env),
    });
  } catch (err) {
    if (err instanceof InitRefusal) {
      stderr.write(`openclaw-sidecar init: refused, nothing written: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const secretLines = (plan.secretsDir?.secrets ?? []).map(
    (s) => `  ${path.join(plan.secretsDir!.dir, s.name)} (0600)`,
  );
  if (values["dry-run"]) {
    stdout.write(planDiff(plan));
    if (secretLines.length > 0) stdout.write(`\nwould create, with new random secrets:\n${secretLines.join("\n")}\n`);
    for (const note of plan.notes) stdout.write(`note: ${note}\n`);
    return 0;
  }
  let done;
  try {
    done = commit({
      changes: [plan.compose, plan.gatewayConfig]
        .filter((f) => f.before !== f.after)
        .map((f) => ({ file: f.file, content: f.after })),
      ...(plan.secretsDir !== undefined ? { secretsDir: plan.secretsDir } : {}),
      backupSuffix: backupSuffix(now),
    });
  } catch (err) {
    stderr.write(`openclaw-sidecar init: failed, nothing written: ${(err as Error).message}\n`);
    return 1;
  }
  const out = [
    `openclaw-sidecar init: ${values.mode} mode written.`,
    ...done.backups.map((b) => `  backup: ${b}`),
    ...secretLines.map((l) => l.replace(/^ {2}/, "  secret: ")),
    ...plan.notes.map((n) => `  ${n}`),
  ];
  const uid = process.getuid?.();
  if (plan.secretsDir?.secrets.some((s) => s.owner) && uid !== 0 && uid !== SIDECAR_UID) {
    out.push(
      `  the sidecar runs as uid ${SIDECAR_UID} and must read its secrets: sudo chown ${SIDECAR_UID} ${plan.secretsDir.secrets
        .filter((s) => s.owner)
        .map((s) => path.join(plan.secretsDir!.dir, s.name))
        .join(" ")}`,
    );
  }
  out.push(`next: docker compose up -d   (in ${path.dirname(plan.compose.file)}; Compose v1: docker-compose up -d)`);
  if (values.mode === "identity")
    out.push(
      `then open the dashboard once with your token: ${plan.url}?token=$(cat ${path.join(plan.secretsDir?.dir ?? SECRETS_DIR, "token")})`,
    );
  else
    out.push(
      `then open the dashboard: ${plan.url}${values.mode === "local" ? " (log in with the gateway's token)" : ""}`,
    );
  stdout.write(`${out.join("\n")}\n`);
  return 0;
}
