// What `init` asks the Docker engine before it pins anything in a compose file, and the two choices it makes from the
// answers: the sidecar's internal subnet (one no network of the engine holds) and its descriptor limit (one the
// engine can grant). The choices are pure functions of the facts, so they are tested without an engine; the facts
// come from the docker CLI (which honours DOCKER_HOST and contexts) and, for a local engine, /proc.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";

/**
 * The internal network init pins the sidecar in, and the range it picks another /24 from when an engine network
 * already holds it. 10.119.0.0/16 because:
 *   - it cannot meet Docker's default automatic pools (172.17.0.0/16 … 172.31.0.0/16, and 192.168.0.0/16 in /20s),
 *     which the engine hands out in turn rather than reusing freed ones: after enough `up`/`down` churn, any subnet
 *     pinned inside them is eventually held by another network, and `up` fails ("Pool overlaps with other one on this
 *     address space");
 *   - it is not 100.64.0.0/10: Tailscale gives every node an address there and drops packets from that range that
 *     arrive on another interface, and ISPs use it for carrier-grade NAT;
 *   - it avoids the 10.x blocks handed out by default elsewhere: home and office LANs and Azure (10.0–10.10), Docker
 *     Swarm overlays (/24s from 10.0.0.0 up), OpenVPN (10.8) and WireGuard installers (10.6, 10.7, 10.13, 10.66),
 *     Kubernetes (k3s 10.42/10.43, services 10.96.0.0/12, flannel 10.244), Podman (10.88, then /24s from 10.89.0.0
 *     up: 7,680 networks before 10.119), GCP's auto-mode VPCs (10.128.0.0/9) and DigitalOcean's (even /16s around
 *     10.104–10.138).
 */
export const SUBNET_RANGE = "10.119.0.0/16";
export const DEFAULT_SUBNET = "10.119.0.0/24";
/** The sidecar's host number in its /24 (.1 is the bridge, .2 the gateway in compose/*.yml). */
export const SIDECAR_HOST = 10;
/** Two descriptors per open WebSocket (client side + gateway side): the default 1,024 caps the sidecar near 500. */
export const WANTED_NOFILE = 65536;
/** A container's limit when compose sets none. */
const DEFAULT_NOFILE = 1024;

export interface EngineFacts {
  reachable: true;
  /** Where the engine was reached (DOCKER_HOST, or the default socket). */
  host: string;
  /** The subnets of the engine's networks, e.g. {subnet: "172.18.0.0/16", by: 'engine network "web_default"'}. */
  subnets: TakenSubnet[];
  /** The engine's hard RLIMIT_NOFILE, which no container can exceed; undefined when it cannot be read from here. */
  nofile?: { limit: number; source: string } | undefined;
  /** Why `nofile` is unknown. */
  nofileUnknown?: string | undefined;
}
export interface EngineUnreachable {
  reachable: false;
  reason: string;
}
export type Engine = EngineFacts | EngineUnreachable;
/** A subnet in use, and what holds it (for the note). */
export interface TakenSubnet {
  subnet: string;
  by: string;
}

// ---- the choices (pure) -------------------------------------------------------------------------------------------

function parseCidr(cidr: string): { base: number; bits: number } | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr.trim());
  if (!m) return undefined;
  const octets = m.slice(1, 5).map(Number);
  const bits = Number(m[5]);
  if (octets.some((o) => o > 255) || bits > 32) return undefined;
  const addr = octets.reduce((a, o) => a * 256 + o, 0);
  const size = 2 ** (32 - bits);
  return { base: addr - (addr % size), bits };
}

const formatAddress = (n: number): string => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join(".");

/** Whether two IPv4 CIDRs share an address (anything unparsable, such as an IPv6 subnet, shares none). */
export function overlaps(a: string, b: string): boolean {
  const x = parseCidr(a);
  const y = parseCidr(b);
  if (x === undefined || y === undefined) return false;
  const xEnd = x.base + 2 ** (32 - x.bits);
  const yEnd = y.base + 2 ** (32 - y.bits);
  return x.base < yEnd && y.base < xEnd;
}

/** The sidecar's pinned address in `subnet`. */
export const sidecarAddressIn = (subnet: string): string =>
  formatAddress((parseCidr(subnet) as { base: number }).base + SIDECAR_HOST);

export interface SubnetChoice {
  subnet: string;
  sidecarAddress: string;
  note: string;
}

