// `node bench/ab.ts <before-src-dir> [--rounds N] [--duration S] [--tests http_1m,http_post_64k,ws_echo_64k,…]
// [--idle]` A before/after comparison of the sidecar's hot path on this noisy shared machine: two sidecars side by side
// (the one from <before-src-dir>, e.g. a copy of src/ from the last commit inside this checkout, so node_modules
// resolve, and this checkout's), the bench's own scenarios (scenarios.ts ids) on each in alternation for N rounds, and
// the median proxy CPU µs per op (user and total) of each. Values are printed too, but CPU per op is the figure to
// compare. --idle adds RSS per idle WebSocket, each measured on a freshly started pair.
import { parseArgs } from "node:util";
import { type Contestant, startSidecar, startUpstream } from "./contestants.ts";
import { stopAll } from "./processes.ts";
import { stat } from "./report.ts";
import { LoadWorker, SCENARIOS, type Sample, measureIdle } from "./scenarios.ts";

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: "string" },
    duration: { type: "string" },
    tests: { type: "string" },
    idle: { type: "boolean" },
  },
});
const before = positionals[0];
if (!before)
  throw new Error("usage: node bench/ab.ts <before-src-dir> [--rounds N] [--duration S] [--tests …] [--idle]");
const rounds = Number(flags.rounds ?? 5);
const durationS = Number(flags.duration ?? 2);
const ids = (flags.tests ?? "http_1m,http_post_64k").split(",");
const scenarios = ids.map((id) => {
  const sc = SCENARIOS.find((s) => s.id === id);
  if (!sc) throw new Error(`unknown test ${id}: one of ${SCENARIOS.map((s) => s.id).join(", ")}`);
  return sc;
});

const upstream = await startUpstream();
const load = LoadWorker.start();
const start = async (name: string): Promise<Contestant> => {
  if (name === "before") process.env.BENCH_SIDECAR_SRC = before;
  try {
    return await startSidecar(name, upstream.port, "info");
  } finally {
    delete process.env.BENCH_SIDECAR_SRC;
  }
};
const results: Record<string, { cpu: number[]; user: number[]; value: number[]; unit: string }> = {};
const record = (key: string, unit: string, s: Sample) => {
  const cell = (results[key] ??= { cpu: [], user: [], value: [], unit });
  cell.cpu.push(s.cpuUsPerOp ?? Number.NaN);
  cell.user.push(s.userUsPerOp ?? Number.NaN);
  cell.value.push(s.value);
  if (s.failed > 0) process.stderr.write(`${key}: ${s.failed} failed ${JSON.stringify(s.reasons ?? {})}\n`);
};

if (scenarios.length > 0) {
  const pair = [await start("before"), await start("after")];
  for (const c of pair) for (const sc of scenarios) await sc.run(c, { durationS: 1, load }); // warm-up
  for (let round = 0; round < rounds; round++) {
    for (const sc of scenarios)
      for (const c of round % 2 ? [...pair].reverse() : pair)
        record(`${sc.id} ${c.name}`, sc.unit, await sc.run(c, { durationS, load }));
  }
  for (const c of pair) await c.stop();
}
if (flags.idle) {
  const idle: Record<string, number[]> = {};
  for (let round = 0; round < Math.min(rounds, 3); round++) {
    for (const name of round % 2 ? ["after", "before"] : ["before", "after"]) {
      const c = await start(name);
      (idle[name] ??= []).push((await measureIdle(c, load, 5000)).kibPerConn);
      await c.stop();
    }
  }
  for (const [name, v] of Object.entries(idle))
    process.stdout.write(
      `idle RSS ${name.padEnd(7)} ${stat(v).median.toFixed(2)} KiB per WebSocket (${v.map((x) => x.toFixed(2)).join(", ")})\n`,
    );
}
for (const [key, v] of Object.entries(results)) {
  const [c, u, r] = [stat(v.cpu), stat(v.user), stat(v.value)];
  process.stdout.write(
    `${key.padEnd(24)} CPU ${c.median.toFixed(1)} µs/op (${c.min.toFixed(0)}–${c.max.toFixed(0)}), user ${u.median.toFixed(1)}, ${r.median.toFixed(0)} ${v.unit}\n`,
  );
}
await stopAll();
process.exit(0);
