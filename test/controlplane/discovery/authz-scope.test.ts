import assert from "node:assert/strict";
import { it } from "node:test";
import { parseResources } from "../../../src/config/load.ts";
import { prepareState, scopedSnapshot } from "../../../src/controlplane/discovery/snapshot.ts";

const YAML = `apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: reviews}
---
apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: web}
---
apiVersion: meshlet.dev/v1
kind: AuthorizationPolicy
metadata: {name: reviews-readers}
spec: {targetService: reviews, rules: [{from: {services: [web]}}]}
`;

it("an AuthorizationPolicy reaches its target's own sidecars only, never the callers that subscribe to it", () => {
  const resources = parseResources(YAML, "mesh.yaml");
  const state = prepareState({
    revision: 1,
    resources: resources.map((resource) => ({ resource, revision: 1, json: JSON.stringify(resource) })),
    endpoints: [],
  });
  const kinds = (service: string, subscribe: string[]) =>
    scopedSnapshot(state, { service, subscribe }).snapshot.resources.map((r) => `${r.kind}/${r.name}`);
  assert.deepEqual(kinds("reviews", []), ["AuthorizationPolicy/reviews-readers", "Service/reviews"]);
  assert.deepEqual(kinds("web", ["reviews"]), ["Service/reviews", "Service/web"]);
  assert.deepEqual(kinds("web", ["*"]), ["Service/reviews", "Service/web"]);
});

it("every PeerAuthentication reaches every sidecar: a caller needs its callees' namespaces' modes", () => {
  const yaml = `${YAML}---
apiVersion: meshlet.dev/v1
kind: PeerAuthentication
metadata: {name: mesh}
spec: {mtls: {mode: PERMISSIVE}}
---
apiVersion: meshlet.dev/v1
kind: PeerAuthentication
metadata: {name: legacy}
spec: {namespace: legacy, mtls: {mode: DISABLE}}
`;
  const resources = parseResources(yaml, "mesh.yaml");
  const state = prepareState({
    revision: 1,
    resources: resources.map((resource) => ({ resource, revision: 1, json: JSON.stringify(resource) })),
    endpoints: [],
  });
  const kinds = (service: string, subscribe: string[]) =>
    scopedSnapshot(state, { service, subscribe })
      .snapshot.resources.filter((r) => r.kind === "PeerAuthentication")
      .map((r) => r.name);
  for (const [service, subscribe] of [
    ["web", []],
    ["web", ["reviews"]],
    ["reviews", ["*"]],
    ["unknown", []],
  ] as const)
    assert.deepEqual(kinds(service, [...subscribe]), ["legacy", "mesh"], `${service} ${subscribe.join(",")}`);
});
