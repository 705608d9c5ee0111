// `node bench/syscalls.ts [--only sidecar,tcp-relay,caddy,haproxy] [--tests http_1m,http_post_64k] [--duration S]`
// What a proxy asks of the kernel per operation, and where a Node proxy's user time goes. For each contestant and
// test, a fresh proxy process, then:
//   1. a warm-up window (wrk, the test's own load);
//   2. a clean window: proxy CPU (user, system) per op, minor page faults per op and context switches per op, from
//      /proc (all threads);
//   3. an strace window: `strace -c -f -p <pid>` attached to every thread for the same load, syscall counts per op
//      (strace slows the proxy, so its rates and times are not used; the counts per request are what it is for);
//   4. Node contestants: a second fresh process under --cpu-prof (warm-up and one window of the same load; kept apart
//      so the profiler's sampling signals are in neither the CPU figures nor the syscall counts), summarised with
//      profile-top.ts.
// Prints markdown (per test: a CPU/faults table, a syscalls-per-op table, the top profile frames) and writes it to
// bench/results/syscalls.md. Loopback only; every child is tracked and killed at the end (processes.ts).
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import {
  type Contestant,
  startCaddy,
  startHaproxy,
  startSidecar,
  startTcpRelay,
  startUpstream,
} from "./contestants.ts";
import { killAllNow, stopAll, track } from "./processes.ts";
import { cpuTimes } from "./procstat.ts";
import { runWrk } from "./wrk.ts";

const { values: flags } = parseArgs({
  options: { only: { type: "string" }, tests: { type: "string" }, duration: { type: "string" } },
});
const names = (flags.only ?? "sidecar,tcp-relay,caddy,haproxy").split(",");
const durationS = Number(flags.duration ?? 3);
const RESULTS = path.join(import.meta.dirname, "results");

interface Test {
  id: string;
  title: string;
  path: string;
  connections: number;
  postBytes: number;
}
const TESTS: Test[] = [
  { id: "http_1m", title: "HTTP GET 1 MiB, 10 connections", path: "/1m", connections: 10, postBytes: 0 },
  {
    id: "http_post_64k",
    title: "HTTP POST 64 KiB echo, 10 connections",
    path: "/echo",
    connections: 10,
    postBytes: 64 * 1024,
  },
  { id: "http_1k", title: "HTTP GET 1 KiB, 50 connections", path: "/1k", connections: 50, postBytes: 0 },
];
const tests = TESTS.filter((t) => (flags.tests ?? "http_1m,http_post_64k").split(",").includes(t.id));

function threads(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).map(Number);
}
/** Minor faults (whole process) and context switches (summed over threads). */
function counters(pid: number): { minflt: number; ctxt: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const minflt = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[7]);
  let ctxt = 0;
  for (const tid of threads(pid)) {
    try {
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8");
      ctxt +=
        Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1] ?? 0) +
        Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1] ?? 0);
    } catch {
      // thread gone
    }
  }
  return { minflt, ctxt };
}

interface Row {
  name: string;
  requests: number;
  cpuUs: number;
  userUs: number;
  minflt: number;
  ctxt: number;
  syscalls: Map<string, number>;
  straceRequests: number;
  profile: string;
}

function start(name: string, upstreamPort: number, extraArgs: readonly string[]): Promise<Contestant> {
  if (name === "sidecar" || name === "sidecar-warn")
    return startSidecar(name, upstreamPort, name === "sidecar" ? "info" : "warn", extraArgs);
  if (name === "tcp-relay") return startTcpRelay(upstreamPort, extraArgs);
  if (name === "caddy") return startCaddy(upstreamPort);
  if (name === "haproxy") return startHaproxy(upstreamPort);
  throw new Error(`unknown contestant ${name}`);
}

const load = (c: Contestant, test: Test, s: number) =>
  runWrk({
    url: `${c.base}${test.path}`,
    connections: test.connections,
    threads: 1,
    durationS: s,
    postBytes: test.postBytes,
  });

