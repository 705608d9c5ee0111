// deploy/kubernetes: both overlays render with the real `kubectl kustomize`, every object validates against the
// Kubernetes schemas, and the invariants that break in real life hold — read from the rendered objects and compared
// with what the sidecar itself does (its config loader, its DEFAULTS, its admin server, print-gateway-config).
// No cluster is reachable here: nothing is applied.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, basename } from "node:path";
import type { IDeployment } from "kubernetes-models/apps/v1/Deployment";
import type { IContainer } from "kubernetes-models/v1/Container";
import type { INetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import type { IPodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import type { IService } from "kubernetes-models/v1/Service";
import { afterAll, beforeAll, expect, it } from "vitest";
import { DEFAULTS, hostPort } from "../../src/options/config.ts";
import { startTestSidecar, type TestSidecar } from "../helpers/sidecar.ts";
import { describeTier } from "../helpers/tier.ts";
import {
  type PodTemplate,
  SIDECAR,
  byKind,
  containerPort,
  envOf,
  parseGatewayConfig,
  podTemplates,
  portNumber,
  selects,
  serviceNamed,
  sidecarConfig,
  sidecarOf,
} from "./k8s.ts";
import { validateObject } from "./schemas.ts";
import { unknownFields } from "./strict-fields.ts";
import { DEPLOY, type K8sObject, REPO, kustomize, missing, yamlDocs } from "./tools.ts";

const K8S = `${DEPLOY}/kubernetes`;
const OVERLAYS = ["same-pod", "separate"] as const;
// Every way in (deploy/kubernetes/ingress): Gateway API first, a generic Ingress, an OpenShift Route. Each file is
// validated and strictly checked; a new file there is picked up without a change here.
const EXAMPLES = readdirSync(`${K8S}/ingress`)
  .filter((f) => f.endsWith(".yaml"))
  .sort();
const example = <T = K8sObject>(file: string): T => yamlDocs(readFileSync(`${K8S}/ingress/${file}`, "utf8"))[0] as T;
const rendered = Object.fromEntries(OVERLAYS.map((o) => [o, [] as K8sObject[]])) as Record<
  (typeof OVERLAYS)[number],
  K8sObject[]
>;

// Bench figures (docs/benchmarks.md): idle RSS of a fresh sidecar (~100 MiB measured; Node 24 running .ts) and
// 9.0 KiB per idle WebSocket. The memory limit must hold 10,000 WebSockets (issue 6's target) on top of idle.
const IDLE_RSS = 100 * 2 ** 20;
const PER_WEBSOCKET = 9 * 1024;
const mebibytes = (q: string | number | undefined): number => {
  const m = /^(\d+)(Mi|Gi)$/.exec(String(q));
  if (!m) throw new Error(`memory quantity ${String(q)}: expected Mi or Gi`);
  return Number(m[1]) * (m[2] === "Gi" ? 2 ** 30 : 2 ** 20);
};

/** print-gateway-config, the real CLI, as a user would run it; JSON after its comment lines. */
function printGatewayConfig(flags: string[]): Record<string, unknown> {
  const r = spawnSync(
    process.execPath,
    ["src/cli.ts", "print-gateway-config", "--mode", "identity", "--token", "x".repeat(32), ...flags],
    { cwd: REPO, encoding: "utf8" },
  );
  if (r.status !== 0) throw new Error(`print-gateway-config failed: ${r.stderr}`);
  return parseGatewayConfig(r.stdout);
}

type Json = Record<string, Record<string, unknown>>;
function gatewayConfigOf(objects: K8sObject[]): Json {
  const cm = objects.find((o) => o.kind === "ConfigMap" && o.metadata.name.startsWith("openclaw-gateway-config"));
  const text = cm?.data?.["openclaw.json5"];
  if (text === undefined) throw new Error("no gateway ConfigMap with openclaw.json5");
  return parseGatewayConfig(text) as Json;
}

function sidecarTemplate(objects: K8sObject[]): PodTemplate & { sidecar: IContainer } {
  const withSidecar = podTemplates(objects).filter((t) => sidecarOf(t) !== undefined);
  expect(withSidecar, "exactly one Deployment runs the sidecar").toHaveLength(1);
  const t = withSidecar[0] as PodTemplate;
  return { ...t, sidecar: sidecarOf(t) as IContainer };
}

describeTier("deploy/kubernetes (kubectl kustomize, Kubernetes schemas)", missing("kubectl"), () => {
  let real: TestSidecar;
  beforeAll(async () => {
    for (const o of OVERLAYS) rendered[o] = kustomize(`${K8S}/overlays/${o}`);
    real = await startTestSidecar({ "--upstream": "http://127.0.0.1:9" });
  });
  afterAll(async () => {
    await real?.close();
  });

  it.each(OVERLAYS)("%s renders, and every object validates against its schema", (overlay) => {
    const kinds = rendered[overlay].map((o) => o.kind).sort();
    expect(kinds).toEqual(
      expect.arrayContaining(["ConfigMap", "Deployment", "NetworkPolicy", "PersistentVolumeClaim", "Service"]),
    );
    for (const o of rendered[overlay]) expect(() => validateObject(o), `${o.kind}/${o.metadata.name}`).not.toThrow();
  });

  it("the schema check can fail: a misspelt field type is refused", () => {
    const deployment = structuredClone(rendered.separate.find((o) => o.kind === "Deployment")) as K8sObject & {
      spec: { replicas: unknown };
    };
    deployment.spec.replicas = "two";
    expect(() => validateObject(deployment)).toThrow(/replicas must be integer/);
  });

  it("no object has a field its Kubernetes type does not know (as the API server's strict field validation would refuse)", () => {
    const examples = EXAMPLES.map((f) => example(f));
    const monitor = yamlDocs(readFileSync(`${DEPLOY}/prometheus/podmonitor.yaml`, "utf8"))[0] as K8sObject;
    expect(unknownFields([...rendered["same-pod"], ...rendered.separate, ...examples, monitor])).toEqual([]);
    const typo = structuredClone(rendered.separate.find((o) => o.kind === "Deployment")) as K8sObject & {
      spec: { template: { spec: { containers: Array<Record<string, unknown>> } } };
    };
    (typo.spec.template.spec.containers[0] as Record<string, unknown>).readinessprobe = {
      httpGet: { path: "/readyz", port: 9477 },
    };
    expect(() => validateObject(typo), "the OpenAPI schema alone lets it through").not.toThrow();
    expect(unknownFields([typo])).toEqual([
      expect.stringContaining("'\"readinessprobe\"' does not exist in type 'IContainer'"),
    ]);
  });

  it.each(OVERLAYS)(
    "%s: the sidecar's own config loader accepts the container's environment; ports and probes match it",
    (overlay) => {
      const { sidecar } = sidecarTemplate(rendered[overlay]);
      const config = sidecarConfig(sidecar);
      expect(config.mode).toBe("identity");
      expect(containerPort(sidecar, "proxy")).toBe(config.listen.port);
      expect(containerPort(sidecar, "admin")).toBe(config.adminListen.port);
      expect(config.adminListen.port, "the admin port is the sidecar's default").toBe(
        hostPort(DEFAULTS.adminListen, "adminListen").port,
      );
      // Kubelet and Prometheus reach the pod IP: an admin listener on the default 127.0.0.1 would fail every probe.
      expect(config.adminListen.host).toBe("0.0.0.0");
      expect(sidecar.livenessProbe?.httpGet?.path).toBe("/healthz");
      expect(sidecar.readinessProbe?.httpGet?.path).toBe("/readyz");
      expect(portNumber(sidecar, sidecar.livenessProbe?.httpGet?.port)).toBe(config.adminListen.port);
      expect(portNumber(sidecar, sidecar.readinessProbe?.httpGet?.port)).toBe(config.adminListen.port);
    },
  );

  it("the probe paths are what the sidecar's admin listener serves (a real sidecar): /healthz 200, /readyz JSON", async () => {
    const { sidecar } = sidecarTemplate(rendered.separate);
    const live = await fetch(`${real.adminUrl}${sidecar.livenessProbe?.httpGet?.path ?? ""}`);
    expect(live.status).toBe(200);
    const ready = await fetch(`${real.adminUrl}${sidecar.readinessProbe?.httpGet?.path ?? ""}`);
    expect(ready.status, "no gateway behind it: not ready").toBe(503);
    expect(await ready.json()).toMatchObject({ ready: false });
    expect((await fetch(`${real.adminUrl}/nonexistent`)).status).toBe(404);
  });

  it.each(OVERLAYS)("%s: the grace period covers preStop + the drain timeout", (overlay) => {
    const { spec, sidecar } = sidecarTemplate(rendered[overlay]);
    const drainMs = sidecarConfig(sidecar).drainTimeoutMs;
    const preStopS = sidecar.lifecycle?.preStop?.sleep?.seconds ?? 0;
    expect(preStopS, "a preStop lets endpoints update before the drain").toBeGreaterThan(0);
    expect((spec.terminationGracePeriodSeconds ?? 30) * 1000).toBeGreaterThan(preStopS * 1000 + drainMs);
    expect(drainMs).toBeGreaterThanOrEqual(DEFAULTS.drainTimeoutMs);
  });

  it.each(OVERLAYS)(
    "%s: every container is non-root, read-only, without capabilities, RuntimeDefault seccomp, with requests and limits",
    (overlay) => {
      for (const t of podTemplates(rendered[overlay])) {
        expect(t.spec.automountServiceAccountToken).toBe(false);
        for (const c of t.spec.containers) {
          const sc = c.securityContext ?? {};
          const where = `${t.deployment}/${c.name}`;
          expect(sc.runAsNonRoot ?? t.spec.securityContext?.runAsNonRoot, where).toBe(true);
          expect(sc.readOnlyRootFilesystem, where).toBe(true);
          expect(sc.allowPrivilegeEscalation, where).toBe(false);
          expect(sc.capabilities?.drop, where).toContain("ALL");
          expect(sc.capabilities?.add ?? [], where).toEqual([]);
          expect((sc.seccompProfile ?? t.spec.securityContext?.seccompProfile)?.type, where).toBe("RuntimeDefault");
          for (const r of ["cpu", "memory"]) {
            expect(c.resources?.requests?.[r], `${where} requests.${r}`).toBeDefined();
            expect(c.resources?.limits?.[r], `${where} limits.${r}`).toBeDefined();
          }
        }
      }
    },
  );

  it.each(OVERLAYS)("%s: the sidecar runs as the image's user and its memory is sized from the bench", (overlay) => {
    const { spec, sidecar } = sidecarTemplate(rendered[overlay]);
    expect(readFileSync(`${REPO}Dockerfile`, "utf8")).toMatch(/^USER node$/m); // node:24-slim's node is uid 1000
    expect(sidecar.securityContext?.runAsUser ?? spec.securityContext?.runAsUser).toBe(1000);
    expect(sidecar.args).toEqual(["run"]);
    const limit = mebibytes(sidecar.resources?.limits?.memory as string);
    const request = mebibytes(sidecar.resources?.requests?.memory as string);
    expect(request).toBeGreaterThan(IDLE_RSS);
    expect(limit).toBeGreaterThanOrEqual(IDLE_RSS + 10_000 * PER_WEBSOCKET);
    expect(limit).toBeLessThanOrEqual(4 * (IDLE_RSS + 10_000 * PER_WEBSOCKET)); // sized, not a blank cheque
    // Service links would put OPENCLAW_SIDECAR_PORT=tcp://… into the environment the sidecar reads its options from.
    expect(spec.enableServiceLinks).toBe(false);
  });

  it.each(OVERLAYS)("%s: secrets come from a Secret volume, never from literal environment values", (overlay) => {
    const { spec, sidecar } = sidecarTemplate(rendered[overlay]);
    const env = envOf(sidecar);
    for (const literal of ["OPENCLAW_SIDECAR_TOKEN", "OPENCLAW_SIDECAR_COOKIE_SECRET"])
      expect(env[literal]).toBeUndefined();
    for (const key of ["OPENCLAW_SIDECAR_TOKEN_FILE", "OPENCLAW_SIDECAR_COOKIE_SECRET_FILE"]) {
      const file = env[key] as string;
      const mount = sidecar.volumeMounts?.find((m) => file.startsWith(`${m.mountPath}/`));
      const volume = spec.volumes?.find((v) => v.name === mount?.name);
      expect(volume?.secret?.secretName, `${key} under a Secret volume`).toBe("openclaw-sidecar");
      expect(mount?.readOnly).toBe(true);
    }
    const gateway = podTemplates(rendered[overlay])
      .flatMap((t) => t.spec.containers)
      .find((c) => c.name === "gateway");
    expect(gateway?.env?.find((e) => e.name === "GATEWAY_AUTH_SECRET")?.valueFrom?.secretKeyRef?.name).toBe(
      "openclaw-gateway",
    );
    expect(
      rendered[overlay].some((o) => o.kind === "Secret"),
      "no secret material is committed",
    ).toBe(false);
  });

  it.each(OVERLAYS)(
    "%s: the Service selects exactly the sidecar's pods, on the proxy port, and never exposes the admin port",
    (overlay) => {
      const { labels, sidecar } = sidecarTemplate(rendered[overlay]);
      const service = serviceNamed(rendered[overlay], SIDECAR);
      for (const t of podTemplates(rendered[overlay]))
        expect(selects(service.spec?.selector, t.labels)).toBe(sidecarOf(t) !== undefined);
      expect(selects(service.spec?.selector, labels)).toBe(true);
      expect(service.spec?.ports?.map((p) => portNumber(sidecar, p.targetPort))).toEqual([
        containerPort(sidecar, "proxy"),
      ]);
      const admin = containerPort(sidecar, "admin");
      for (const s of byKind<IService>(rendered[overlay], "Service")) {
        for (const p of s.spec?.ports ?? []) {
          expect(p.port, `${s.metadata?.name}`).not.toBe(admin);
          expect(p.targetPort === "admin" || p.targetPort === admin, `${s.metadata?.name} targets the admin port`).toBe(
            false,
          );
        }
      }
    },
  );

  it.each(OVERLAYS)(
    "%s: the gateway's config is what print-gateway-config prints, plus the documented edits; it is mounted where OPENCLAW_CONFIG_PATH points",
    (overlay) => {
      const actual = gatewayConfigOf(rendered[overlay]);
      const { sidecar } = sidecarTemplate(rendered[overlay]);
      const config = sidecarConfig(sidecar);
      const expected =
        overlay === "same-pod"
          ? (printGatewayConfig([
              "--sidecar-address",
              "127.0.0.1",
              "--upstream",
              config.upstream.origin,
              "--listen",
              `0.0.0.0:${config.listen.port}`,
              "--allowed-origins",
              config.allowedOrigins.join(","),
            ]) as Json)
          : (printGatewayConfig([
              "--allowed-origins",
              config.allowedOrigins.join(","),
              "--sidecar-address",
              "192.0.2.1",
            ]) as Json);
      const gw = expected.gateway as Record<string, unknown> & {
        auth: { password?: string; trustedProxy: Record<string, unknown> };
      };
      gw.auth.password = "${GATEWAY_AUTH_SECRET}";
      const edited = { gateway: { mode: "local", ...gw } } as Json;
      if (overlay === "same-pod") {
        (edited.gateway as Record<string, unknown>).bind = "loopback";
        gw.auth.trustedProxy.allowLoopback = true;
      } else {
        (edited.gateway as Record<string, unknown>).trustedProxies = actual.gateway?.trustedProxies;
      }
      expect(actual).toEqual(edited);
      // The gateway container mounts that ConfigMap at the directory of OPENCLAW_CONFIG_PATH.
      const pod = podTemplates(rendered[overlay]).find((t) =>
        t.spec.containers.some((c) => c.name === "gateway"),
      ) as PodTemplate;
      const gateway = pod.spec.containers.find((c) => c.name === "gateway") as IContainer;
      const path = envOf(gateway).OPENCLAW_CONFIG_PATH as string;
      const mount = gateway.volumeMounts?.find((m) => m.mountPath === dirname(path));
      const volume = pod.spec.volumes?.find((v) => v.name === mount?.name);
      expect(volume?.configMap?.name).toMatch(/^openclaw-gateway-config-/);
      expect(basename(path)).toBe("openclaw.json5");
      expect(containerPort(gateway, "gateway")).toBe(actual.gateway?.port);
      // Five minutes of startup budget before liveness counts.
      const startup = gateway.startupProbe;
      expect((startup?.periodSeconds ?? 10) * (startup?.failureThreshold ?? 3)).toBeGreaterThanOrEqual(300);
    },
  );

  it("same-pod: the sidecar dials the gateway on loopback, on its own port, and the gateway binds loopback and allows it", () => {
    const { sidecar } = sidecarTemplate(rendered["same-pod"]);
    const config = sidecarConfig(sidecar);
    const gw = gatewayConfigOf(rendered["same-pod"]).gateway as Record<string, unknown> & {
      auth: { trustedProxy: { allowLoopback?: boolean } };
    };
    expect(config.upstream.hostname).toBe("127.0.0.1");
    expect(Number(config.upstream.port)).toBe(gw.port);
    expect(config.listen.port, "one network namespace: the sidecar cannot take the gateway's port").not.toBe(gw.port);
    expect(gw.bind).toBe("loopback");
    expect(gw.trustedProxies).toEqual(["127.0.0.1/32"]);
    expect(gw.auth.trustedProxy.allowLoopback).toBe(true);
  });

  it("separate: the sidecar dials the gateway's Service; its NetworkPolicy selects the gateway and admits only the sidecar", () => {
    const objects = rendered.separate;
    const { labels: sidecarLabels, sidecar } = sidecarTemplate(objects);
    const config = sidecarConfig(sidecar);
    const gatewayPod = podTemplates(objects).find((t) => t.deployment === "openclaw-gateway") as PodTemplate;
    const gatewayContainer = gatewayPod.spec.containers.find((c) => c.name === "gateway") as IContainer;
    const gw = gatewayConfigOf(objects).gateway as Record<string, unknown>;
    expect(gw.bind).toBe("lan");
    expect(gw.trustedProxies).not.toContain("0.0.0.0/0");
    // upstream → Service → gateway container port → gateway.port
    const service = serviceNamed(objects, config.upstream.hostname);
    const port = service.spec?.ports?.find((p) => p.port === Number(config.upstream.port));
    expect(selects(service.spec?.selector, gatewayPod.labels)).toBe(true);
    expect(portNumber(gatewayContainer, port?.targetPort)).toBe(gw.port);
    // NetworkPolicy: the gateway's pods, ingress only from sidecar pods, only on the gateway's port.
    const policies = byKind<INetworkPolicy>(objects, "NetworkPolicy").filter((p) =>
      selects(p.spec?.podSelector?.matchLabels, gatewayPod.labels),
    );
    expect(policies).toHaveLength(1);
    const policy = policies[0]?.spec;
    expect(policy?.policyTypes).toContain("Ingress");
    expect(selects(policy?.podSelector?.matchLabels, sidecarLabels), "the policy must not select the sidecar").toBe(
      false,
    );
    expect(policy?.ingress?.length).toBeGreaterThan(0);
    for (const rule of policy?.ingress ?? []) {
      expect(rule.from?.length).toBeGreaterThan(0); // an empty from admits everyone
      for (const peer of rule.from ?? []) {
        expect(peer.ipBlock).toBeUndefined();
        expect(peer.namespaceSelector).toBeUndefined();
        expect(selects(peer.podSelector?.matchLabels, sidecarLabels)).toBe(true);
        expect(selects(peer.podSelector?.matchLabels, gatewayPod.labels)).toBe(false);
      }
      expect(rule.ports?.map((p) => p.port)).toEqual([gw.port]);
    }
  });

  it.each(OVERLAYS)(
    "%s: the sidecar's NetworkPolicy admits its proxy port and its admin port, nothing else",
    (overlay) => {
      const { labels, sidecar } = sidecarTemplate(rendered[overlay]);
      const policy = byKind<INetworkPolicy>(rendered[overlay], "NetworkPolicy").find(
        (p) => p.metadata?.name === SIDECAR,
      );
      expect(selects(policy?.spec?.podSelector?.matchLabels, labels)).toBe(true);
      const ports = (policy?.spec?.ingress ?? []).flatMap((r) => (r.ports ?? []).map((p) => p.port)).sort();
      expect(ports).toEqual([containerPort(sidecar, "proxy"), containerPort(sidecar, "admin")].sort());
    },
  );

  it("deploy/kubernetes/ingress holds the three ways in, and each validates against its schema", () => {
    expect(EXAMPLES).toEqual(["gateway-api.yaml", "ingress.yaml", "openshift-route.yaml"]);
    expect(EXAMPLES.map((f) => example(f).kind)).toEqual(["HTTPRoute", "Ingress", "Route"]);
    for (const f of EXAMPLES) expect(() => validateObject(example(f)), f).not.toThrow();
  });

  it("the Route check can fail: OpenShift's Route is checked against its transcribed types (no model package exists)", () => {
    const route = example<K8sObject & { spec: Record<string, unknown> & { tls: Record<string, unknown> } }>(
      "openshift-route.yaml",
    );
    const misspelt = structuredClone(route);
    misspelt.spec.targetPort = "http";
    expect(() => validateObject(misspelt)).toThrow(/targetPort"' does not exist in type/);
    const badEnum = structuredClone(route);
    badEnum.spec.tls.termination = "Edge";
    expect(() => validateObject(badEnum)).toThrow(/"Edge"/);
    const noTarget = structuredClone(route);
    delete noTarget.spec.to;
    expect(() => validateObject(noTarget)).toThrow(/'to' is missing/);
  });

  it("every example points at the sidecar Service's port, with WebSocket-friendly timeouts", () => {
    const service = serviceNamed(rendered.separate, SIDECAR);
    const servicePort = service.spec?.ports?.[0];
    const route = example<
      K8sObject & {
        spec: { rules: Array<{ backendRefs: Array<{ name: string; port: number }>; timeouts: { request: string } }> };
      }
    >("gateway-api.yaml");
    expect(route.spec.rules[0]?.backendRefs).toEqual([{ name: SIDECAR, port: servicePort?.port }]);
    expect(route.spec.rules[0]?.timeouts.request, "no request timeout to end WebSockets").toBe("0s");
    const ingress = example<
      K8sObject & {
        metadata: { annotations?: Record<string, string> };
        spec: {
          ingressClassName: string;
          rules: Array<{ http: { paths: Array<{ backend: { service: { name: string; port: { name: string } } } }> } }>;
        };
      }
    >("ingress.yaml");
    const backend = ingress.spec.rules[0]?.http.paths[0]?.backend.service;
    expect(backend?.name).toBe(SIDECAR);
    expect(backend?.port.name).toBe(servicePort?.name);
    // Generic: no controller's annotations, and no controller named (the user sets ingressClassName).
    expect(ingress.metadata.annotations ?? {}).toEqual({});
    expect(ingress.spec.ingressClassName).not.toMatch(/nginx/i);
    const openshift = example<
      K8sObject & {
        metadata: { annotations: Record<string, string> };
        spec: { to: { kind: string; name: string }; port: { targetPort: string }; tls: { termination: string } };
      }
    >("openshift-route.yaml");
    expect(openshift.spec.to).toMatchObject({ kind: "Service", name: SIDECAR });
    expect(openshift.spec.port.targetPort).toBe(servicePort?.name);
    expect(openshift.spec.tls.termination, "TLS ends at the router, which then sends X-Forwarded-Proto: https").toBe(
      "edge",
    );
    const hours = (v: string | undefined) => {
      const m = /^(\d+)(s|m|h)$/.exec(v ?? "");
      return m ? Number(m[1]) / { s: 3600, m: 60, h: 1 }[m[2] as "s" | "m" | "h"] : 0;
    };
    expect(hours(openshift.metadata.annotations["haproxy.router.openshift.io/timeout"])).toBeGreaterThanOrEqual(1);
    expect(hours(openshift.metadata.annotations["haproxy.router.openshift.io/timeout-tunnel"])).toBeGreaterThanOrEqual(
      1,
    );
    // append (the router's default) or replace: the router writes the client it saw. never / if-none would pass a
    // client's own X-Forwarded-For through a trusted hop.
    expect(["append", "replace"]).toContain(
      openshift.metadata.annotations["haproxy.router.openshift.io/set-forwarded-headers"],
    );
  });

  it.each(OVERLAYS)(
    "%s: no NetworkPolicy names an ingress-nginx namespace; the proxy port admits the HTTPRoute's Gateway namespace",
    (overlay) => {
      const { sidecar } = sidecarTemplate(rendered[overlay]);
      const namespaces = byKind<INetworkPolicy>(rendered[overlay], "NetworkPolicy").flatMap((p) =>
        (p.spec?.ingress ?? []).flatMap((r) =>
          (r.from ?? []).flatMap((peer) => [
            ...Object.values(peer.namespaceSelector?.matchLabels ?? {}),
            ...(peer.namespaceSelector?.matchExpressions ?? []).flatMap((e) => e.values ?? []),
          ]),
        ),
      );
      expect(namespaces.length).toBeGreaterThan(0);
      for (const ns of namespaces) expect(ns).not.toMatch(/ingress-nginx/);
      const policy = byKind<INetworkPolicy>(rendered[overlay], "NetworkPolicy").find(
        (p) => p.metadata?.name === SIDECAR,
      );
      const proxyRule = policy?.spec?.ingress?.find((r) =>
        r.ports?.some((p) => p.port === containerPort(sidecar, "proxy")),
      );
      const route = example<{ spec: { parentRefs: Array<{ namespace: string }> } }>("gateway-api.yaml");
      expect(proxyRule?.from).toEqual([
        { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": route.spec.parentRefs[0]?.namespace } } },
      ]);
    },
  );

  it("nothing under deploy/kubernetes is specific to ingress-nginx (retired March 2026)", () => {
    const files = readdirSync(K8S, { recursive: true, encoding: "utf8" }).filter((f) => /\.(ya?ml|json5)$/.test(f));
    expect(files.length).toBeGreaterThan(10);
    for (const f of files)
      expect(readFileSync(`${K8S}/${f}`, "utf8"), f).not.toMatch(
        /ingress-nginx|nginx\.ingress\.kubernetes\.io|ingressClassName: nginx/,
      );
  });

  it("separate: at least two sidecar replicas, a PodDisruptionBudget that keeps one, rollouts that never go below the replica count, spread over nodes", () => {
    const objects = rendered.separate;
    const deployment = byKind<IDeployment>(objects, "Deployment").find((d) => d.metadata?.name === SIDECAR);
    const replicas = deployment?.spec?.replicas ?? 1;
    expect(replicas).toBeGreaterThanOrEqual(2);
    expect(deployment?.spec?.strategy?.rollingUpdate?.maxUnavailable).toBe(0);
    const { labels, spec } = sidecarTemplate(objects);
    const budgets = byKind<IPodDisruptionBudget>(objects, "PodDisruptionBudget");
    expect(budgets).toHaveLength(1);
    const budget = budgets[0]?.spec;
    for (const t of podTemplates(objects))
      expect(selects(budget?.selector?.matchLabels, t.labels), t.deployment).toBe(t.labels === labels);
    expect(budget?.minAvailable, "one of the two: maxUnavailable").toBeUndefined();
    const maxUnavailable = budget?.maxUnavailable;
    expect(typeof maxUnavailable).toBe("number");
    expect(maxUnavailable as number, "a drain can evict a replica").toBeGreaterThanOrEqual(1);
    expect(maxUnavailable as number, "and never all of them").toBeLessThan(replicas);
    const spread = spec.topologySpreadConstraints?.[0];
    expect(spread?.topologyKey).toBe("kubernetes.io/hostname");
    expect(spread?.whenUnsatisfiable, "still schedulable on one node").toBe("ScheduleAnyway");
    expect(selects(spread?.labelSelector?.matchLabels, labels)).toBe(true);
    // Replicas share nothing but their Secret: one Secret for every replica (cookie secret, token).
    expect(spec.volumes?.filter((v) => v.secret).map((v) => v.secret?.secretName)).toEqual(["openclaw-sidecar"]);
  });

  it("same-pod: one pod (the gateway's state volume is ReadWriteOnce), so no PodDisruptionBudget that could only block drains", () => {
    const gateway = byKind<IDeployment>(rendered["same-pod"], "Deployment");
    expect(gateway.map((d) => [d.metadata?.name, d.spec?.replicas])).toEqual([["openclaw-gateway", 1]]);
    expect(byKind(rendered["same-pod"], "PodDisruptionBudget")).toEqual([]);
  });

  it("the openclaw-operator example: a valid sidecar container whose config loads, behind the operator's Service, in front of a loopback gateway", () => {
    const [instance] = yamlDocs(readFileSync(`${K8S}/openclaw-operator/openclawinstance.yaml`, "utf8")) as Array<{
      spec: {
        gateway: { enabled: boolean };
        sidecars: IContainer[];
        sidecarVolumes: unknown[];
        networking: { service: { ports: Array<{ targetPort: number }> } };
        config: { raw: Json };
      };
    }>;
    const spec = instance?.spec;
    expect(spec?.gateway.enabled, "the operator's own nginx is off").toBe(false);
    const sidecar = spec?.sidecars.find((c) => c.name === SIDECAR) as IContainer;
    const pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "check" },
      spec: { containers: [sidecar], volumes: spec?.sidecarVolumes },
    };
    expect(() => validateObject(pod)).not.toThrow();
    const config = sidecarConfig(sidecar);
    expect(spec?.networking.service.ports.map((p) => p.targetPort)).toEqual([config.listen.port]);
    const gw = spec?.config.raw.gateway as Record<string, unknown> & {
      auth: { trustedProxy: { allowLoopback: boolean } };
    };
    expect(config.upstream.origin).toBe(`http://127.0.0.1:${String(gw.port)}`);
    expect(gw.bind).toBe("loopback");
    expect(gw.auth.trustedProxy.allowLoopback).toBe(true);
    // The same container as the same-pod overlay's.
    const { sidecar: overlaySidecar } = sidecarTemplate(rendered["same-pod"]);
    expect(envOf(sidecar)).toEqual(envOf(overlaySidecar));
    expect(sidecar.resources).toEqual(overlaySidecar.resources);
  });

  it.each(OVERLAYS)(
    "%s: deploy/prometheus/podmonitor.yaml validates and scrapes the sidecar's admin port",
    (overlay) => {
      const [monitor] = yamlDocs(readFileSync(`${DEPLOY}/prometheus/podmonitor.yaml`, "utf8")) as Array<
        K8sObject & {
          spec: {
            selector: { matchLabels: Record<string, string> };
            podMetricsEndpoints: Array<{ port: string; path: string }>;
          };
        }
      >;
      expect(() => validateObject(monitor as K8sObject)).not.toThrow();
      const { labels, sidecar } = sidecarTemplate(rendered[overlay]);
      expect(selects(monitor?.spec.selector.matchLabels, labels)).toBe(true);
      const endpoint = monitor?.spec.podMetricsEndpoints[0];
      expect(containerPort(sidecar, endpoint?.port ?? "")).toBe(sidecarConfig(sidecar).adminListen.port);
      expect(endpoint?.path).toBe("/metrics");
    },
  );
});
