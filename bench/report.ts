// Turns raw samples into medians with min–max, ratios to direct and to nginx, the issue 6 §2 target verdicts, and a
// markdown table. Pure functions: run.ts does the I/O.
import type { IdleSample, Sample } from "./scenarios.ts";

export interface Stat {
  median: number;
  min: number;
  max: number;
  n: number;
}
export interface Cell {
  value: Stat;
  p50Us?: Stat;
  p99Us?: Stat;
  cpuUsPerOp?: Stat;
  userUsPerOp?: Stat;
  failed: number;
  vsDirect?: number;
  vsNginx?: number;
  vsNginxTuned?: number;
  vsCaddy?: number;
  vsHaproxy?: number;
}
export interface IdleCell {
  kibPerConn: Stat;
  held: number;
  count: number;
  failed: number;
}
export interface Summary {
  scenarios: { id: string; title: string; unit: string; cells: Record<string, Cell> }[];
  idle: Record<string, IdleCell>;
  hold: IdleSample | undefined;
}
export interface Target {
  what: string;
  need: string;
  got: string;
  met: boolean | undefined;
}

export function stat(values: readonly number[]): Stat {
  const s = [...values].sort((a, b) => a - b);
  const n = s.length;
  const median =
    n === 0 ? NaN : n % 2 ? (s[(n - 1) / 2] as number) : ((s[n / 2 - 1] as number) + (s[n / 2] as number)) / 2;
  return { median, min: s[0] ?? NaN, max: s[n - 1] ?? NaN, n };
}

function optionalStat(
  samples: readonly Sample[],
  key: "p50Us" | "p99Us" | "cpuUsPerOp" | "userUsPerOp",
): Stat | undefined {
  const values = samples.map((s) => s[key]).filter((v): v is number => v !== undefined);
  return values.length ? stat(values) : undefined;
}

export function summarize(
  scenarios: readonly { id: string; title: string; unit: string }[],
  samples: Record<string, Record<string, Sample[]>>,
  idle: Record<string, IdleSample[]>,
  hold: IdleSample | undefined,
): Summary {
  const out: Summary = { scenarios: [], idle: {}, hold };
  for (const sc of scenarios) {
    const byContestant = samples[sc.id] ?? {};
    const cells: Record<string, Cell> = {};
    for (const [name, list] of Object.entries(byContestant)) {
      const p50Us = optionalStat(list, "p50Us");
      const p99Us = optionalStat(list, "p99Us");
      const cpuUsPerOp = optionalStat(list, "cpuUsPerOp");
      const userUsPerOp = optionalStat(list, "userUsPerOp");
      cells[name] = {
        value: stat(list.map((s) => s.value)),
        failed: list.reduce((a, s) => a + s.failed, 0),
        ...(p50Us ? { p50Us } : {}),
        ...(p99Us ? { p99Us } : {}),
        ...(cpuUsPerOp ? { cpuUsPerOp } : {}),
        ...(userUsPerOp ? { userUsPerOp } : {}),
      };
    }
    for (const cell of Object.values(cells)) {
      const ratio = (ref: string) => (cells[ref] ? cell.value.median / (cells[ref] as Cell).value.median : undefined);
      const d = ratio("direct");
      const n = ratio("nginx");
      const t = ratio("nginx-tuned");
      const c = ratio("caddy");
      const h = ratio("haproxy");
      if (d !== undefined) cell.vsDirect = d;
      if (n !== undefined) cell.vsNginx = n;
      if (t !== undefined) cell.vsNginxTuned = t;
      if (c !== undefined) cell.vsCaddy = c;
      if (h !== undefined) cell.vsHaproxy = h;
    }
    out.scenarios.push({ ...sc, cells });
  }
  for (const [name, list] of Object.entries(idle)) {
    out.idle[name] = {
      kibPerConn: stat(list.map((s) => s.kibPerConn)),
      held: Math.min(...list.map((s) => s.held)),
      count: list[0]?.count ?? 0,
      failed: list.reduce((a, s) => a + s.failed, 0),
    };
  }
  return out;
}

/** Issue 6 §2 and issue 17, judged on the sidecar at info log level against nginx as hand-written (and tuned where
 *  stated), Caddy and HAProxy. */
