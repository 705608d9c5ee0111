// The shape of src/ (issue 22), checked from the code's own imports: no import circle between files, and every
// folder imports only from the folders below it — the order docs/development.md's Layout section draws:
//
//   cli.ts → commands/ → proxy/, setup/ → options/ → gate/ → forwarding/, tls/ → http/ → ops/
//
// (proxy/ and setup/ are siblings and never import each other; so are forwarding/ and tls/). A folder's subfolders
// (gate/sso/) count as the folder. Each folder has a README.md that says its job and what it may import.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const SRC = fileURLToPath(new URL("../../src/", import.meta.url));
/** Lower ranks are lower layers; a folder may import its own files and folders of a strictly lower rank. */
const RANK: Record<string, number> = {
  ops: 0,
  http: 1,
  forwarding: 2,
  tls: 2,
  gate: 3,
  options: 4,
  proxy: 5,
  setup: 5,
  commands: 6,
  ".": 7, // cli.ts
};

const files = readdirSync(SRC, { recursive: true, encoding: "utf8" })
  .filter((f) => f.endsWith(".ts"))
  .map((f) => f.split(path.sep).join("/"))
  .sort();
const folderOf = (file: string): string => (file.includes("/") ? (file.split("/")[0] as string) : ".");

/** The src files `file` imports (static, re-exports and dynamic imports with a literal path). */
function importsOf(file: string): string[] {
  const text = readFileSync(path.join(SRC, file), "utf8");
  const out: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)["'](\.{1,2}\/[^"']+)["']/g)) {
    out.push(path.posix.normalize(path.posix.join(path.posix.dirname(file), m[1] as string)));
  }
  return out;
}
/** Imports that leave src/: the command line hands `import-nginx` to the importer, a tool of its own on top. */
const OUTSIDE = new Set(["cli.ts → ../nginx-compat/cli.ts"]);
const graph = new Map(files.map((f) => [f, importsOf(f).filter((i) => !OUTSIDE.has(`${f} → ${i}`))]));

describe("src/ layout", () => {
  it("reads the whole tree (the checks below mean something)", () => {
    expect(files.length).toBeGreaterThan(50);
    expect([...new Set(files.map(folderOf))].sort()).toEqual(Object.keys(RANK).sort());
    for (const [file, imports] of graph) for (const i of imports) expect(files, `${file} imports ${i}`).toContain(i);
  });

  it("every folder imports only from the folders below it", () => {
    const upward: string[] = [];
    for (const [file, imports] of graph) {
      for (const target of imports) {
        const from = folderOf(file);
        const to = folderOf(target);
        if (from !== to && !((RANK[to] as number) < (RANK[from] as number))) upward.push(`${file} → ${target}`);
      }
    }
    expect(upward).toEqual([]);
  });

  it("no import circle between files", () => {
    // Tarjan's strongly connected components: any component of more than one file is a circle.
    let index = 0;
    const stack: string[] = [];
    const on = new Set<string>();
    const idx = new Map<string, number>();
    const low = new Map<string, number>();
    const circles: string[][] = [];
    const visit = (v: string): void => {
      idx.set(v, index);
      low.set(v, index++);
      stack.push(v);
      on.add(v);
      for (const w of graph.get(v) ?? []) {
        if (!idx.has(w)) {
          visit(w);
          low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
        } else if (on.has(w)) low.set(v, Math.min(low.get(v) as number, idx.get(w) as number));
      }
      if (low.get(v) === idx.get(v)) {
        const component: string[] = [];
        let w: string;
        do {
          w = stack.pop() as string;
          on.delete(w);
          component.push(w);
        } while (w !== v);
        if (component.length > 1 || (graph.get(v) ?? []).includes(v)) circles.push(component.sort());
      }
    };
    for (const f of files) if (!idx.has(f)) visit(f);
    expect(circles).toEqual([]);
  });

  it("every file opens with a comment saying its job, and every folder has a README naming what it may import", () => {
    const silent = files.filter((f) => !/^\s*(\/\/|\/\*)/.test(readFileSync(path.join(SRC, f), "utf8")));
    expect(silent).toEqual([]);
    for (const folder of Object.keys(RANK).filter((f) => f !== ".")) {
      const readme = path.join(SRC, folder, "README.md");
      expect(existsSync(readme), readme).toBe(true);
      expect(readFileSync(readme, "utf8")).toMatch(/may import/i);
    }
  });
});
