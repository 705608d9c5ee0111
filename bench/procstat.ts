// What the kernel says a contestant costs: CPU time (utime+stime from /proc/<pid>/stat) and resident memory (VmRSS
// from /proc/<pid>/status), summed over its processes (nginx: master + workers). Linux only.
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";

/** Clock ticks per second for /proc/<pid>/stat (100 on every common Linux build; asked once). */
const CLK_TCK = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** Fields after the command name, which is in parentheses and may itself contain spaces or parentheses. */
function statFields(pid: number): string[] {
  const text = readFileSync(`/proc/${pid}/stat`, "utf8");
  return text.slice(text.lastIndexOf(")") + 2).split(" ");
}

export interface CpuTimes {
  user: number;
  system: number;
}

/**
 * utime and stime in seconds; fields 14 and 15 of stat(5), i.e. indexes 11 and 12 after the name. Kept apart because
 * they say different things: system time is the kernel's socket work (about the same for any proxy doing the same
 * syscalls), user time is what the proxy's own code costs.
 */
export function cpuTimes(pids: readonly number[]): CpuTimes {
  let user = 0;
  let system = 0;
  for (const pid of pids) {
    const f = statFields(pid);
    user += Number(f[11]);
    system += Number(f[12]);
  }
  return { user: user / CLK_TCK, system: system / CLK_TCK };
}

/** Resident set size in KiB, summed. */
export function rssKiB(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    total += match ? Number(match[1]) : 0;
  }
  return total;
}

/** The soft RLIMIT_NOFILE of a process: a proxy holds two descriptors per WebSocket, so this caps what it can hold. */
export function nofileLimit(pid: number): number {
  const match = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync(`/proc/${pid}/limits`, "utf8"));
  return match?.[1] === undefined || match[1] === "unlimited" ? Infinity : Number(match[1]);
}

/** The process and its direct children (nginx's workers), found by scanning /proc for the parent pid. */
export function withChildren(pid: number): number[] {
  const pids = [pid];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (Number(statFields(Number(entry))[1]) === pid) pids.push(Number(entry));
    } catch {
      // the process exited while we looked
    }
  }
  return pids;
}

export function machineInfo(): { nproc: number; cpu: string; memGiB: number; kernel: string } {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const meminfo = readFileSync("/proc/meminfo", "utf8");
  return {
    nproc: Number(execFileSync("nproc", { encoding: "utf8" }).trim()),
    cpu: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? "unknown",
    memGiB: Math.round(Number(/^MemTotal:\s+(\d+)/m.exec(meminfo)?.[1] ?? 0) / 1024 / 1024),
    kernel: readFileSync("/proc/sys/kernel/osrelease", "utf8").trim(),
  };
}