/**
 * The internal subnet: DEFAULT_SUBNET unless it overlaps one of `taken` (the engine's networks and the compose file's
 * own), else the first free /24 of SUBNET_RANGE after it. Undefined when every /24 of the range is taken.
 */
export function chooseSubnet(taken: TakenSubnet[], checkedAgainst: string): SubnetChoice | undefined {
  const range = parseCidr(SUBNET_RANGE) as { base: number; bits: number };
  const first = (parseCidr(DEFAULT_SUBNET) as { base: number }).base;
  const count = 2 ** (24 - range.bits);
  for (let i = 0; i < count; i++) {
    const base = range.base + (((first - range.base) / 256 + i) % count) * 256;
    const subnet = `${formatAddress(base)}/24`;
    if (taken.some((t) => overlaps(t.subnet, subnet))) continue;
    const sidecarAddress = sidecarAddressIn(subnet);
    const blockers = taken.filter((t) => overlaps(t.subnet, DEFAULT_SUBNET)).map((t) => `${t.by} holds ${t.subnet}`);
    return {
      subnet,
      sidecarAddress,
      note:
        i === 0
          ? `internal network ${subnet} (sidecar ${sidecarAddress}): ${checkedAgainst}.`
          : `internal network ${subnet} (sidecar ${sidecarAddress}), not the default ${DEFAULT_SUBNET}, which is taken (${blockers.join("; ")}).`,
    };
  }
  return undefined;
}

export interface NofileChoice {
  /** The value for `ulimits: nofile:`; undefined: leave the key out. */
  nofile: number | undefined;
  note: string;
}

/**
 * The sidecar's `ulimits: nofile:`. A container cannot be given more than the engine's own hard limit: above it runc
 * fails the start with "error setting rlimit type 7: operation not permitted" (`up` fails). So: WANTED_NOFILE when the
 * engine allows it or its limit is unknown (saying what to do if `up` fails), the engine's limit when it is lower,
 * and nothing when that limit is no better than the default.
 */
export function chooseNofile(engine: Engine): NofileChoice {
  const fix = `if \`up\` fails with "error setting rlimit type 7", set it to the engine's \`ulimit -Hn\` or remove it`;
  if (!engine.reachable)
    return {
      nofile: WANTED_NOFILE,
      note: `ulimits.nofile ${WANTED_NOFILE} for the sidecar, not checked: ${engine.reason}; ${fix}.`,
    };
  if (engine.nofile === undefined)
    return {
      nofile: WANTED_NOFILE,
      note: `ulimits.nofile ${WANTED_NOFILE} for the sidecar, not checked: ${engine.nofileUnknown ?? "the engine's descriptor limit cannot be read from here"}; ${fix}.`,
    };
  const { limit, source } = engine.nofile;
  if (limit >= WANTED_NOFILE)
    return {
      nofile: WANTED_NOFILE,
      note: `ulimits.nofile ${WANTED_NOFILE} for the sidecar: the engine allows up to ${limit} (${source}).`,
    };
  const raise = `raise the engine's own limit (dockerd's LimitNOFILE) and set ${WANTED_NOFILE} for up to ~${WANTED_NOFILE / 2} WebSockets`;
  if (limit <= DEFAULT_NOFILE)
    return {
      nofile: undefined,
      note: `ulimits.nofile left out: the engine's hard limit is ${limit} (${source}), no more than the default ${DEFAULT_NOFILE}, so the sidecar holds at most ~${Math.floor(limit / 2)} WebSockets; ${raise}.`,
    };
  return {
    nofile: limit,
    note: `ulimits.nofile ${limit} for the sidecar, not ${WANTED_NOFILE}: the engine's hard limit is ${limit} (${source}) and a container cannot exceed it ("error setting rlimit type 7"); that holds ~${Math.floor(limit / 2)} WebSockets; ${raise}.`,
  };
}

// ---- the facts (the engine, /proc) --------------------------------------------------------------------------------

type Env = Record<string, string | undefined>;
const DEFAULT_SOCKET = "/var/run/docker.sock";

function dockerCli(args: string[], env: Env): { ok: true; out: string } | { ok: false; error: string } {
  const r = spawnSync("docker", args, {
    encoding: "utf8",
    timeout: 15_000,
    env: env as NodeJS.ProcessEnv,
    stdio: ["ignore", "pipe", "pipe"],
  });
  if (r.error !== undefined)
    return {
      ok: false,
      error: (r.error as NodeJS.ErrnoException).code === "ENOENT" ? "no docker CLI here" : r.error.message,
    };
  if (r.status !== 0)
    return { ok: false, error: (r.stderr.trim().split("\n")[0] ?? "").trim() || `docker exited ${r.status}` };
  return { ok: true, out: r.stdout };
}

