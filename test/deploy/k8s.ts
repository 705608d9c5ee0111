// Reading rendered Kubernetes objects the way the cluster would: pod templates, named ports, label selectors, and
// the sidecar's configuration exactly as the container's environment would produce it.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { IDeployment } from "kubernetes-models/apps/v1/Deployment";
import type { IContainer } from "kubernetes-models/v1/Container";
import type { IPodSpec } from "kubernetes-models/v1/PodSpec";
import type { IService } from "kubernetes-models/v1/Service";
import { type Config, loadConfig } from "../../src/options/config.ts";
import type { K8sObject } from "./tools.ts";

export const SIDECAR = "openclaw-sidecar";

export interface PodTemplate {
  deployment: string;
  labels: Record<string, string>;
  spec: IPodSpec;
}

export function podTemplates(objects: K8sObject[]): PodTemplate[] {
  return objects
    .filter((o) => o.kind === "Deployment")
    .map((o) => {
      const d = o as unknown as IDeployment;
      return {
        deployment: d.metadata?.name ?? "",
        labels: d.spec?.template.metadata?.labels ?? {},
        spec: d.spec?.template.spec as IPodSpec,
      };
    });
}

export const byKind = <T>(objects: K8sObject[], kind: string): T[] =>
  objects.filter((o) => o.kind === kind) as unknown as T[];

/** matchLabels semantics: every selector label present with the same value. */
export const selects = (selector: Record<string, string> | undefined, labels: Record<string, string>): boolean =>
  selector !== undefined &&
  Object.keys(selector).length > 0 &&
  Object.entries(selector).every(([k, v]) => labels[k] === v);

/** A probe's or Service's port (number or container port name) as the number it means in this container. */
export function portNumber(container: IContainer, port: number | string | undefined): number | undefined {
  if (typeof port === "number") return port;
  return container.ports?.find((p) => p.name === port)?.containerPort;
}

export function containerPort(container: IContainer, name: string): number {
  const port = container.ports?.find((p) => p.name === name)?.containerPort;
  if (port === undefined) throw new Error(`container ${container.name} has no port named ${name}`);
  return port;
}

export function envOf(container: IContainer): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
  return env;
}

/**
 * The sidecar's Config from the container's environment, through the sidecar's own loader: secret files named by
 * *_FILE variables are replaced by temporary files with valid contents (the Secret is not in the manifests).
 */
export function sidecarConfig(container: IContainer): Config {
  const env = envOf(container);
  const dir = mkdtempSync(join(tmpdir(), "deploy-secrets-"));
  try {
    for (const key of Object.keys(env).filter((k) => k.endsWith("_FILE"))) {
      const file = join(dir, key);
      writeFileSync(file, key.includes("COOKIE") ? "c".repeat(48) : "t".repeat(48));
      env[key] = file;
    }
    return loadConfig({ env });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function sidecarOf(template: PodTemplate): IContainer | undefined {
  return template.spec.containers.find((c) => c.name === SIDECAR);
}

export function serviceNamed(objects: K8sObject[], name: string): IService {
  const service = byKind<IService>(objects, "Service").find((s) => s.metadata?.name === name);
  if (!service) throw new Error(`no Service ${name}`);
  return service;
}

/** The JSON of a gateway config file as print-gateway-config prints it: `//` comment lines, then JSON. */
export const parseGatewayConfig = (text: string): Record<string, unknown> =>
  JSON.parse(
    text
      .split("\n")
      .filter((l) => !l.trimStart().startsWith("//"))
      .join("\n"),
  ) as Record<string, unknown>;
