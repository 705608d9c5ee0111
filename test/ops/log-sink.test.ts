// The log sink: batching, ordering, exit flush, and what happens when nobody reads stdout.
import { spawn } from "node:child_process";
import { mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LogSink } from "../../src/ops/log-sink.ts";
import { eventually } from "../helpers/net.ts";

const dir = mkdtempSync(path.join(tmpdir(), "log-sink-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const line = (i: number) => `{"i":${i},"pad":"${"x".repeat(80)}"}\n`;

describe("LogSink", () => {
  it("holds lines until flushAt, then writes them in order in few writes", async () => {
    const file = path.join(dir, "batch.log");
    const sink = new LogSink(openSync(file, "w"), { flushAt: 4096 });
    for (let i = 0; i < 10; i++) sink.write(line(i));
    await new Promise((r) => setTimeout(r, 50));
    expect(readFileSync(file, "utf8")).toBe(""); // below flushAt: nothing written yet
    for (let i = 10; i < 1000; i++) sink.write(line(i));
    sink.flush();
    const expected = Array.from({ length: 1000 }, (_, i) => line(i)).join("");
    await eventually(() => readFileSync(file, "utf8").length === expected.length, 5000, "all lines written");
    expect(readFileSync(file, "utf8")).toBe(expected);
  });

  it("flushSync writes what is buffered before returning (process exit)", () => {
    const file = path.join(dir, "sync.log");
    const sink = new LogSink(openSync(file, "w"), { flushAt: 1 << 20 });
    sink.write(line(1));
    sink.write(line(2));
    sink.flushSync();
    expect(readFileSync(file, "utf8")).toBe(line(1) + line(2));
  });

  it("a stalled stdout: memory stays bounded, newer lines are dropped and the drop is reported once writing resumes", async () => {
    // A child writes 40,000 lines (~3.6 MiB) through a sink bounded at 256 KiB into a pipe we do not read for a while.
    const script = `
      import { LogSink } from ${JSON.stringify(path.resolve("src/ops/log-sink.ts"))};
      const sink = new LogSink(1, { flushAt: 32 * 1024, maxBuffered: 256 * 1024 });
      const line = (i) => JSON.stringify({ i, pad: "x".repeat(80) }) + "\\n";
      let i = 0;
      const burst = () => {
        for (let n = 0; n < 2000 && i < 40000; n++) sink.write(line(i++));
        if (i < 40000) setImmediate(burst);
        else setTimeout(() => { sink.flush(); setTimeout(() => { sink.flushSync(); process.stderr.write("dropped " + sink.droppedTotal + "\\n"); }, 500); }, 800);
      };
      burst();
    `;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdout.pause();
    await new Promise((r) => setTimeout(r, 600)); // the pipe (64 KiB) fills; the sink must not block or grow
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stdout.resume();
    const code = await new Promise<number | null>((r) => child.on("exit", r));
    expect(code, stderr).toBe(0);
    const dropped = Number(/dropped (\d+)/.exec(stderr)?.[1]);
    const lines = out
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { i?: number; droppedLines?: number });
    const kept = lines.filter((l) => l.i !== undefined);
    const reported = lines.reduce((sum, l) => sum + (l.droppedLines ?? 0), 0);
    expect(dropped).toBeGreaterThan(0); // the stall was long enough to overflow 256 KiB
    expect(kept.length + dropped).toBe(40000); // every line is either written or counted
    expect(reported).toBe(dropped); // …and the count reached the log itself
    // Kept lines stay in order.
    for (let k = 1; k < kept.length; k++) expect((kept[k]?.i ?? 0) > (kept[k - 1]?.i ?? 0)).toBe(true);
  }, 20_000);
});
