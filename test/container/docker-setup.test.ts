// scripts/docker-setup.sh changes /etc/hosts and the official image tags only in offline mode, prints each change,
// records it, and --undo reverts it (issue 15 §4). The real script on the real Docker engine; the hosts file and the
// change record are temporary files (DOCKER_SETUP_HOSTS / DOCKER_SETUP_CHANGES), and the only tags it is given to
// change or restore are this test's own, so the machine's real /etc/hosts and base images are never touched.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect, it } from "vitest";
import { describeTier } from "../helpers/tier.ts";
import { REPO, dockerPrereqs } from "./images.ts";

const MARKER = "# openclaw-sidecar docker-setup: no registry";
const HOSTS = "127.0.0.1 localhost\n::1 localhost ip6-localhost\n";
const dir = mkdtempSync(path.join(tmpdir(), "ocsc-docker-setup-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const imageId = (name: string): string =>
  spawnSync("docker", ["image", "inspect", "-f", "{{.Id}}", name], { encoding: "utf8" }).stdout.trim();

function setup(env: Record<string, string>, args: string[] = []) {
  const r = spawnSync("bash", [path.join(REPO, "scripts/docker-setup.sh"), ...args], {
    encoding: "utf8",
    timeout: 300_000,
    env: {
      ...process.env,
      DOCKER_SETUP_HOSTS: path.join(dir, "hosts"),
      DOCKER_SETUP_CHANGES: path.join(dir, "changes"),
      ...env,
    },
  });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

const missing = [
  ...dockerPrereqs(),
  ...(process.getuid?.() === 0 ? [] : ["root (the script refuses to run otherwise)"]),
];
for (const image of ["local/node:24", "local/debian:bookworm"])
  if (missing.length === 0 && imageId(image) === "")
    missing.push(`the offline stand-in ${image} (run: bash scripts/docker-setup.sh)`);

describeTier("docker-setup: offline changes only when asked, printed, undoable", missing, () => {
  it("DOCKER_SETUP_OFFLINE=0: /etc/hosts and the official tags are left alone", () => {
    writeFileSync(path.join(dir, "hosts"), HOSTS);
    rmSync(path.join(dir, "changes"), { force: true });
    const before = ["node:24-slim", "debian:bookworm"].map(imageId);
    const r = setup({ DOCKER_SETUP_OFFLINE: "0" });
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain("online mode");
    expect(r.out).not.toContain("changed:");
    expect(readFileSync(path.join(dir, "hosts"), "utf8")).toBe(HOSTS);
    expect(["node:24-slim", "debian:bookworm"].map(imageId)).toEqual(before);
  }, 300_000);

  it("DOCKER_SETUP_OFFLINE=1 (what .ci/run sets): guards the hosts file, says so, records it", () => {
    writeFileSync(path.join(dir, "hosts"), HOSTS);
    rmSync(path.join(dir, "changes"), { force: true });
    // The official names already point at the stand-ins here (install-prereqs ran), so no real tag changes.
    expect(imageId("node:24-slim")).toBe(imageId("local/node:24"));
    expect(imageId("debian:bookworm")).toBe(imageId("local/debian:bookworm"));
    const r = setup({ DOCKER_SETUP_OFFLINE: "1" });
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain("offline mode (DOCKER_SETUP_OFFLINE=1)");
    expect(r.out).toContain(
      `changed: ${path.join(dir, "hosts")} points the Docker Hub names at 127.0.0.1 (undo: bash scripts/docker-setup.sh --undo)`,
    );
    expect(readFileSync(path.join(dir, "hosts"), "utf8")).toMatch(
      new RegExp(`^127\\.0\\.0\\.1 registry-1\\.docker\\.io .*${MARKER}$`, "m"),
    );
    expect(readFileSync(path.join(dir, "changes"), "utf8")).toBe("hosts\n");
    // Unset: the earlier decision (the guard line) stands, and nothing is added twice.
    const again = setup({ DOCKER_SETUP_OFFLINE: "" });
    expect(again.out).toContain("offline mode");
    expect(again.out).not.toContain("changed:");
    expect(readFileSync(path.join(dir, "changes"), "utf8")).toBe("hosts\n");
  }, 300_000);

  it("--undo removes the hosts line, removes a tag that did not exist before, and restores one that pointed elsewhere", () => {
    const [created, moved] = ["ocsc-undo-test:created", "ocsc-undo-test:moved"];
    const original = imageId("local/ryuk:node") || imageId("local/debian:bookworm");
    expect(spawnSync("docker", ["tag", "local/node:24", created]).status).toBe(0);
    expect(spawnSync("docker", ["tag", "local/node:24", moved]).status).toBe(0);
    try {
      writeFileSync(path.join(dir, "hosts"), `${HOSTS}127.0.0.1 registry-1.docker.io docker.io ${MARKER}\n`);
      writeFileSync(path.join(dir, "changes"), `hosts\ntag ${created} none\ntag ${moved} ${original}\n`);
      const r = setup({}, ["--undo"]);
      expect(r.code, r.out).toBe(0);
      expect(r.out).toContain(`undone: removed the Docker Hub line from ${path.join(dir, "hosts")}`);
      expect(r.out).toContain(`undone: removed the tag ${created} (it did not exist before)`);
      expect(r.out).toContain(`undone: ${moved} points at image ${original.slice(7, 19)} again`);
      expect(readFileSync(path.join(dir, "hosts"), "utf8")).toBe(HOSTS);
      expect(imageId(created)).toBe("");
      expect(imageId(moved)).toBe(original);
      expect(() => readFileSync(path.join(dir, "changes"))).toThrow(); // the record is gone with the changes
    } finally {
      spawnSync("docker", ["rmi", created, moved], { stdio: "ignore" });
    }
  }, 120_000);
});
