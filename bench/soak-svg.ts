// The soak report's plots: a tiny SVG line chart (one series over time, shaded intervals such as gateway restarts),
// written by hand so the soak needs no charting dependency.

export interface Series {
  label: string;
  points: Array<[number, number]>;
  unit: string;
}

const esc = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** A round step for about `n` ticks over `span`. */
function niceStep(span: number, n: number): number {
  const raw = span / n || 1;
  const mag = 10 ** Math.floor(Math.log10(raw));
  return ([1, 2, 5, 10].find((m) => m * mag >= raw) ?? 10) * mag;
}

/**
 * An SVG line chart of `series` (x in seconds since the start). `bands` are [from, to] x intervals drawn shaded
 * (the gateway being down), `marks` x positions drawn as thin vertical lines (a certificate rewrite).
 */
export function lineChart(
  title: string,
  series: Series,
  bands: Array<[number, number]> = [],
  marks: number[] = [],
): string {
  const W = 720;
  const H = 300;
  const pad = { l: 70, r: 20, t: 34, b: 42 };
  const xs = series.points.map((p) => p[0]);
  const ys = series.points.map((p) => p[1]);
  const xMax = Math.max(1, ...xs);
  const yLo = Math.min(...ys, 0);
  const yHi = Math.max(...ys, 1) * 1.1;
  const sx = (x: number) => pad.l + (x / xMax) * (W - pad.l - pad.r);
  const sy = (y: number) => H - pad.b - ((y - yLo) / (yHi - yLo)) * (H - pad.t - pad.b);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="14">${esc(title)}</text>`,
  ];
  for (const [a, b] of bands)
    out.push(
      `<rect x="${sx(a).toFixed(1)}" y="${pad.t}" width="${Math.max(1, sx(b) - sx(a)).toFixed(1)}" height="${H - pad.t - pad.b}" fill="#f4cccc"/>`,
    );
  for (const m of marks)
    out.push(
      `<line x1="${sx(m).toFixed(1)}" x2="${sx(m).toFixed(1)}" y1="${pad.t}" y2="${H - pad.b}" stroke="#9fc5e8" stroke-dasharray="3,3"/>`,
    );
  const yStep = niceStep(yHi - yLo, 5);
  for (let y = Math.ceil(yLo / yStep) * yStep; y <= yHi; y += yStep) {
    out.push(`<line x1="${pad.l}" x2="${W - pad.r}" y1="${sy(y).toFixed(1)}" y2="${sy(y).toFixed(1)}" stroke="#eee"/>`);
    out.push(`<text x="${pad.l - 6}" y="${(sy(y) + 4).toFixed(1)}" text-anchor="end">${Number(y.toFixed(2))}</text>`);
  }
  const xStep = niceStep(xMax, 8);
  for (let x = 0; x <= xMax; x += xStep)
    out.push(`<text x="${sx(x).toFixed(1)}" y="${H - pad.b + 16}" text-anchor="middle">${x}</text>`);
  out.push(`<text x="${(pad.l + W - pad.r) / 2}" y="${H - 8}" text-anchor="middle">seconds since start</text>`);
  out.push(
    `<text x="14" y="${(pad.t + H - pad.b) / 2}" text-anchor="middle" transform="rotate(-90 14 ${(pad.t + H - pad.b) / 2})">${esc(`${series.label} (${series.unit})`)}</text>`,
  );
  out.push(
    `<line x1="${pad.l}" x2="${pad.l}" y1="${pad.t}" y2="${H - pad.b}" stroke="#444"/><line x1="${pad.l}" x2="${W - pad.r}" y1="${H - pad.b}" y2="${H - pad.b}" stroke="#444"/>`,
  );
  const d = series.points.map(([x, y], i) => `${i === 0 ? "M" : "L"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" ");
  out.push(`<path d="${d}" fill="none" stroke="#1f5fa8" stroke-width="1.5"/>`);
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}

/** Least-squares slope of y over x (per unit of x); 0 with fewer than two points. */
export function slope(points: Array<[number, number]>): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, p) => s + p[0], 0) / n;
  const my = points.reduce((s, p) => s + p[1], 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}