/** Hard "Max open files" of a process, from /proc/<pid>/limits. */
export function hardNofileOf(limitsText: string): number | undefined {
  const m = /^Max open files\s+\S+\s+(\S+)/m.exec(limitsText);
  if (!m) return undefined;
  return m[1] === "unlimited" ? Number.MAX_SAFE_INTEGER : Number(m[1]);
}

/**
 * The local dockerd's hard descriptor limit: what runc, started below it, can give a container (raising a hard limit
 * needs CAP_SYS_RESOURCE, which a sandboxed or rootless engine lacks). Undefined with the reason when there is no
 * dockerd in this machine's view (a remote engine, or init running in a container).
 */
function localDaemonNofile(): { limit: number; source: string } | { why: string } {
  const pids: string[] = [];
  try {
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        if (readFileSync(`/proc/${entry}/comm`, "utf8").trim() === "dockerd") pids.push(entry);
      } catch {
        // the process ended while we looked
      }
    }
  } catch {
    return { why: "no /proc here to read dockerd's limits from" };
  }
  if (pids.length === 0)
    return { why: "no dockerd process visible from here (a remote engine, or init in a container)" };
  let best: { limit: number; source: string } | undefined;
  for (const pid of pids) {
    try {
      const limit = hardNofileOf(readFileSync(`/proc/${pid}/limits`, "utf8"));
      // Several daemons (rootless beside rootful): the lowest is the one that can fail.
      if (limit !== undefined && (best === undefined || limit < best.limit))
        best = { limit, source: `dockerd pid ${pid}, /proc/${pid}/limits` };
    } catch {
      // not readable: try the next
    }
  }
  return best ?? { why: `cannot read /proc/${pids[0]}/limits` };
}

/**
 * What init needs from the engine it will `up` on, when it can reach one: DOCKER_HOST when set (or a docker context),
 * else the default socket. Never starts anything; asks `docker info` and `docker network inspect` only.
 */
export function probeEngine(env: Env): Engine {
  const host = env.DOCKER_HOST;
  if ((host === undefined || host === "") && env.DOCKER_CONTEXT === undefined && !existsSync(DEFAULT_SOCKET))
    return { reachable: false, reason: `no Docker engine to ask (DOCKER_HOST unset, no ${DEFAULT_SOCKET})` };
  const where =
    host || (env.DOCKER_CONTEXT !== undefined ? `context ${env.DOCKER_CONTEXT}` : `unix://${DEFAULT_SOCKET}`);
  const info = dockerCli(["info", "--format", "{{json .}}"], env);
  if (!info.ok) return { reachable: false, reason: `the Docker engine at ${where} did not answer (${info.error})` };
  const ids = dockerCli(["network", "ls", "-q"], env);
  if (!ids.ok) return { reachable: false, reason: `docker network ls failed (${ids.error})` };
  const subnets: TakenSubnet[] = [];
  const idList = ids.out.split("\n").filter((l) => l.trim() !== "");
  if (idList.length > 0) {
    const inspect = dockerCli(["network", "inspect", "--format", "{{.Name}}={{json .IPAM.Config}}", ...idList], env);
    if (!inspect.ok) return { reachable: false, reason: `docker network inspect failed (${inspect.error})` };
    // Names are [a-zA-Z0-9][a-zA-Z0-9_.-]*: the first "=" ends one.
    for (const line of inspect.out.split("\n")) {
      const eq = line.indexOf("=");
      if (eq === -1) continue;
      const config = JSON.parse(line.slice(eq + 1)) as Array<{ Subnet?: string }> | null;
      for (const c of config ?? [])
        if (c.Subnet) subnets.push({ subnet: c.Subnet, by: `engine network "${line.slice(0, eq)}"` });
    }
  }
  const local = host === undefined || host === "" || host.startsWith("unix://");
  const daemon = local
    ? localDaemonNofile()
    : { why: `the engine at ${where} is remote: its limits cannot be read from here` };
  return {
    reachable: true,
    host: where,
    subnets,
    ...("limit" in daemon ? { nofile: daemon } : { nofileUnknown: daemon.why }),
  };
}