export function judgeTargets(s: Summary, sidecar: string): Target[] {
  const cell = (id: string, name: string) => s.scenarios.find((x) => x.id === id)?.cells[name];
  const targets: Target[] = [];
  // CPU split into user (the proxy's own code) and system (the kernel's socket work), sidecar vs the reference.
  const split = (id: string, ref: string) => {
    const [x, y] = [cell(id, sidecar), cell(id, ref)];
    if (
      x?.userUsPerOp === undefined ||
      y?.userUsPerOp === undefined ||
      x.cpuUsPerOp === undefined ||
      y.cpuUsPerOp === undefined
    )
      return "";
    const [xu, yu] = [x.userUsPerOp.median, y.userUsPerOp.median];
    return ` (user ${fmt(xu)} vs ${fmt(yu)}, system ${fmt(x.cpuUsPerOp.median - xu)} vs ${fmt(y.cpuUsPerOp.median - yu)})`;
  };
  const ratioTarget = (
    what: string,
    id: string,
    ref: string,
    need: number,
    key: "value" | "cpuUsPerOp" | "p50Us" = "value",
    atMost = false,
  ) => {
    const a = cell(id, sidecar)?.[key]?.median;
    const b = cell(id, ref)?.[key]?.median;
    const r = a !== undefined && b !== undefined ? a / b : undefined;
    targets.push({
      what,
      need: `${atMost ? "≤" : "≥"} ${need}× ${ref}`,
      got:
        r === undefined
          ? "not measured"
          : `${key === "p50Us" ? us(cell(id, sidecar)?.p50Us) : fmt(a as number)} vs ${key === "p50Us" ? us(cell(id, ref)?.p50Us) : fmt(b as number)} = ${r.toFixed(2)}×${key === "cpuUsPerOp" ? split(id, ref) : ""}`,
      met: r === undefined ? undefined : atMost ? r <= need : r >= need,
    });
  };
  ratioTarget("HTTP 1 KiB GET req/s", "http_1k", "nginx", 1.5);
  ratioTarget("HTTP 1 KiB GET req/s", "http_1k", "nginx-tuned", 0.6);
  ratioTarget("WS echo 100 B msg/s", "ws_echo_100", "nginx", 1);
  ratioTarget("WS echo 100 B proxy CPU µs/msg", "ws_echo_100", "nginx", 1, "cpuUsPerOp", true);
  ratioTarget("WS setup conn/s", "ws_setup", "nginx", 1);
  ratioTarget("WS echo 64 KiB MB/s", "ws_echo_64k", "nginx", 1);
  // Issue 17: ahead of the proxies users pick instead of hand-writing nginx.
  for (const sc of s.scenarios) ratioTarget(`${sc.title}, ${sc.unit}`, sc.id, "caddy", 1);
  ratioTarget("HTTP GET 1 MiB proxy CPU µs/req", "http_1m", "haproxy", 1.5, "cpuUsPerOp", true);
  ratioTarget("HTTP POST 64 KiB proxy CPU µs/req", "http_post_64k", "haproxy", 1.5, "cpuUsPerOp", true);
  ratioTarget("Control UI cold load, time (p50)", "ui_cold", "caddy", 1, "p50Us", true);
  ratioTarget("Control UI cold load, proxy CPU µs/load", "ui_cold", "caddy", 1, "cpuUsPerOp", true);
  const idle = s.idle[sidecar];
  targets.push({
    what: "RSS per idle WebSocket (KiB)",
    need: "≤ 17.7 KiB at 5,000 open",
    got: idle ? `${fmt(idle.kibPerConn.median)} KiB (${idle.held}/${idle.count} open)` : "not measured",
    met: idle ? idle.kibPerConn.median <= 17.7 && idle.held === idle.count : undefined,
  });
  // A proxy needs two descriptors per WebSocket: below 2 × 10,000 (plus a few) the hold cannot be judged here.
  const fdBound = s.hold !== undefined && s.hold.held < s.hold.count && s.hold.nofile < 2 * s.hold.count + 16;
  targets.push({
    what: "concurrent WebSockets held",
    need: "10,000",
    got: s.hold
      ? `${s.hold.held}/${s.hold.count} open, ${fmt(s.hold.kibPerConn)} KiB each${fdBound ? ` — capped by RLIMIT_NOFILE ${s.hold.nofile} (2 fds per WebSocket), not judged` : ""}`
      : "not measured (full mode or --hold)",
    met: s.hold && !fdBound ? s.hold.held >= 10_000 : undefined,
  });
  return targets;
}

export function fmt(n: number): string {
  if (!Number.isFinite(n)) return "–";
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString("en-US");
  if (Math.abs(n) >= 100) return n.toFixed(0);
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

const range = (s: Stat | undefined, unit = "") =>
  s === undefined ? "–" : s.n > 1 ? `${fmt(s.median)}${unit} (${fmt(s.min)}–${fmt(s.max)})` : `${fmt(s.median)}${unit}`;
const times = (r: number | undefined) => (r === undefined ? "–" : `${r.toFixed(2)}×`);
const us = (s: Stat | undefined) =>
  s === undefined ? "–" : s.median >= 1000 ? `${(s.median / 1000).toFixed(2)} ms` : `${fmt(s.median)} µs`;

export function markdown(s: Summary, targets: readonly Target[], header: readonly string[]): string {
  const lines = [
    ...header,
    "",
    "| test | contestant | median (min–max) | × direct | × nginx | × nginx-tuned | × caddy | × haproxy | p50 | p99 | proxy CPU µs/op (min–max) | of it user µs/op | errors |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const sc of s.scenarios) {
    for (const [name, c] of Object.entries(sc.cells)) {
      lines.push(
        `| ${sc.title} | ${name} | ${range(c.value)} ${sc.unit} | ${times(c.vsDirect)} | ${times(c.vsNginx)} | ${times(c.vsNginxTuned)} | ${times(c.vsCaddy)} | ${times(c.vsHaproxy)} | ${us(c.p50Us)} | ${us(c.p99Us)} | ${range(c.cpuUsPerOp)} | ${c.userUsPerOp === undefined ? "–" : fmt(c.userUsPerOp.median)} | ${c.failed} |`,
      );
    }
  }
  lines.push(
    "",
    "| idle WebSockets | contestant | RSS per connection, KiB, median (min–max) | held |",
    "| --- | --- | --- | --- |",
  );
  for (const [name, c] of Object.entries(s.idle))
    lines.push(`| ${c.count.toLocaleString("en-US")} open | ${name} | ${range(c.kibPerConn)} | ${c.held}/${c.count} |`);
  if (s.hold)
    lines.push(
      `| ${s.hold.count.toLocaleString("en-US")} open (hold check) | sidecar | ${fmt(s.hold.kibPerConn)} | ${s.hold.held}/${s.hold.count} |`,
    );
  lines.push("", "| target (issue 6 §2, issue 17) | needed | measured | met |", "| --- | --- | --- | --- |");
  for (const t of targets)
    lines.push(`| ${t.what} | ${t.need} | ${t.got} | ${t.met === undefined ? "–" : t.met ? "yes" : "**NO**"} |`);
  return `${lines.join("\n")}\n`;
}
