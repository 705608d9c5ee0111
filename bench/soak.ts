// `npm run soak [-- --minutes N]`: a bounded soak with faults (default 30 minutes; it stops by itself). The REAL
// OpenClaw gateway runs in an emulated compose network (test/gateway/netns.ts: gateway 10.77.0.1, client 10.77.0.2,
// sidecar 10.77.0.3), the sidecar terminates TLS in identity mode, and bench/soak-traffic.ts sends mixed traffic from
// the client namespace. Meanwhile the gateway is restarted (stop + start) every few minutes and the sidecar's
// certificate files are rewritten (it re-reads them on change), and the sidecar's tokensFile is rewritten (credential
// reloads, src/proxy/reload.ts): a rotating second user is added, used by some traffic and two held WebSockets, then
// removed, with SIGHUP and the file watch taking turns; once per run a bad file is written and then restored. The
// sidecar's RSS and open descriptors are sampled from /proc every few seconds. Traffic goes nowhere but the namespaces
// this script creates.
//
// Output: bench/results/soak-<timestamp>/report.md with rss.svg and fds.svg beside it, plus the sidecar's log.
import { type ChildProcess } from "node:child_process";
import {
  copyFileSync,
  createWriteStream,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from "node:fs";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { REVOKED_REASON } from "../src/http/forward-upgrade.ts";
import { createTestCa } from "../test/helpers/certs.ts";
import {
  NODE24,
  type RunningGateway,
  gatewayPrereqs,
  startGateway,
  trustedProxyGateway,
} from "../test/gateway/gateway.ts";
import {
  cleanupStaleNetworks,
  createTestNetwork,
  netnsPrereqs,
  nsExec,
  nsSpawn,
  type TestNetwork,
} from "../test/gateway/netns.ts";
import { lineChart, slope } from "./soak-svg.ts";
import type { HeldRecord } from "./soak-ws.ts";

const REPO = fileURLToPath(new URL("..", import.meta.url));
const GW_PORT = 18789;
const SC_PORT = 8443;
const ADMIN = "127.0.0.1:9477";
const TOKEN = "soak-user-token-0123456789abcdef";
const SECRET = "soak-cookie-secret-0123456789abcdef-0123";
const USER = "alice@example.com";
/** The rotating user of the credential reloads: in the sidecar's tokensFile for a while, then removed. */
const ROTATING_USER = "bob@example.com";
const SAMPLE_MS = 5000;
const LEVELS: Record<string, number> = { warn: 40, error: 50, fatal: 60 };

const argMinutes = process.argv.indexOf("--minutes");
const minutes = argMinutes === -1 ? 30 : Number(process.argv[argMinutes + 1]);
if (!(minutes > 0)) throw new Error("--minutes N: a positive number");
const durationMs = minutes * 60_000;
/**
 * A gateway restart every third of the run, between one and five minutes apart; a certificate rewrite twice as often.
 */
const restartEveryMs = Math.min(300_000, Math.max(60_000, durationMs / 3));
const rewriteEveryMs = Math.min(120_000, Math.max(30_000, durationMs / 6));
const warmupMs = Math.min(300_000, Math.max(60_000, durationMs / 10));
/** A tokensFile change (the rotating user added, or removed) every eighth of the run, 20 s to 1 min apart. */
const credentialEveryMs = Math.min(60_000, Math.max(20_000, durationMs / 8));

const missing = [...netnsPrereqs(), ...gatewayPrereqs()];
if (missing.length > 0) {
  console.error(
    `soak: prerequisites missing:\n  - ${missing.join("\n  - ")}\n  (run: bash scripts/install-prereqs.sh)`,
  );
  process.exit(2);
}

const stamp = new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19);
const out = path.join(REPO, "bench/results", `soak-${stamp}`);
mkdirSync(out, { recursive: true });
const log = (msg: string): void => console.log(`[soak ${((Date.now() - t0) / 1000).toFixed(0).padStart(5)} s] ${msg}`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let t0 = Date.now();
let net: TestNetwork | undefined;
let gateway: RunningGateway | undefined;
let sidecar: ChildProcess | undefined;
let traffic: ChildProcess | undefined;

async function cleanup(): Promise<void> {
  for (const c of [traffic, sidecar]) if (c && c.exitCode === null && c.signalCode === null) c.kill("SIGTERM");
  await sleep(500);
  await gateway?.stop();
  await net?.destroy();
}
process.once("SIGINT", () => void cleanup().then(() => process.exit(130)));

try {
  await cleanupStaleNetworks();
  net = await createTestNetwork();
  const origin = `https://${net.sidecar.ip}:${SC_PORT}`;
  const gatewayConfig = {
    gateway: trustedProxyGateway(GW_PORT, net.sidecar.ip, [USER, ROTATING_USER], {
      controlUi: { allowedOrigins: [origin] },
    }),
  };
  const gatewayHost = net.gateway;
  const clientNs = net.client.ns;
  const startOurGateway = () => startGateway({ host: gatewayHost, port: GW_PORT, config: gatewayConfig });

  // Certificates: one CA for the run (the clients trust it), a fresh server certificate at every rewrite.
  const ca = createTestCa();
  const tlsDir = path.join(out, "tls");
  mkdirSync(tlsDir);
  const certPath = path.join(tlsDir, "cert.pem");
  const keyPath = path.join(tlsDir, "key.pem");
  let generation = 0;
  const rewriteCertificate = (): void => {
    const pair = ca.issue(`sidecar-${generation++}`, `IP:${net?.sidecar.ip}`);
    // As a certificate manager does it: the new files written beside, then renamed over the old ones.
    copyFileSync(pair.key, `${keyPath}.new`);
    copyFileSync(pair.cert, `${certPath}.new`);
    renameSync(`${keyPath}.new`, keyPath);
    renameSync(`${certPath}.new`, certPath);
  };
  rewriteCertificate();

  // The sidecar's tokensFile: the main user is a flag (--token), the rotating user comes and goes in this file.
  const tokensPath = path.join(out, "tokens.json");
  const writeTokens = (text: string): void => {
    writeFileSync(`${tokensPath}.new`, text, { mode: 0o600 });
    renameSync(`${tokensPath}.new`, tokensPath);
  };
  writeTokens("[]\n");

  log(`starting the gateway (openclaw in ${net.gateway.ns})`);
  gateway = await startOurGateway();
  log(`gateway ready in ${gateway.startupMs} ms`);

  const sidecarLog = createWriteStream(path.join(out, "sidecar.log"));
  const counts = {
    requests: {} as Record<string, number>,
    tlsReloads: 0,
    tlsReloadFailures: 0,
    websockets: {} as Record<string, number>,
    errors: 0,
    warnings: 0,
    /** Error lines that were the expected refusal of the bad tokensFile (also in `errors`). */
    refusedLines: 0,
    /** The sidecar's `websocket closed` lines with reasonClass credentials_revoked. */
    revokedLines: 0,
  };
  const reloads: ReloadLine[] = [];
  let pending = "";
  sidecar = nsSpawn(
    net.sidecar.ns,
    NODE24,
    [
      path.join(REPO, "src/cli.ts"),
      "--listen",
      `${net.sidecar.ip}:${SC_PORT}`,
      "--admin-listen",
      ADMIN,
      "--upstream",
      gateway.url,
      "--mode",
      "identity",
      "--token",
      TOKEN,
      "--user",
      USER,
      "--cookie-secret",
      SECRET,
      "--public-origin",
      origin,
      "--tls-cert",
      certPath,
      "--tls-key",
      keyPath,
      "--tokens-file",
      tokensPath,
    ],
    { env: { PATH: process.env.PATH ?? "" }, stdio: ["ignore", "pipe", "pipe"] },
  );
  const listening = new Promise<void>((resolve, reject) => {
    sidecar?.once("exit", (code) => reject(new Error(`the sidecar exited ${code}`)));
    sidecar?.stdout?.on("data", (d: Buffer) => {
      sidecarLog.write(d);
      pending += d.toString();
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        if (line.includes('"openclaw-sidecar listening"')) resolve();
        let entry: {
          kind?: string;
          status?: number;
          msg?: string;
          level?: number | string;
          code?: number;
          result?: string;
          trigger?: string;
          reasonClass?: string;
          added?: number;
          removed?: number;
          closedWebSockets?: number;
          problem?: string;
        };
        try {
          entry = JSON.parse(line) as typeof entry;
        } catch {
          continue;
        }
        if (entry.kind === "http" && entry.status !== undefined)
          counts.requests[entry.status] = (counts.requests[entry.status] ?? 0) + 1;
        if (entry.kind === "websocket")
          counts.websockets[`${entry.result ?? ""} ${entry.code ?? ""}`.trim()] =
            (counts.websockets[`${entry.result ?? ""} ${entry.code ?? ""}`.trim()] ?? 0) + 1;
        if (entry.kind === "websocket" && entry.reasonClass === "credentials_revoked") counts.revokedLines++;
        if (entry.kind === "reload" && entry.trigger !== undefined && entry.msg !== undefined) {
          const ok = !entry.msg.startsWith("credential reload refused");
          if (!ok) counts.refusedLines++;
          if (ok === entry.msg.startsWith("credentials reloaded"))
            reloads.push({
              at: Date.now(),
              trigger: entry.trigger,
              ok,
              added: entry.added ?? 0,
              removed: entry.removed ?? 0,
              closed: entry.closedWebSockets ?? 0,
              problem: entry.problem ?? "",
            });
        }
        if (entry.msg === "TLS certificate reloaded") counts.tlsReloads++;
        if (entry.msg?.startsWith("TLS certificate reload failed")) counts.tlsReloadFailures++;
        // The log writes level labels ("warn", "error"); a number is counted too.
        const level = typeof entry.level === "number" ? entry.level : (LEVELS[entry.level ?? ""] ?? 0);
        if (level >= 50) counts.errors++;
        else if (level === 40) counts.warnings++;
      }
    });
    sidecar?.stderr?.on("data", (d: Buffer) => sidecarLog.write(d));
  });
  await listening;
  const pid = sidecar.pid as number;
  log(`sidecar pid ${pid} listening on ${origin}`);

  // Samples from /proc: VmRSS and the number of open descriptors.
  t0 = Date.now();
  const samples: Array<{ t: number; rssKiB: number; fds: number }> = [];
  const sample = (): void => {
    try {
      const rss = Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
      samples.push({ t: (Date.now() - t0) / 1000, rssKiB: rss, fds: readdirSync(`/proc/${pid}/fd`).length });
    } catch {
      // the sidecar is gone: the report will say so
    }
  };
  sample();
  const sampler = setInterval(sample, SAMPLE_MS);

  const untilMs = t0 + durationMs;
  let trafficOut = "";
  traffic = nsSpawn(
    net.client.ns,
    NODE24,
    [path.join(REPO, "bench/soak-traffic.ts"), JSON.stringify({ base: origin, token: TOKEN, untilMs })],
    {
      env: { PATH: process.env.PATH ?? "", NODE_EXTRA_CA_CERTS: ca.caCert },
      stdio: ["pipe", "pipe", "pipe"],
    },
  );
  traffic.stdout?.on("data", (d: Buffer) => (trafficOut += d.toString()));
  traffic.stdin?.on("error", () => {}); // it ended early: the report says so
  traffic.stderr?.on("data", (d: Buffer) => process.stderr.write(`[traffic] ${d.toString()}`));
  const trafficExited = new Promise<number | null>((r) => traffic?.once("exit", (code) => r(code)));
  log(
    `traffic from ${net.client.ip} for ${minutes} min; gateway restart every ${restartEveryMs / 1000} s, certificate rewrite every ${rewriteEveryMs / 1000} s, tokensFile change every ${credentialEveryMs / 1000} s`,
  );

  // Credential reloads, on their own schedule (a gateway restart takes the faults loop below 20 s or more).
  const steps: CredentialStep[] = [];
  let rotatingToken = "";
  let credentialError: string | undefined;
  /** When the gateway was last ready (undefined while it restarts), and whether a removal is under way (no restart). */
  let gatewayUpSince: number | undefined = Date.now();
  let removing = false;
  /** The next reload line the sidecar logs from index `from` on whose trigger matches; undefined after 10 s. */
  const reloadLine = async (from: number, trigger: "SIGHUP" | "file"): Promise<ReloadLine | undefined> => {
    for (const until = Date.now() + 10_000; Date.now() < until; await sleep(50)) {
      const hit = reloads
        .slice(from)
        .find((r) => (trigger === "SIGHUP" ? r.trigger === "SIGHUP" : r.trigger.startsWith("file")));
      if (hit) return hit;
    }
    return undefined;
  };
  /** `GET /health` with a Bearer from the client namespace: the status, or what went wrong. */
  const probe = async (token: string): Promise<string> => {
    const r = await nsExec(
      clientNs,
      "curl",
      [
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-m",
        "5",
        "--cacert",
        ca.caCert,
        "-H",
        `authorization: Bearer ${token}`,
        `${origin}/health`,
      ],
      { timeoutMs: 10_000 },
    );
    return r.stdout.trim() || `curl exit ${r.code}`;
  };
  const tell = (msg: unknown): void => void traffic?.stdin?.write(`${JSON.stringify(msg)}\n`);
  /** One tokensFile change: written, then SIGHUP or nothing (the watch), then the sidecar's log line awaited. */
  const change = async (
    action: CredentialStep["action"],
    trigger: "SIGHUP" | "file",
    text: string,
    generation: number,
    token: string,
  ): Promise<void> => {
    const from = reloads.length;
    const at = Date.now();
    writeTokens(text);
    if (trigger === "SIGHUP") process.kill(pid, "SIGHUP");
    const line = await reloadLine(from, trigger);
    const expect = action === "remove" ? "401" : "200";
    const probed = await probe(token);
    steps.push({ at, action, trigger, generation, line, probe: probed, expect });
    log(
      `tokensFile: ${action} (generation ${generation}) by ${trigger}: ${line === undefined ? "**no reload logged**" : line.ok ? `reloaded, ${line.added} added, ${line.removed} removed, ${line.closed} WebSocket(s) closed` : `refused (${line.problem})`}; a Bearer of it now gets ${probed}`,
    );
  };
  const credentialsDone = (async () => {
    const sleepUntil = (at: number) => sleep(Math.max(0, at - Date.now()));
    const entry = (token: string) => `${JSON.stringify([{ user: ROTATING_USER, token }], null, 1)}\n`;
    let at = t0 + credentialEveryMs / 2;
    for (let i = 0; at < untilMs - 15_000; i++, at += credentialEveryMs) {
      await sleepUntil(at);
      // SIGHUP and the watch take turns so that each adds and removes: SIGHUP, file, file, SIGHUP, SIGHUP, …
      const trigger = ((i >> 1) ^ i) & 1 ? "file" : "SIGHUP";
      const generation = (i >> 1) + 1;
      const token = `soak-rotating-${generation}-${randomBytes(12).toString("hex")}`;
      if (i % 2 === 0) {
        await change("add", trigger, entry(token), generation, token);
        rotatingToken = token;
        tell({ rotating: { user: ROTATING_USER, token, generation } });
      } else {
        // Not while the gateway restarts (its restart closes the user's WebSockets): the removal waits until it has
        // been up 5 s (the user's held WebSockets reconnect a second after a refusal), half a step at most, and the
        // next restart waits for the removal.
        for (const until = Date.now() + credentialEveryMs / 2; Date.now() < until; await sleep(250))
          if (gatewayUpSince !== undefined && Date.now() - gatewayUpSince >= 5000) break;
        removing = true;
        // Its clients stop starting anything first (what is open stays open), so that nothing of it races the removal.
        tell({ rotating: null });
        await sleep(1500);
        await change("remove", trigger, "[]\n", generation, rotatingToken).finally(() => (removing = false));
      }
      if (i === 0) {
        // Once per run, while the rotating user is in: a bad file (refused, nothing changes), then the good one again.
        await sleepUntil(at + credentialEveryMs / 3);
        await change("bad file", "file", `${entry(token).slice(0, 20)}\n`, generation, token);
        await sleepUntil(at + (2 * credentialEveryMs) / 3);
        await change("restore", "file", entry(token), generation, token);
      }
    }
  })().catch((err: unknown) => {
    credentialError = String(err);
    log(`credential reloads stopped: ${credentialError}`);
  });

  // Faults, on schedule until the deadline.
  const downWindows: Array<[number, number]> = [];
  const rewrites: number[] = [];
  let nextRestart = t0 + restartEveryMs;
  let nextRewrite = t0 + rewriteEveryMs;
  while (Date.now() < untilMs - 5000) {
    if (Date.now() >= nextRewrite) {
      rewriteCertificate();
      rewrites.push((Date.now() - t0) / 1000);
      log(`certificate files rewritten (generation ${generation - 1})`);
      nextRewrite += rewriteEveryMs;
    }
    if (Date.now() >= nextRestart && Date.now() < untilMs - 60_000 && !removing) {
      const down = (Date.now() - t0) / 1000;
      log("gateway: stop");
      gatewayUpSince = undefined;
      await gateway.stop();
      gateway = await startOurGateway();
      gatewayUpSince = Date.now();
      downWindows.push([down, (Date.now() - t0) / 1000]);
      log(`gateway: ready again after ${(Date.now() - t0) / 1000 - down} s`);
      nextRestart += restartEveryMs;
    }
    await sleep(500);
  }
  await credentialsDone;
  const trafficCode = await Promise.race([
    trafficExited,
    new Promise<"timeout">((r) => setTimeout(() => r("timeout"), Math.max(0, untilMs - Date.now()) + 90_000).unref()),
  ]);
  clearInterval(sampler);
  sample();
  log(`traffic ended (${trafficCode})`);

  const metrics = await nsExec(net.sidecar.ns, "curl", ["-s", "-m", "5", `http://${ADMIN}/metrics`], {
    timeoutMs: 10_000,
  });
  writeFileSync(path.join(out, "metrics.txt"), metrics.stdout);
  const sidecarAlive = sidecar.exitCode === null && sidecar.signalCode === null;

  const lastLine = trafficOut.trim().split("\n").pop() ?? "";
  if (!lastLine.startsWith("{")) throw new Error(`the traffic process ended (${trafficCode}) without its tallies`);
  const result = JSON.parse(lastLine) as {
    http: Record<
      string,
      {
        sent: number;
        statuses: Record<string, number>;
        failed: Record<string, number>;
        events: Array<[number, string]>;
      }
    >;
    misbehaving: Record<string, Record<string, number>>;
    held: HeldRecord[];
    cliWs: Record<string, number>;
    assets: number;
    crashes: string[];
  };
  writeFileSync(path.join(out, "traffic.json"), JSON.stringify(result, null, 1));
  writeFileSync(
    path.join(out, "report.md"),
    report({
      samples,
      downWindows,
      rewrites,
      result,
      counts,
      metrics: metrics.stdout,
      sidecarAlive,
      origin,
      credentials: { steps, reloads, error: credentialError },
    }),
  );
  writeFileSync(
    path.join(out, "rss.svg"),
    lineChart(
      "sidecar RSS (shaded: gateway down; dashed: certificate rewritten)",
      { label: "RSS", unit: "MiB", points: samples.map((s) => [s.t, s.rssKiB / 1024]) },
      downWindows,
      rewrites,
    ),
  );
  writeFileSync(
    path.join(out, "fds.svg"),
    lineChart(
      "sidecar open file descriptors",
      { label: "open fds", unit: "count", points: samples.map((s) => [s.t, s.fds]) },
      downWindows,
      rewrites,
    ),
  );
  sidecarLog.end();
  console.log(readFileSync(path.join(out, "report.md"), "utf8"));
  log(`report: ${path.relative(REPO, path.join(out, "report.md"))}`);
} finally {
  await cleanup();
}

