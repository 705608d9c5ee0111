// The real tools the deploy tests run: kubectl (kustomize), promtool and prometheus, from Debian
// (scripts/install-prereqs.sh). Each check returns the sentences describeTier prints when something is missing.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

export const REPO = fileURLToPath(new URL("../..", import.meta.url));
export const DEPLOY = `${REPO}deploy`;

const has = (tool: string): boolean => spawnSync(tool, ["--version"], { stdio: "ignore" }).status === 0;
export const missing = (...tools: string[]): string[] =>
  tools
    .filter(
      (t) =>
        !(t === "kubectl" ? spawnSync("kubectl", ["version", "--client"], { stdio: "ignore" }).status === 0 : has(t)),
    )
    .map((t) => `${t} (Debian package ${t === "promtool" ? "prometheus" : t})`);

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}
export function run(cmd: string, args: string[], cwd = REPO): Run {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A Kubernetes object as rendered: only the fields the invariants read are typed. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: unknown;
  data?: Record<string, string>;
}

/** `kubectl kustomize <dir>`, parsed; throws with kubectl's message when it cannot render. */
export function kustomize(dir: string): K8sObject[] {
  const r = run("kubectl", ["kustomize", dir]);
  if (r.status !== 0) throw new Error(`kubectl kustomize ${dir} failed:\n${r.stderr}`);
  return parseAllDocuments(r.stdout).map((d) => d.toJS() as K8sObject);
}

/** Every YAML document of a file, parsed. */
export const yamlDocs = (text: string): unknown[] => parseAllDocuments(text).map((d) => d.toJS() as unknown);
