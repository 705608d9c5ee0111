// `npm run bench [-- --quick] [--rounds N] [--duration S] [--only a,b] [--floor] [--hold] [--cpu-prof]`
// Starts the upstream, the contestants (direct, nginx as hand-written, nginx tuned, Caddy, HAProxy, the sidecar at
// info and at warn log level, and with --floor the two Node references) and the load generators, all on 127.0.0.1; runs
// every scenario in rounds with the contestant order rotated each round; writes bench/results/latest.{md,json} and
// prints the table. Every child is killed at the end, on an error and on Ctrl-C; a hard deadline ends a run that hangs.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import {
  CADDY,
  type Contestant,
  HAPROXY,
  NGINX,
  direct,
  startCaddy,
  startHaproxy,
  startNginx,
  startNodeFloor,
  startSidecar,
  startTcpRelay,
  startUpstream,
} from "./contestants.ts";
import { CONTROL_UI_ROOT, controlUiAvailable, uiLoadBytes, uiLoadPlan } from "./control-ui.ts";
import { killAllNow, stopAll } from "./processes.ts";
import { machineInfo } from "./procstat.ts";
import { judgeTargets, markdown, summarize } from "./report.ts";
import { type IdleSample, LoadWorker, SCENARIOS, type Sample, UI_CONNECTIONS, measureIdle } from "./scenarios.ts";
import { WRK, runWrk } from "./wrk.ts";

const RESULTS = path.join(import.meta.dirname, "results");
const IDLE_COUNT = 5000;
const HOLD_COUNT = 10_000;
/** The contestant the targets are judged on: metrics on (always), attribution mode, one log line per request. */
const SIDECAR = "sidecar";

const { values: flags } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    rounds: { type: "string" },
    duration: { type: "string" },
    only: { type: "string" },
    hold: { type: "boolean" },
    floor: { type: "boolean" },
    "cpu-prof": { type: "boolean", default: false },
  },
});
const quick = flags.quick === true;
const rounds = bounded(flags.rounds, quick ? 2 : 5, 1, 50, "--rounds");
const durationS = bounded(flags.duration, quick ? 1 : 3, 1, 120, "--duration");
const idleRounds = quick ? 1 : 3;
const hold = flags.hold ?? !quick;
const floor = flags.floor ?? !quick;
const only = flags.only?.split(",");
// A hang must not outlive its welcome: generous, but finite.
const HARD_DEADLINE_MS = (quick ? 240 : 60 * 60) * 1000;

function bounded(raw: string | undefined, fallback: number, min: number, max: number, name: string): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new Error(`${name} must be an integer from ${min} to ${max}, got ${raw}`);
  return n;
}

function controlUiVersion(): string {
  try {
    return (
      JSON.parse(readFileSync(path.join(CONTROL_UI_ROOT, "..", "..", "package.json"), "utf8")) as { version: string }
    ).version;
  } catch {
    return "?";
  }
}

const log = (msg: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

/** First line of a tool's version output, wherever it prints it (nginx -v: stderr; wrk -v: stdout, exit 1). */
function version(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 5000 });
  if (r.error) return "missing";
  return `${r.stdout}${r.stderr}`.trim().split("\n")[0] ?? "";
}

