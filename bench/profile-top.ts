// `node bench/profile-top.ts <file.cpuprofile> [N]`: the N frames with the most self time in a V8 CPU profile
// (written by `node --cpu-prof`, e.g. `npm run bench -- --only sidecar --cpu-prof`), grouped by function and file.
import { readFileSync } from "node:fs";
import path from "node:path";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [file, topArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write("usage: node bench/profile-top.ts <file.cpuprofile> [N]\n");
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
// Self time per node from the sample stream (timeDeltas[i] is the time before sample i, in µs).
const selfUs = new Map<string, number>();
// Also by origin: the sidecar's own files, each package in node_modules, node's internals, native code.
const byOrigin = new Map<string, number>();
let totalUs = 0;
profile.samples.forEach((id, i) => {
  const node = byId.get(id);
  const dt = profile.timeDeltas[i] ?? 0;
  totalUs += dt;
  if (!node) return;
  const { functionName, url, lineNumber } = node.callFrame;
  const where = url
    ? `${url.includes("node_modules") ? url.slice(url.lastIndexOf("node_modules/") + 13) : path.basename(url)}:${lineNumber + 1}`
    : "(native)";
  const key = `${functionName || "(anonymous)"}  ${where}`;
  selfUs.set(key, (selfUs.get(key) ?? 0) + dt);
  const origin = !url
    ? "(native, GC, idle)"
    : url.includes("node_modules/")
      ? (url.slice(url.lastIndexOf("node_modules/") + 13).split("/")[0] ?? url)
      : url.startsWith("node:") || !url.includes("/")
        ? "node internals"
        : `src/${path.basename(url)}`;
  byOrigin.set(origin, (byOrigin.get(origin) ?? 0) + dt);
});
const rows = [...selfUs.entries()].sort((a, b) => b[1] - a[1]).slice(0, Number(topArg ?? 30));
process.stdout.write(`total ${(totalUs / 1e6).toFixed(2)} s sampled\n`);
process.stdout.write("by origin:\n");
for (const [key, us] of [...byOrigin.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12))
  process.stdout.write(
    `${((us / totalUs) * 100).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${key}\n`,
  );
process.stdout.write("top frames by self time:\n");
for (const [key, us] of rows)
  process.stdout.write(
    `${((us / totalUs) * 100).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${key}\n`,
  );
