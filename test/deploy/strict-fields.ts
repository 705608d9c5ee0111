// Unknown fields: the OpenAPI schemas in kubernetes-models accept any extra key (a misspelt `readinessprobe` passes),
// where the API server's strict field validation refuses it. The models' TypeScript interfaces do not: each rendered
// object is checked as an object literal of its interface type, and TypeScript's excess-property check names the
// unknown field. The source lives in memory only, beside this file so that the packages resolve.
import ts from "typescript";
import { fileURLToPath } from "node:url";

const TYPES: Record<string, [module: string, type: string]> = {
  "apps/v1/Deployment": ["kubernetes-models/apps/v1/Deployment", "IDeployment"],
  "v1/Service": ["kubernetes-models/v1/Service", "IService"],
  "v1/ConfigMap": ["kubernetes-models/v1/ConfigMap", "IConfigMap"],
  "v1/PersistentVolumeClaim": ["kubernetes-models/v1/PersistentVolumeClaim", "IPersistentVolumeClaim"],
  "v1/Pod": ["kubernetes-models/v1/Pod", "IPod"],
  "networking.k8s.io/v1/NetworkPolicy": ["kubernetes-models/networking.k8s.io/v1/NetworkPolicy", "INetworkPolicy"],
  "networking.k8s.io/v1/Ingress": ["kubernetes-models/networking.k8s.io/v1/Ingress", "IIngress"],
  "gateway.networking.k8s.io/v1/HTTPRoute": [
    "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute",
    "IHTTPRoute",
  ],
  "monitoring.coreos.com/v1/PodMonitor": [
    "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor",
    "IPodMonitor",
  ],
  "policy/v1/PodDisruptionBudget": ["kubernetes-models/policy/v1/PodDisruptionBudget", "IPodDisruptionBudget"],
  // No package models OpenShift: its Route's types are transcribed in ./openshift-route.ts.
  "route.openshift.io/v1/Route": ["./openshift-route.ts", "IRoute"],
};

/** TypeScript's complaints about the objects, one line each ("" when every field is known). */
export function unknownFields(objects: Array<{ apiVersion: string; kind: string }>): string[] {
  const file = fileURLToPath(new URL("./strict-fields.check.ts", import.meta.url));
  const lines = objects.map((o, i) => {
    const entry = TYPES[`${o.apiVersion}/${o.kind}`];
    if (!entry) throw new Error(`no type for ${o.apiVersion} ${o.kind}`);
    return `import type { ${entry[1]} as T${i} } from "${entry[0]}";\nexport const o${i}: T${i} = ${JSON.stringify(o)};`;
  });
  const source = lines.join("\n");
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    types: [],
    allowImportingTsExtensions: true,
  };
  const host = ts.createCompilerHost(options);
  const read = host.readFile.bind(host);
  const exists = host.fileExists.bind(host);
  const get = host.getSourceFile.bind(host);
  host.readFile = (f) => (f === file ? source : read(f));
  host.fileExists = (f) => f === file || exists(f);
  host.getSourceFile = (f, v, ...rest) => (f === file ? ts.createSourceFile(f, source, v) : get(f, v, ...rest));
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, " ");
    const index = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : -1;
    const o = objects[Math.floor(index / 2)];
    return `${o ? `${o.kind}: ` : ""}${text}`;
  });
}