async function main(): Promise<void> {
  if (Number(process.versions.node.split(".")[0]) < 24)
    throw new Error(`Node ${process.versions.node}: run with Node 24 (npm run bench)`);
  if (version(WRK, ["-v"]) === "missing") throw new Error("wrk is not installed");
  const haveNginx = existsSync(NGINX);
  if (!haveNginx) log(`${NGINX} not found: nginx contestants skipped`);
  const haveCaddy = existsSync(CADDY);
  const haveHaproxy = existsSync(HAPROXY);
  if (!haveCaddy) log(`${CADDY} not found: caddy skipped`);
  if (!haveHaproxy) log(`${HAPROXY} not found: haproxy skipped`);
  if (!controlUiAvailable())
    throw new Error(
      "the pinned openclaw package is not in .cache/openclaw: run scripts/install-prereqs.sh (the Control UI scenario needs its assets)",
    );
  const started = new Date();

  const upstream = await startUpstream();
  const load = LoadWorker.start();
  const profArgs = flags["cpu-prof"] ? ["--cpu-prof", `--cpu-prof-dir=${path.join(RESULTS, "profiles")}`] : [];
  const wanted = (name: string) => only === undefined || only.includes(name);
  // Factories, so the idle phase can start each proxy afresh (see measureIdle).
  const factories: { name: string; start: () => Promise<Contestant> }[] = [];
  if (haveNginx && wanted("nginx"))
    factories.push({ name: "nginx", start: () => startNginx("nginx", upstream.port, false) });
  if (haveNginx && wanted("nginx-tuned"))
    factories.push({ name: "nginx-tuned", start: () => startNginx("nginx-tuned", upstream.port, true) });
  if (haveCaddy && wanted("caddy")) factories.push({ name: "caddy", start: () => startCaddy(upstream.port) });
  if (haveHaproxy && wanted("haproxy")) factories.push({ name: "haproxy", start: () => startHaproxy(upstream.port) });
  if (wanted(SIDECAR))
    factories.push({ name: SIDECAR, start: () => startSidecar(SIDECAR, upstream.port, "info", profArgs) });
  if (wanted("sidecar-warn"))
    factories.push({ name: "sidecar-warn", start: () => startSidecar("sidecar-warn", upstream.port, "warn") });
  if (floor && wanted("node-floor")) factories.push({ name: "node-floor", start: () => startNodeFloor(upstream.port) });
  if (floor && wanted("tcp-relay")) factories.push({ name: "tcp-relay", start: () => startTcpRelay(upstream.port) });
  const contestants: Contestant[] = [direct(upstream.port)];
  for (const f of factories) contestants.push(await f.start());
  log(`contestants: ${contestants.map((c) => `${c.name} ${c.base} pids ${c.pids.join(",") || "-"}`).join("; ")}`);

  // Warm-up: V8 compiles the sidecar's hot paths during the first thousands of requests; nginx needs none.
  for (const c of contestants.filter((x) => x.name.startsWith("sidecar"))) {
    await runWrk({ url: `${c.base}/1k`, connections: 50, threads: 1, durationS: 1 });
    await load.run({
      op: "echo",
      url: `${c.base.replace("http:", "ws:")}/ws`,
      conns: 50,
      size: 100,
      durationMs: 500,
      warmupMs: 0,
    });
  }

  const samples: Record<string, Record<string, Sample[]>> = {};
  for (let round = 0; round < rounds; round++) {
    const order = contestants.map((_, i) => contestants[(i + round) % contestants.length] as Contestant);
    log(`round ${round + 1}/${rounds}: ${order.map((c) => c.name).join(" → ")}`);
    for (const sc of SCENARIOS) {
      for (const c of order) {
        const s = await sc.run(c, { durationS, load });
        ((samples[sc.id] ??= {})[c.name] ??= []).push(s);
        if (s.failed > 0) log(`  ${sc.id} ${c.name}: ${s.failed} failed ${JSON.stringify(s.reasons ?? {})}`);
      }
    }
  }

  for (const c of contestants) await c.stop();

  // Idle memory is measured on freshly started proxies: a process that just served the throughput tests has heap
  // and buffer slack that new connections fill without growing RSS, which would flatter whoever has the most slack.
  const idle: Record<string, IdleSample[]> = {};
  const idleFactories = factories.filter(
    (f) => f.name !== "sidecar-warn" && f.name !== "node-floor" && f.name !== "tcp-relay",
  );
  for (let round = 0; round < idleRounds; round++) {
    for (const f of idleFactories.map(
      (_, i) => idleFactories[(i + round) % idleFactories.length] as (typeof factories)[number],
    )) {
      log(`idle ${IDLE_COUNT} WebSockets: ${f.name} (fresh process)`);
      const c = await f.start();
      try {
        const sample = await measureIdle(c, load, IDLE_COUNT);
        if (sample.failed > 0) log(`  idle ${f.name}: ${sample.failed} failed ${JSON.stringify(sample.reasons ?? {})}`);
        (idle[f.name] ??= []).push(sample);
      } finally {
        await c.stop();
      }
    }
  }
  let holdSample: IdleSample | undefined;
  const sidecarFactory = factories.find((f) => f.name === SIDECAR);
  if (hold && sidecarFactory) {
    log(`hold ${HOLD_COUNT} WebSockets: ${SIDECAR} (fresh process)`);
    const c = await sidecarFactory.start();
    try {
      holdSample = await measureIdle(c, load, HOLD_COUNT);
      if (holdSample.failed > 0) log(`  hold: ${holdSample.failed} failed ${JSON.stringify(holdSample.reasons ?? {})}`);
    } finally {
      await c.stop();
    }
  }

  const summary = summarize(SCENARIOS, samples, idle, holdSample);
  const targets = judgeTargets(summary, SIDECAR);
  const machine = machineInfo();
  const versions = {
    node: process.versions.node,
    nginx: haveNginx ? version(NGINX, ["-v"]).replace("nginx version: ", "") : "missing",
    caddy: haveCaddy ? (version(CADDY, ["version"]).split(" ")[0] ?? "") : "missing",
    haproxy: haveHaproxy ? (version(HAPROXY, ["-v"]).split(" ")[2] ?? "") : "missing",
    wrk: version(WRK, ["-v"]).split(" ")[1] ?? "",
  };
  const ui = uiLoadBytes(uiLoadPlan());
  const header = [
    `## Benchmark — ${started.toISOString().slice(0, 16).replace("T", " ")} UTC, ${quick ? "quick" : "full"} mode`,
    "",
    `Machine: ${machine.nproc} × ${machine.cpu}, ${machine.memGiB} GiB, Linux ${machine.kernel}. Node ${versions.node}, nginx ${versions.nginx} (worker_processes 1), Caddy ${versions.caddy} (GOMAXPROCS=1), HAProxy ${versions.haproxy} (nbthread 1, http-reuse safe), wrk ${versions.wrk}.`,
    `Control UI cold load: openclaw ${controlUiVersion()}'s dist/control-ui, ${ui.requests} requests, ${(ui.bytes / 1024 / 1024).toFixed(2)} MiB on the wire (brotli), over ${UI_CONNECTIONS} connections, then one WebSocket upgrade + first message; loads run one after another, p50/p99 are the time of one load.`,
    `${rounds} round(s) × ${durationS} s per test, contestant order rotated each round; idle: ${idleRounds} round(s) of ${IDLE_COUNT.toLocaleString("en-US")}. ` +
      "Everything (upstream, proxy, load generators) shares the same cores: compare ratios and CPU per op, not absolute rates.",
    `sidecar = metrics on, attribution mode, log level info (one JSON line per request, stdout to /dev/null); sidecar-warn = the same without request logs.` +
      (floor
        ? " node-floor = a reference, not a product: node:http + keep-alive agent + pipes (raw relay for WebSockets); tcp-relay = the true Node floor: a raw TCP relay, no HTTP at all (net.Socket pipes, one upstream connection per client connection)."
        : ""),
  ];
  const table = markdown(summary, targets, header);
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(path.join(RESULTS, "latest.md"), table);
  writeFileSync(
    path.join(RESULTS, "latest.json"),
    `${JSON.stringify({ started: started.toISOString(), finished: new Date().toISOString(), mode: quick ? "quick" : "full", rounds, durationS, machine, versions, contestants: contestants.map((c) => c.name), summary, targets, samples, idle }, null, 2)}\n`,
  );
  process.stdout.write(table);
  log(
    `wrote ${path.relative(process.cwd(), path.join(RESULTS, "latest.md"))} and latest.json in ${((Date.now() - started.getTime()) / 1000).toFixed(0)} s`,
  );
  await upstream.stop();
}

let finishing: Promise<never> | undefined;
/** The one way out: stop every child (bounded), then exit. The first caller's exit code wins. */
function finish(code: number): Promise<never> {
  finishing ??= (async () => {
    await Promise.race([stopAll(), new Promise((r) => setTimeout(r, 8000))]);
    killAllNow();
    process.exit(code);
  })();
  return finishing;
}

process.once("SIGINT", () => void finish(130));
process.once("SIGTERM", () => void finish(143));
process.once("exit", killAllNow);
setTimeout(() => {
  log(`hard deadline of ${HARD_DEADLINE_MS / 1000} s reached: stopping`);
  void finish(124);
}, HARD_DEADLINE_MS).unref();

main().then(
  () => finish(0),
  (err: Error) => {
    if (finishing) return finishing; // Ctrl-C or the deadline killed a load tool mid-test: not a failure to report
    log(`failed: ${err.stack ?? err.message}`);
    return finish(1);
  },
);