/** A `kind: "reload"` line of the sidecar's log, as the soak saw it (`at`: when it was read). */
interface ReloadLine {
  at: number;
  trigger: string;
  ok: boolean;
  added: number;
  removed: number;
  closed: number;
  problem: string;
}

/** One change of the tokensFile: what, how it was signalled, the reload line it got, and a Bearer probe after it. */
interface CredentialStep {
  at: number;
  action: "add" | "remove" | "bad file" | "restore";
  trigger: "SIGHUP" | "file";
  generation: number;
  line: ReloadLine | undefined;
  /** `GET /health` with the rotating user's token of that generation, right after the reload. */
  probe: string;
  expect: string;
}

interface ReportInput {
  samples: Array<{ t: number; rssKiB: number; fds: number }>;
  downWindows: Array<[number, number]>;
  rewrites: number[];
  result: {
    http: Record<
      string,
      {
        sent: number;
        statuses: Record<string, number>;
        failed: Record<string, number>;
        events: Array<[number, string]>;
      }
    >;
    misbehaving: Record<string, Record<string, number>>;
    held: HeldRecord[];
    cliWs: Record<string, number>;
    assets: number;
    crashes: string[];
  };
  counts: {
    requests: Record<string, number>;
    tlsReloads: number;
    tlsReloadFailures: number;
    websockets: Record<string, number>;
    errors: number;
    warnings: number;
    refusedLines: number;
    revokedLines: number;
  };
  metrics: string;
  credentials: { steps: CredentialStep[]; reloads: ReloadLine[]; error: string | undefined };
  sidecarAlive: boolean;
  origin: string;
}

