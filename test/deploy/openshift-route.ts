// OpenShift's Route (route.openshift.io/v1) as TypeScript types, for the strict field check of strict-fields.ts: no
// kubernetes-models package covers OpenShift, so this file stands in for one. Transcribed by hand from openshift/api
// route/v1/types.go (RouteSpec, RouteTargetReference, RoutePort, TLSConfig and their enums; status left out, a
// manifest does not set it). Optional where the Go field is omitempty or a pointer, required otherwise; every
// enum is the closed list of its constants, so a misspelt key, a wrong type or an unknown value is refused.
import type { IService } from "kubernetes-models/v1/Service";

/** Kubernetes ObjectMeta, as every kubernetes-models type has it. */
type IObjectMeta = NonNullable<IService["metadata"]>;

export interface IRouteTargetReference {
  kind: "Service"; // "Currently, only 'Service' is allowed"
  name: string;
  weight?: number; // 0–256, default 100
}

export interface IRoute {
  apiVersion: "route.openshift.io/v1";
  kind: "Route";
  metadata: IObjectMeta;
  spec: {
    host?: string;
    subdomain?: string;
    path?: string;
    to: IRouteTargetReference;
    alternateBackends?: IRouteTargetReference[];
    port?: { targetPort: number | string };
    tls?: {
      termination: "edge" | "passthrough" | "reencrypt";
      certificate?: string;
      key?: string;
      caCertificate?: string;
      destinationCACertificate?: string;
      insecureEdgeTerminationPolicy?: "None" | "Allow" | "Redirect" | "";
    };
    wildcardPolicy?: "None" | "Subdomain";
  };
}
