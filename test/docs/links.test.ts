// The README and docs/ link into each other by file and heading: every relative link must land on a file that exists
// and, with a #fragment, on a heading of that file (GitHub's anchors), and the README stays short enough to read.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const README_MAX_LINES = 260;

const pages = [
  "README.md",
  ...readdirSync(path.join(REPO, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];

/** The lines outside fenced code blocks: a "#" in a shell block is no heading, a "](x)" in one is no link. */
function prose(text: string): string[] {
  const out: string[] = [];
  let fence: string | undefined;
  for (const line of text.split("\n")) {
    const m = /^\s*(`{3,}|~{3,})/.exec(line);
    if (m) {
      const marker = m[1] as string;
      if (fence === undefined) fence = marker;
      else if (marker.startsWith(fence)) fence = undefined;
      out.push("");
    } else out.push(fence === undefined ? line : "");
  }
  return out;
}

/** GitHub's heading anchor: lower-case, punctuation dropped (but - and _), spaces → -, repeats get -1, -2, … */
function slug(heading: string): string {
  const text = heading
    .replace(/`/g, "")
    .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
    .trim()
    .toLowerCase();
  return text.replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, "").replace(/ /g, "-");
}

function anchorsOf(file: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const line of prose(readFileSync(file, "utf8"))) {
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const base = slug(m[1] as string);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

/** Every inline link target of a page: [text](target) and ![alt](target), titles dropped. */
function linksOf(text: string): string[] {
  const out: string[] = [];
  for (const line of prose(text)) {
    const code = line.replace(/`[^`]*`/g, (s) => (s.includes("](") ? "" : s));
    for (const m of code.matchAll(/!?\[(?:[^\][]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      out.push(m[1] as string);
    }
  }
  return out;
}

describe("README.md and docs/", () => {
  it("the README is at most 260 lines", () => {
    const lines = readFileSync(path.join(REPO, "README.md"), "utf8").trimEnd().split("\n").length;
    expect(lines, `README.md has ${lines} lines; move detail into docs/`).toBeLessThanOrEqual(README_MAX_LINES);
  });

  it("slugs headings as GitHub does", () => {
    expect(slug("Why Node ≥ 24, and where it comes from")).toBe("why-node--24-and-where-it-comes-from");
    expect(slug("local mode — read this first")).toBe("local-mode--read-this-first");
    expect(slug("Identities: what a user admitted by single sign-on can and cannot make the gateway believe")).toBe(
      "identities-what-a-user-admitted-by-single-sign-on-can-and-cannot-make-the-gateway-believe",
    );
    expect(slug("`openclaw-sidecar init`")).toBe("openclaw-sidecar-init");
    expect(slug("What is in deploy/")).toBe("what-is-in-deploy");
  });

  for (const page of pages) {
    it(`every relative link in ${page} resolves, anchors included`, () => {
      const from = path.join(REPO, page);
      const broken: string[] = [];
      for (const target of linksOf(readFileSync(from, "utf8"))) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto: …
        const [file = "", anchor] = target.split("#", 2);
        const resolved = file === "" ? from : path.resolve(path.dirname(from), decodeURIComponent(file));
        if (!resolved.startsWith(REPO) || !existsSync(resolved)) {
          broken.push(`${target}: no such file`);
          continue;
        }
        if (anchor === undefined || anchor === "") continue;
        if (statSync(resolved).isDirectory() || !resolved.endsWith(".md")) {
          broken.push(`${target}: an anchor into something that is not a Markdown file`);
          continue;
        }
        if (!anchorsOf(resolved).has(decodeURIComponent(anchor)))
          broken.push(`${target}: no heading "#${anchor}" in ${path.relative(REPO, resolved)}`);
      }
      expect(broken).toEqual([]);
    });
  }
});