function report(r: ReportInput): string {
  const { samples, downWindows, result } = r;
  const startMs = t0;
  /** Whether `atMs` (epoch) falls in a gateway-down window, with 3 s of slack after it (the sidecar's next try). */
  const whileDown = (atMs: number): boolean =>
    downWindows.some(([a, b]) => atMs >= startMs + a * 1000 - 500 && atMs <= startMs + b * 1000 + 3000);
  const after = samples.filter((s) => s.t * 1000 >= warmupMs);
  const rssSlope = slope(after.map((s) => [s.t / 60, s.rssKiB / 1024])); // MiB per minute
  const fdSlope = slope(after.map((s) => [s.t / 60, s.fds]));
  const first = after[0];
  const last = after.at(-1);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  const rssMedian = median(after.map((s) => s.rssKiB / 1024));
  // Flat: no growth that would add 10% of the level (RSS) or 10 descriptors in an hour; a fall is not a leak.
  const rssFlat = rssSlope * 60 < 0.1 * rssMedian;
  const fdFlat = fdSlope * 60 < 10;
  const lines: string[] = [];
  const p = (s = "") => lines.push(s);
  p(`# Soak ${new Date(startMs).toISOString()}`);
  p();
  p(
    `${((samples.at(-1)?.t ?? 0) / 60).toFixed(1)} min of mixed traffic from the client namespace to the sidecar at ${r.origin} (identity mode, TLS) in front of the real OpenClaw gateway; ${downWindows.length} gateway restart(s), ${r.rewrites.length} certificate rewrite(s). Node ${process.version}, ${readFileSync("/proc/cpuinfo", "utf8").match(/^processor/gm)?.length ?? "?"} cores. The sidecar ${r.sidecarAlive ? "was still running at the end" : "**was not running at the end**"}.`,
  );
  p();
  p("## Memory and descriptors");
  p();
  p(
    `Sampled every ${SAMPLE_MS / 1000} s from /proc/<pid>/status (VmRSS) and /proc/<pid>/fd; warm-up ${warmupMs / 1000} s excluded from the slopes.`,
  );
  p();
  p("| | at warm-up end | at the end | min–max after warm-up | slope after warm-up | flat? |");
  p("| --- | --- | --- | --- | --- | --- |");
  if (first && last) {
    p(
      `| RSS (MiB) | ${(first.rssKiB / 1024).toFixed(1)} | ${(last.rssKiB / 1024).toFixed(1)} | ${(Math.min(...after.map((s) => s.rssKiB)) / 1024).toFixed(1)}–${(Math.max(...after.map((s) => s.rssKiB)) / 1024).toFixed(1)} | ${rssSlope >= 0 ? "+" : ""}${rssSlope.toFixed(3)} MiB/min | ${rssFlat ? "yes" : "**no**"} (an hour at this slope: ${(rssSlope * 60).toFixed(1)} MiB) |`,
    );
    p(
      `| open fds | ${first.fds} | ${last.fds} | ${Math.min(...after.map((s) => s.fds))}–${Math.max(...after.map((s) => s.fds))} | ${fdSlope >= 0 ? "+" : ""}${fdSlope.toFixed(3)} /min | ${fdFlat ? "yes" : "**no**"} |`,
    );
  }
  p();
  p("![RSS over time](rss.svg)");
  p();
  p("![open descriptors over time](fds.svg)");
  p();
  p("## Faults");
  p();
  p(
    `Gateway down (stop → ready again), seconds since start: ${downWindows.map(([a, b]) => `${a.toFixed(0)}–${b.toFixed(0)}`).join(", ") || "none"}.`,
  );
  p(
    `Certificate files rewritten at ${r.rewrites.map((t) => t.toFixed(0)).join(", ") || "never"} s; the sidecar logged ${r.counts.tlsReloads} reload(s) and ${r.counts.tlsReloadFailures} failed reload(s).`,
  );
  p(
    `The sidecar's tokensFile was changed ${r.credentials.steps.length} time(s): see [Credential reloads](#credential-reloads).`,
  );
  p();
  p("## HTTP: nothing lost");
  p();
  p(
    "Sent = requests the clients started; answered = an HTTP status came back (any); failed = no answer (by reason). Non-2xx/3xx answers are split by whether they came while the gateway was down.",
  );
  p();
  p(
    "| kind | sent | answered | 2xx/3xx | 4xx/5xx while the gateway was down | 4xx/5xx otherwise | failed (no answer) |",
  );
  p("| --- | --- | --- | --- | --- | --- | --- |");
  let totalSent = 0;
  let totalAnswered = 0;
  let totalLost = 0;
  for (const [kind, t] of Object.entries(result.http ?? {})) {
    const answered = Object.values(t.statuses).reduce((a, b) => a + b, 0);
    const good = Object.entries(t.statuses)
      .filter(([s]) => Number(s) < 400)
      .reduce((a, [, n]) => a + n, 0);
    const badEvents = t.events.filter(([, what]) => /^\d{3}$/.test(what));
    const badDown = badEvents.filter(([at]) => whileDown(at));
    const badOther = badEvents.filter(([at]) => !whileDown(at));
    const failed =
      Object.entries(t.failed)
        .map(([why, n]) => `${n} ${why}`)
        .join(", ") || "0";
    const describe = (evs: Array<[number, string]>) => {
      const by: Record<string, number> = {};
      for (const [, s] of evs) by[s] = (by[s] ?? 0) + 1;
      return evs.length === 0
        ? "0"
        : `${evs.length} (${Object.entries(by)
            .map(([s, n]) => `${n}×${s}`)
            .join(", ")})`;
    };
    p(`| ${kind} | ${t.sent} | ${answered} | ${good} | ${describe(badDown)} | ${describe(badOther)} | ${failed} |`);
    totalSent += t.sent;
    totalAnswered += answered;
    totalLost += t.sent - answered;
  }
  p(`| **all** | **${totalSent}** | **${totalAnswered}** | | | | **${totalLost}** |`);
  p();
  p(
    "The gateway has no upload route: `upload` (1 MiB POST with a Bearer) is answered with the gateway's own 404 (the sidecar relays the body; what the gateway does with it is its own).",
  );
  p();
  const m = result.misbehaving ?? {};
  p("Misbehaving clients (their failures are theirs; what matters is that the sidecar and everyone else carry on):");
  p();
  p(
    `- slow readers (4 KiB per 50 ms): ${m.slowReader?.runs} runs, ${m.slowReader?.completed} read a whole 200 answer, ${m.slowReader?.answered502} got a 502 (gateway down), ${m.slowReader?.failed} neither`,
  );
  p(
    `- reset mid-request (half of a 1 MiB upload, then RST): ${m.resetMidRequest?.runs}; reset mid-response (RST after the first bytes of an asset): ${m.resetMidResponse?.runs}`,
  );
  p(
    `- pipelined (3 requests in one write): ${m.pipelined?.runs} runs, ${m.pipelined?.answered} of ${m.pipelined?.requests} requests answered`,
  );
  p();
  p("## WebSockets");
  p();
  const held = result.held ?? [];
  const end = startMs + durationMs;
  const classify = (h: HeldRecord): string => {
    if (h.closedAt >= end - 1000 && h.closeCode === 1000) return "the soak ended (client's 1000)";
    if (h.closeCode === 1008 && h.closeReason === REVOKED_REASON) return "its credential was removed (reload)";
    if (whileDown(h.closedAt)) return "the gateway went away";
    return "**other**";
  };
  const table = new Map<string, number>();
  for (const h of held) {
    const key = `| ${h.user === "main" ? USER : h.user} | ${h.closeCode ?? "—"} | ${h.handshake} | ${classify(h)} |`;
    table.set(key, (table.get(key) ?? 0) + 1);
  }
  p(
    `${held.length} held WebSockets (6 slots of ${USER}, each reconnecting a second after a close, and 2 of the rotating user while it is in; a \`health\` request every 3 s): ${held.reduce((a, h) => a + h.requests, 0)} requests, ${held.reduce((a, h) => a + h.answers, 0)} answers. Close codes the clients saw:`,
  );
  p();
  p("| user | close code | handshake | when | count |");
  p("| --- | --- | --- | --- | --- |");
  for (const [key, n] of [...table].sort()) p(`${key} ${n} |`);
  p();
  const reasons = [
    ...new Set(
      held
        .filter((h) => classify(h) !== "the soak ended (client's 1000)")
        .map((h) => `${h.closeCode} ${h.closeReason ?? ""}`.replace(/\(requestId: [^)]*\)/, "(requestId: …)").trim()),
    ),
  ].slice(0, 12);
  if (reasons.length > 0) p(`Close reasons seen: ${reasons.map((x) => `\`${x}\``).join(", ")}.`);
  p();
  p(
    `Short WebSocket connects (test/gateway/protocol-client.ts: Bearer, connect, hello-ok, close): ${Object.entries(
      result.cliWs ?? {},
    )
      .map(([k, n]) => `${n} ${k}`)
      .join(", ")}.`,
  );
  p();
  if ((result.crashes ?? []).length > 0)
    p(`Client-side exceptions (the soak's own code): ${result.crashes.map((c) => `\`${c}\``).join(", ")}.`);
  p();
  credentialSection(r, whileDown, end, p);
  p("## Errors by kind (the sidecar's view)");
  p();
  p(
    `Access log statuses: ${Object.entries(r.counts.requests)
      .map(([s, n]) => `${n}×${s}`)
      .join(
        ", ",
      )}. Log lines at warn: ${r.counts.warnings}, error: ${r.counts.errors} (of them ${r.counts.refusedLines} the refused bad tokensFile's).`,
  );
  p();
  p("| metric | labels | value |");
  p("| --- | --- | --- |");
  for (const line of r.metrics.split("\n")) {
    const mm =
      /^openclaw_sidecar_(upstream_errors_total|client_errors_total|auth_failures_total|websocket_closes_total|websocket_upgrades_total|connections_refused_total|credential_reloads_total)(?:\{([^}]*)\})? (\S+)$/.exec(
        line,
      );
    if (mm && Number(mm[3]) > 0) p(`| ${mm[1]} | ${mm[2] ?? ""} | ${mm[3]} |`);
  }
  p();
  return `${lines.join("\n")}\n`;
}

