// `node bench/ab.ts <before-src-dir> [--rounds N] [--duration S] [--tests http_1m,http_post_64k,http_1k]`
// A before/after comparison of the sidecar's hot path on this noisy shared machine: two sidecars side by side (the
// one from <before-src-dir>, e.g. a copy of src/ from the last commit, and this checkout's), the same wrk load on each
// in alternation for N rounds, and the median proxy CPU µs per request (user and total) of each. Rates are printed
// too, but CPU per request is the figure to compare.
import { parseArgs } from "node:util";
import { type Contestant, startSidecar, startUpstream } from "./contestants.ts";
import { stopAll } from "./processes.ts";
import { cpuTimes } from "./procstat.ts";
import { stat } from "./report.ts";
import { runWrk } from "./wrk.ts";

const { values: flags, positionals } = parseArgs({ allowPositionals: true, options: { rounds: { type: "string" }, duration: { type: "string" }, tests: { type: "string" } } });
const before = positionals[0];
if (!before) throw new Error("usage: node bench/ab.ts <before-src-dir> [--rounds N] [--duration S] [--tests …]");
const rounds = Number(flags.rounds ?? 5);
const durationS = Number(flags.duration ?? 2);
const TESTS = { http_1k: { path: "/1k", connections: 50, postBytes: 0 }, http_1m: { path: "/1m", connections: 10, postBytes: 0 }, http_post_64k: { path: "/echo", connections: 10, postBytes: 65536 } };
const tests = (flags.tests ?? "http_1m,http_post_64k").split(",") as (keyof typeof TESTS)[];

const upstream = await startUpstream();
process.env.BENCH_SIDECAR_SRC = before;
const a = await startSidecar("before", upstream.port, "info");
delete process.env.BENCH_SIDECAR_SRC;
const b = await startSidecar("after", upstream.port, "info");
const results: Record<string, { cpu: number[]; user: number[]; rate: number[] }> = {};
async function once(c: Contestant, test: keyof typeof TESTS): Promise<void> {
  const t = TESTS[test];
  const t0 = cpuTimes(c.pids);
  const r = await runWrk({ url: `${c.base}${t.path}`, connections: t.connections, threads: 1, durationS, postBytes: t.postBytes });
  const t1 = cpuTimes(c.pids);
  const cell = (results[`${test} ${c.name}`] ??= { cpu: [], user: [], rate: [] });
  cell.cpu.push(((t1.user + t1.system - t0.user - t0.system) / r.requests) * 1e6);
  cell.user.push(((t1.user - t0.user) / r.requests) * 1e6);
  cell.rate.push(r.requests / r.seconds);
  if (r.errors + r.non2xx > 0) process.stderr.write(`${test} ${c.name}: ${r.errors} errors, ${r.non2xx} non-2xx\n`);
}
for (const c of [a, b]) for (const test of tests) await runWrk({ url: `${c.base}${TESTS[test].path}`, connections: 10, threads: 1, durationS: 1, postBytes: TESTS[test].postBytes });
for (let round = 0; round < rounds; round++) {
  for (const test of tests) for (const c of round % 2 ? [b, a] : [a, b]) await once(c, test);
}
for (const [key, v] of Object.entries(results)) {
  const [c, u, r] = [stat(v.cpu), stat(v.user), stat(v.rate)];
  process.stdout.write(`${key.padEnd(22)} CPU ${c.median.toFixed(1)} µs/req (${c.min.toFixed(0)}–${c.max.toFixed(0)}), user ${u.median.toFixed(1)}, ${r.median.toFixed(0)} req/s\n`);
}
await stopAll();
process.exit(0);
