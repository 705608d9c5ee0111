// Validates a rendered object against the Kubernetes (and Gateway API, Prometheus Operator) OpenAPI schemas shipped
// by the kubernetes-models packages. A kind without a schema here is an error, so a new kind cannot slip past.
// OpenShift's Route has no published model package: it is checked against its transcribed types (openshift-route.ts)
// by the strict field check alone, which refuses unknown fields, wrong types, missing required fields and enum values.
import { HTTPRoute } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1";
import { PodMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
import { Deployment } from "kubernetes-models/apps/v1";
import { Ingress, NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { ConfigMap, PersistentVolumeClaim, Pod, Service } from "kubernetes-models/v1";
import { unknownFields } from "./strict-fields.ts";

interface Validatable {
  validate(): void;
}
type Model = new (data: never) => Validatable;
const MODELS: Record<string, Model> = {
  "apps/v1/Deployment": Deployment,
  "v1/Service": Service,
  "v1/ConfigMap": ConfigMap,
  "v1/PersistentVolumeClaim": PersistentVolumeClaim,
  "v1/Pod": Pod,
  "networking.k8s.io/v1/NetworkPolicy": NetworkPolicy,
  "networking.k8s.io/v1/Ingress": Ingress,
  "gateway.networking.k8s.io/v1/HTTPRoute": HTTPRoute,
  "monitoring.coreos.com/v1/PodMonitor": PodMonitor,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
  "route.openshift.io/v1/Route": class {
    readonly data: { apiVersion: string; kind: string };
    constructor(data: { apiVersion: string; kind: string }) {
      this.data = data;
    }
    validate(): void {
      const problems = unknownFields([this.data]);
      if (problems.length > 0) throw new Error(problems.join("\n"));
    }
  },
};

/** Throws the schema's complaint (path and rule), or that no schema is known for the kind. */
export function validateObject(obj: { apiVersion: string; kind: string }): void {
  const Model = MODELS[`${obj.apiVersion}/${obj.kind}`];
  if (Model === undefined) throw new Error(`no schema for ${obj.apiVersion} ${obj.kind}`);
  new Model(obj as never).validate();
}