/**
 * "Credential reloads": what each tokensFile change got, and per-socket bookkeeping — every held WebSocket carries its
 * user, generation, open and close times and close code — to show that the 1008 closes are exactly the removed
 * user's and that no other WebSocket closed at a reload.
 */
function credentialSection(
  r: ReportInput,
  whileDown: (atMs: number) => boolean,
  end: number,
  p: (s?: string) => void,
): void {
  const { steps, reloads, error } = r.credentials;
  const held = r.result.held ?? [];
  const at = (ms: number) => ((ms - t0) / 1000).toFixed(0);
  const revoked = (h: HeldRecord) => h.closeCode === 1008 && h.closeReason === REVOKED_REASON;
  const metric = (result: string) =>
    new RegExp(`^openclaw_sidecar_credential_reloads_total\\{result="${result}"\\} (\\S+)$`, "m").exec(
      r.metrics,
    )?.[1] ?? "?";
  const ok = reloads.filter((x) => x.ok);
  const byTrigger = (xs: ReloadLine[]) =>
    `${xs.filter((x) => x.trigger === "SIGHUP").length} by SIGHUP, ${xs.filter((x) => x.trigger.startsWith("file")).length} by the file watch`;
  p("## Credential reloads");
  p();
  p(
    `The main user (${USER}) is a flag; the sidecar's tokensFile holds the rotating user ${ROTATING_USER} (a fresh token each generation) or nothing. Every ${credentialEveryMs / 1000} s the file is rewritten (new file renamed over the old): the user added, then removed; SIGHUP and the file watch take turns. While it is in, its Bearer calls \`GET /health\` every second (HTTP row \`rotating\`) and holds two WebSockets; just before its removal its clients stop starting anything new (what is open stays open). Once per run, while it is in, the file is replaced by a bad one (cut JSON) and ten-odd seconds later restored. After each change a Bearer probe (\`GET /health\`, curl from the client namespace) with that generation's token.`,
  );
  p();
  p(
    `Reloads: metric \`credential_reloads_total\` ok ${metric("ok")}, refused ${metric("refused")}; the log: ${ok.length} ok (${byTrigger(ok)}), ${reloads.length - ok.length} refused (${byTrigger(reloads.filter((x) => !x.ok))}). A SIGHUP step's file change is seen by the watch a second later too: a second reload that changes nothing (${ok.filter((x) => x.trigger.startsWith("file") && x.added === 0 && x.removed === 0).length} ok reloads by the watch added and removed nothing, the restore's among them).${error !== undefined ? ` **The schedule stopped: ${error}.**` : ""}`,
  );
  p();
  p("| at (s) | change | trigger | the sidecar's reload line | probe after it | as expected |");
  p("| --- | --- | --- | --- | --- | --- |");
  let stepsOk = 0;
  for (const st of steps) {
    const line = st.line;
    const logged =
      line === undefined
        ? "**none within 10 s**"
        : line.ok
          ? `ok: +${line.added} −${line.removed}, ${line.closed} WebSocket(s) closed`
          : `refused: ${line.problem.slice(0, 80)}`;
    const lineOk =
      line !== undefined &&
      (st.action === "bad file"
        ? !line.ok
        : line.ok &&
          line.added === (st.action === "add" ? 1 : 0) &&
          line.removed === (st.action === "remove" ? 1 : 0) &&
          (st.action === "remove" || line.closed === 0));
    const probeOk = st.probe === st.expect || (st.expect === "200" && /^50[23]$/.test(st.probe) && whileDown(st.at));
    if (lineOk && probeOk) stepsOk++;
    p(
      `| ${at(st.at)} | ${st.action} (generation ${st.generation}) | ${st.trigger} | ${logged} | ${st.probe} (expected ${st.expect}) | ${lineOk && probeOk ? "yes" : "**no**"} |`,
    );
  }
  p();
  // Per removal: the rotating user's WebSockets of that generation still open when the file was written.
  p(
    "Per removal, the rotating user's WebSockets of that generation still open when the file was written (client-side records), and how they ended:",
  );
  p();
  p(
    "| at (s) | generation | open at the removal | closed 1008 revoked by it | the sidecar's count | seconds to close |",
  );
  p("| --- | --- | --- | --- | --- | --- |");
  const expected = new Set<HeldRecord>();
  for (const st of steps.filter((x) => x.action === "remove")) {
    const appliedAt = st.line?.at ?? st.at;
    const open = held.filter(
      (h) => h.user === ROTATING_USER && h.generation === st.generation && h.openedAt <= st.at && h.closedAt >= st.at,
    );
    const closed = open.filter((h) => revoked(h) && h.closedAt <= appliedAt + 5000);
    for (const h of closed) expected.add(h);
    const lag = closed.map((h) => (h.closedAt - st.at) / 1000);
    p(
      `| ${at(st.at)} | ${st.generation} | ${open.length} | ${closed.length} | ${st.line?.closed ?? "—"} | ${lag.length > 0 ? `${Math.min(...lag).toFixed(1)}–${Math.max(...lag).toFixed(1)}` : "—"} |`,
    );
  }
  p();
  const allRevoked = held.filter(revoked);
  const wrong = allRevoked.filter((h) => !expected.has(h));
  const missed = steps
    .filter((x) => x.action === "remove")
    .flatMap((st) =>
      held.filter(
        (h) =>
          h.user === ROTATING_USER &&
          h.generation === st.generation &&
          h.openedAt <= st.at &&
          h.closedAt >= st.at &&
          !expected.has(h),
      ),
    );
  // Every other socket open across a reload: none may close within 2 s after it (unless the gateway was going away
  // then, or the soak ended).
  let pairs = 0;
  const closedAtReload: string[] = [];
  for (const line of reloads) {
    for (const h of held) {
      if (expected.has(h) || h.openedAt >= line.at || h.closedAt < line.at - 1000) continue;
      pairs++;
      const soakEnd = h.closedAt >= end - 1000 && h.closeCode === 1000;
      if (h.closedAt <= line.at + 2000 && !whileDown(h.closedAt) && !soakEnd)
        closedAtReload.push(`${h.user} generation ${h.generation} closed ${h.closeCode} at ${at(h.closedAt)} s`);
    }
  }
  const exact = wrong.length === 0 && missed.length === 0 && closedAtReload.length === 0;
  p(
    `WebSockets the clients saw closed with 1008 \`${REVOKED_REASON}\`: ${allRevoked.length}; the sidecar logged ${r.counts.revokedLines} \`credentials_revoked\` closes. Exactly the removed user's: ${exact ? "**yes**" : "**no**"} — ${wrong.length} revoked that were not the removed generation's, ${missed.length} of the removed generation's open at its removal that did not close with it, and of ${pairs} (WebSocket, reload) pairs where the socket was open at the reload, ${closedAtReload.length} closed within 2 s after it for another reason than the gateway going away or the soak ending${closedAtReload.length > 0 ? ` (${closedAtReload.slice(0, 6).join("; ")})` : ""}. Tokens-file changes as expected (reload line and probe): ${stepsOk} of ${steps.length}.`,
  );
  p();
}
