import { compareStrings } from "../../common/compare.ts";
import { fingerprint } from "../../common/hash.ts";
import type { ServiceAccountRef } from "../../config/kube-names.ts";
import type { Resource } from "../../config/resources.ts";
import type { Endpoint } from "../../gen/meshlet/discovery/v1/Endpoint.ts";
import type { Resource as WireResource } from "../../gen/meshlet/discovery/v1/Resource.ts";
import type { Snapshot } from "../../gen/meshlet/discovery/v1/Snapshot.ts";
import type { RegisteredEndpoint } from "../registry/commands.ts";
import { canonicalJson } from "../resources/canonical.ts";
import { indexResources, type ResourceIndex, type ScopeRequest, scopeOf } from "./scope.ts";

/** The mesh part of one node's applied state, at one revision. */
export interface MeshState {
  revision: number;
  /** `json` is the stored canonical JSON of `resource`. */
  resources: readonly { resource: Resource; revision: number; json: string }[];
  endpoints: readonly RegisteredEndpoint[];
}

export interface ScopedSnapshot {
  snapshot: Required<Omit<Snapshot, "nonce">>;
  /** Digest of the content without its version: equal digests mean nothing this sidecar sees changed. */
  digest: string;
}

/** A state decoded for snapshot building: done once per revision, shared by every sidecar. */
export interface PreparedState {
  revision: number;
  index: ResourceIndex;
  /** By `${kind}/${name}`. */
  wire: Map<string, Required<WireResource>>;
  endpointsByService: Map<string, Required<Endpoint>[]>;
  /** Canonical JSON of a service's endpoint list, made at the first sidecar that needs it. */
  endpointsJson: Map<string, string>;
  /** Each applied Service's spec.serviceAccounts ([] when it lists none), for the identity a sidecar may carry. */
  serviceAccounts: Map<string, readonly ServiceAccountRef[]>;
}

export function prepareState(state: MeshState): PreparedState {
  const wire = new Map<string, Required<WireResource>>();
  for (const { resource, revision, json } of state.resources) {
    const { kind, metadata } = resource;
    wire.set(`${kind}/${metadata.name}`, { kind, name: metadata.name, revision, json });
  }
  const endpointsByService = new Map<string, Required<Endpoint>[]>();
  const add = (e: Required<Endpoint>) => {
    const list = endpointsByService.get(e.service);
    if (list === undefined) endpointsByService.set(e.service, [e]);
    else list.push(e);
  };
  const serviceAccounts = new Map<string, readonly ServiceAccountRef[]>();
  // Static endpoints (Service spec.endpoints) are for instances outside the mesh; their ids are "static-N".
  for (const { resource: r } of state.resources) {
    if (r.kind !== "Service") continue;
    serviceAccounts.set(r.metadata.name, r.spec.serviceAccounts ?? []);
    r.spec.endpoints.forEach((e, i) => {
      add({
        service: r.metadata.name,
        instance: `static-${i}`,
        address: e.address,
        port: e.port,
        labels: e.labels ?? {},
        weight: e.weight,
        namespace: "",
      });
    });
  }
  for (const e of state.endpoints) {
    add({
      service: e.service,
      instance: e.instance,
      address: e.address,
      port: e.port,
      labels: e.labels,
      weight: e.weight,
      namespace: e.namespace ?? "",
    });
  }
  for (const list of endpointsByService.values()) list.sort((a, b) => compareStrings(a.instance, b.instance));
  return {
    revision: state.revision,
    index: indexResources(state.resources.map((r) => r.resource)),
    wire,
    endpointsByService,
    endpointsJson: new Map(),
    serviceAccounts,
  };
}

/** One sidecar's view of a prepared state: the resources in its scope and the endpoints of its services. */
export function scopedSnapshot(prepared: PreparedState, request: ScopeRequest): ScopedSnapshot {
  const scope = scopeOf(prepared.index, request);
  const keys: string[] = [];
  for (const name of scope.services) keys.push(`Service/${name}`);
  for (const name of scope.routes) keys.push(`Route/${name}`);
  for (const name of scope.policies) keys.push(`Policy/${name}`);
  // An experiment reaches the callers of its target (outbound) and the target's own sidecars (inbound).
  for (const name of scope.services)
    for (const e of prepared.index.experimentsByService.get(name) ?? []) keys.push(`FaultExperiment/${e}`);
  // Authorization is enforced by the target's own sidecars only: callers never see who may call whom.
  for (const a of prepared.index.authorizationByService.get(request.service) ?? [])
    keys.push(`AuthorizationPolicy/${a}`);
  for (const p of prepared.index.peerAuthentications) keys.push(`PeerAuthentication/${p}`);
  keys.sort();
  const resources: Required<WireResource>[] = [];
  // What the digest covers: each resource's key and revision, and each service's endpoint list.
  const parts: string[] = [];
  for (const key of keys) {
    const message = prepared.wire.get(key);
    // A subscribed or routed-to service that does not exist is simply absent.
    if (message === undefined) continue;
    resources.push(message);
    parts.push(`${key}@${message.revision}`);
  }
  const endpoints: Required<Endpoint>[] = [];
  for (const service of [...scope.services].sort()) {
    const list = prepared.endpointsByService.get(service);
    if (list === undefined) continue;
    for (const e of list) endpoints.push(e);
    let json = prepared.endpointsJson.get(service);
    if (json === undefined) {
      json = list.map((e) => canonicalJson(e)).join("\n");
      prepared.endpointsJson.set(service, json);
    }
    parts.push(json);
  }
  return { snapshot: { version: prepared.revision, resources, endpoints }, digest: fingerprint(parts.join("\n")) };
}

export function buildSnapshot(state: MeshState, request: ScopeRequest): ScopedSnapshot {
  return scopedSnapshot(prepareState(state), request);
}
