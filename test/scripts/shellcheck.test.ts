// The shell scripts CI and users run (.ci/, scripts/, bin/) are shellcheck-clean: Debian's real shellcheck, every
// finding at every severity, so a quoting slip or an `A && B || C` that is not an if-then-else fails here.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import { describeTier } from "../helpers/tier.ts";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const hasShellcheck = spawnSync("shellcheck", ["--version"]).status === 0;

/** Every file in .ci/, scripts/ and bin/ whose first line names a shell. */
function shellScripts(): string[] {
  const out: string[] = [];
  for (const dir of [".ci", "scripts", "bin"]) {
    for (const name of readdirSync(path.join(REPO, dir), { recursive: true, encoding: "utf8" })) {
      const file = path.join(dir, name);
      let first = "";
      try {
        first = readFileSync(path.join(REPO, file), "utf8").split("\n", 1)[0] ?? "";
      } catch {
        continue; // a directory
      }
      if (/^#!.*\b(ba|da)?sh\b/.test(first) || file.endsWith(".sh")) out.push(file);
    }
  }
  return out.sort();
}

describeTier(
  "shell scripts (real shellcheck)",
  hasShellcheck ? [] : ["shellcheck (apt-get install shellcheck)"],
  () => {
    it("finds the scripts (the check below means something)", () => {
      expect(shellScripts()).toEqual(
        expect.arrayContaining([".ci/run", "bin/openclaw-sidecar", "scripts/install-prereqs.sh"]),
      );
    });

    it("every one is shellcheck-clean", () => {
      const r = spawnSync("shellcheck", ["--severity=style", ...shellScripts()], { cwd: REPO, encoding: "utf8" });
      expect(r.stdout + r.stderr).toBe("");
      expect(r.status).toBe(0);
    });
  },
);