async function measure(name: string, test: Test, upstreamPort: number): Promise<Row> {
  const dir = mkdtempSync(path.join(tmpdir(), "bench-syscalls-"));
  try {
    // Windows 1–3 on a process without the profiler (its sampling signals would show up as syscalls and CPU).
    const c = await start(name, upstreamPort, []);
    const pid = c.pids[0] as number;
    let row: Row;
    try {
      await load(c, test, 2);
      const t0 = cpuTimes([pid]);
      const k0 = counters(pid);
      const r = await load(c, test, durationS);
      const t1 = cpuTimes([pid]);
      const k1 = counters(pid);
      const out = path.join(dir, "strace.txt");
      const strace = spawn("strace", ["-c", "-f", "-o", out, "-p", String(pid)], {
        stdio: ["ignore", "ignore", "ignore"],
      });
      track(strace);
      await new Promise((res) => setTimeout(res, 500)); // attached to every thread
      const rs = await load(c, test, durationS);
      strace.kill("SIGINT");
      await new Promise((res) => strace.once("exit", res));
      const syscalls = new Map<string, number>();
      for (const line of readFileSync(out, "utf8").split("\n")) {
        const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$/.exec(line);
        if (m && m[2] !== "total") syscalls.set(m[2] as string, Number(m[1]));
      }
      row = {
        name,
        requests: r.requests,
        cpuUs: ((t1.user + t1.system - t0.user - t0.system) / r.requests) * 1e6,
        userUs: ((t1.user - t0.user) / r.requests) * 1e6,
        minflt: (k1.minflt - k0.minflt) / r.requests,
        ctxt: (k1.ctxt - k0.ctxt) / r.requests,
        syscalls,
        straceRequests: rs.requests,
        profile: "",
      };
    } finally {
      await c.stop();
    }
    // Window 4: a fresh Node process under --cpu-prof, warm-up plus one window of the same load.
    if (name === "sidecar" || name === "sidecar-warn" || name === "tcp-relay") {
      const p = await start(name, upstreamPort, ["--cpu-prof", `--cpu-prof-dir=${dir}`]);
      try {
        await load(p, test, 2);
        await load(p, test, durationS);
      } finally {
        await p.stop();
      }
      const file = readdirSync(dir).find((x) => x.endsWith(".cpuprofile"));
      if (file)
        row.profile = execFileSync(
          process.execPath,
          [path.join(import.meta.dirname, "profile-top.ts"), path.join(dir, file), "12"],
          { encoding: "utf8" },
        );
    }
    return row;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const f = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));

async function main(): Promise<void> {
  const upstream = await startUpstream();
  const out: string[] = [
    `## Syscalls and profiles — ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC`,
    "",
    `Fresh process per contestant and test; ${durationS} s clean window, then ${durationS} s under \`strace -c -f\`. Per request (1 MiB GET: per MiB).`,
    "",
  ];
  for (const test of tests) {
    const rows: Row[] = [];
    for (const name of names) {
      process.stderr.write(`[syscalls] ${test.id} ${name}\n`);
      rows.push(await measure(name, test, upstream.port));
    }
    out.push(
      `### ${test.title}`,
      "",
      "| contestant | CPU µs/req | user µs/req | minor faults/req | context switches/req | syscalls/req (under strace) |",
      "| --- | --- | --- | --- | --- | --- |",
    );
    for (const r of rows)
      out.push(
        `| ${r.name} | ${f(r.cpuUs)} | ${f(r.userUs)} | ${f(r.minflt)} | ${f(r.ctxt)} | ${f([...r.syscalls.values()].reduce((a, b) => a + b, 0) / r.straceRequests)} |`,
      );
    const all = [
      ...new Set(
        rows.flatMap((r) => [...r.syscalls.entries()].filter(([, n]) => n / r.straceRequests >= 0.05).map(([k]) => k)),
      ),
    ].sort();
    out.push(
      "",
      `| syscall per request | ${rows.map((r) => r.name).join(" | ")} |`,
      `| --- | ${rows.map(() => "---").join(" | ")} |`,
    );
    for (const sc of all)
      out.push(`| ${sc} | ${rows.map((r) => f((r.syscalls.get(sc) ?? 0) / r.straceRequests)).join(" | ")} |`);
    for (const r of rows)
      if (r.profile) out.push("", `${r.name} --cpu-prof (${test.id}):`, "", "```", r.profile.trimEnd(), "```");
    out.push("");
  }
  const text = `${out.join("\n")}\n`;
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(path.join(RESULTS, "syscalls.md"), text);
  process.stdout.write(text);
  await upstream.stop();
}

main().then(
  async () => {
    await stopAll();
    process.exit(0);
  },
  async (err: Error) => {
    process.stderr.write(`${err.stack}\n`);
    await stopAll();
    killAllNow();
    process.exit(1);
  },
);
