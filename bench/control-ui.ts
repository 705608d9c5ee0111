// The Control UI's real asset set, from the pinned openclaw package (.cache/openclaw, installed by
// scripts/install-prereqs.sh), and what a browser's first load of the dashboard fetches from it. Shared by the
// upstream (which serves the files the way the gateway does: dist/control-ui-*.mjs, `serveControlUiAsset` and
// `serveResolvedIndexHtml`) and by the load generator (which fetches them the way a browser does).
//
// The load, in the order a browser issues it:
//   1. GET /                      index.html (the gateway compresses it on the fly with brotli q4 and caches that)
//   2. what index.html names       the entry module, its <link rel="modulepreload">s, the stylesheet, the favicon and
//                                  the web manifest, then the static import closure of the entry
//   3. the lazy chunks of one view the chat route (`import("./route-loader-….js")` in the core bundle) with its
//                                  `__vite__mapDeps` list (JS and CSS) and their static imports
// Step 2 and 3 requests go out over 6 connections (Chromium's per-host limit), then one WebSocket upgrade and the
// first message finish the load.
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";

export const CONTROL_UI_ROOT = path.resolve(
  import.meta.dirname,
  "..",
  ".cache",
  "openclaw",
  "node_modules",
  "openclaw",
  "dist",
  "control-ui",
);

export function controlUiAvailable(): boolean {
  return existsSync(path.join(CONTROL_UI_ROOT, "index.html"));
}

/** What the browser asks for, in phases: each phase starts when the previous one has arrived. */
export interface UiLoadPlan {
  phases: string[][];
}

const STATIC_IMPORT = /(?:\bfrom\s*|\bimport\s*)["'`]\.\/([^"'`]+\.js)["'`]/g;

function staticClosure(start: readonly string[], have: Set<string>): string[] {
  const out: string[] = [];
  const queue = [...start];
  while (queue.length) {
    const file = queue.shift() as string;
    if (have.has(file)) continue;
    have.add(file);
    out.push(file);
    if (!file.endsWith(".js")) continue;
    const text = readFileSync(path.join(CONTROL_UI_ROOT, file), "utf8");
    for (const m of text.matchAll(STATIC_IMPORT)) queue.push(`assets/${m[1]}`);
  }
  return out;
}

/** The chat view's lazy chunks: the route loader's dynamic import and its preload list. */
function chatViewChunks(loaded: Set<string>): string[] {
  const assets = path.join(CONTROL_UI_ROOT, "assets");
  for (const name of readdirSync(assets)) {
    if (!name.startsWith("control-ui-core-") || !name.endsWith(".js")) continue;
    const text = readFileSync(path.join(assets, name), "utf8");
    const call = /import\(`\.\/(route-loader-[^`]+\.js)`\)[^)]{0,200}?__vite__mapDeps\(\[([\d,]+)\]\)/.exec(text);
    const table = /__vite__mapDeps=\(i,m=__vite__mapDeps,d=\(m\.f\|\|\(m\.f=(\[[^\]]*\])\)\)\)/.exec(text);
    if (!call || !table) continue;
    const deps = JSON.parse(table[1] as string) as string[];
    const listed = (call[2] as string).split(",").map((i) => (deps[Number(i)] as string).replace(/^\.\//, "assets/"));
    return staticClosure([`assets/${call[1]}`, ...listed], loaded);
  }
  throw new Error(`no chat route loader found in ${assets}`);
}

export function uiLoadPlan(): UiLoadPlan {
  const html = readFileSync(path.join(CONTROL_UI_ROOT, "index.html"), "utf8");
  const refs: string[] = [];
  for (const m of html.matchAll(/<(?:script[^>]*\ssrc|link[^>]*\shref)="\.\/([^"]+)"/g)) {
    const ref = m[1] as string;
    if (ref === "apple-touch-icon.png" || ref === "favicon-32.png") continue; // a desktop browser takes the SVG icon
    refs.push(ref);
  }
  const loaded = new Set<string>();
  const first = staticClosure(refs, loaded);
  return { phases: [[""], first, chatViewChunks(loaded)] };
}

/** Bytes a cold load moves with brotli accepted, for the bench's header line. */
export function uiLoadBytes(plan: UiLoadPlan): { requests: number; bytes: number } {
  let bytes = 0;
  let requests = 0;
  for (const file of plan.phases.flat()) {
    requests++;
    const p = path.join(CONTROL_UI_ROOT, file || "index.html");
    bytes += existsSync(`${p}.br`) && file.startsWith("assets/") ? statSync(`${p}.br`).size : statSync(p).size;
  }
  return { requests, bytes };
}
