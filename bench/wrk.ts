// Runs wrk once and returns its summary (from wrk-report.lua's JSON line). wrk is C and single-purpose, so the HTTP
// load generator costs the least CPU possible on a machine the proxy shares with it.
import { execFile } from "node:child_process";
import path from "node:path";
import { track } from "./processes.ts";

export const WRK = "wrk";
const SCRIPT = path.join(import.meta.dirname, "wrk-report.lua");

export interface WrkOptions {
  url: string;
  connections: number;
  threads: number;
  durationS: number;
  postBytes?: number;
}
export interface WrkResult {
  requests: number;
  seconds: number;
  bytes: number;
  errors: number;
  non2xx: number;
  p50Us: number;
  p99Us: number;
}

export function runWrk(o: WrkOptions): Promise<WrkResult> {
  const args = [
    "-t",
    String(o.threads),
    "-c",
    String(o.connections),
    "-d",
    `${o.durationS}s`,
    "--timeout",
    "5s",
    "-s",
    SCRIPT,
    o.url,
  ];
  const env = { ...process.env, BENCH_POST_BYTES: String(o.postBytes ?? 0) };
  return new Promise((resolve, reject) => {
    // Bounded: wrk's own duration plus a margin, then killed.
    const child = execFile(
      WRK,
      args,
      { env, timeout: (o.durationS + 15) * 1000, killSignal: "SIGKILL", maxBuffer: 1 << 20 },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`wrk ${args.join(" ")}: ${err.message} ${stderr}`));
        const line = stdout.split("\n").find((l) => l.startsWith("BENCH_JSON "));
        if (!line) return reject(new Error(`wrk printed no summary:\n${stdout}\n${stderr}`));
        const j = JSON.parse(line.slice("BENCH_JSON ".length)) as Omit<WrkResult, "seconds"> & { durationUs: number };
        resolve({
          requests: j.requests,
          seconds: j.durationUs / 1e6,
          bytes: j.bytes,
          errors: j.errors,
          non2xx: j.non2xx,
          p50Us: j.p50Us,
          p99Us: j.p99Us,
        });
      },
    );
    track(child);
  });
}
