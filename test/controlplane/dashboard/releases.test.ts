import assert from "node:assert/strict";
import { test } from "node:test";
import { parseResources } from "../../../src/config/load.ts";
import { buildView } from "../../../src/controlplane/dashboard/view.ts";
import type { SidecarView } from "../../../src/controlplane/resources/api-types.ts";

function sidecar(instance: string, service: string, sent: number, acked: number): SidecarView {
  return {
    id: `${service}-${instance}`,
    service,
    instance,
    node: "n1",
    lastPushedVersion: 1,
    lastAckedVersion: 1,
    lastNack: null,
    status: null,
    traffic: null,
    config: { sentRevision: sent, ackedRevision: acked },
  };
}

test("the dashboard shows which instances get a release's value, by its selector, and which have acknowledged it", () => {
  const resources = parseResources(
    `apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: web}
spec: {config: {prefixes: [app/]}}
---
apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: other}
---
apiVersion: meshlet.dev/v1
kind: ConfigRelease
metadata: {name: flag-v2}
spec: {key: app/flag, value: "on", selector: {labels: {version: v2}}}
`,
    "t",
  );
  const endpoint = (instance: string, version: string) => ({
    service: "web",
    instance,
    address: "127.0.0.1",
    port: 1,
    labels: { version },
    weight: 1,
    leaseId: `web:${instance}`,
  });
  const view = buildView({
    nodeId: "n1",
    clusterId: "c",
    leader: "n1",
    term: 1,
    commitIndex: 9,
    appliedIndex: 9,
    members: [{ id: "n1", address: "a", role: "voter" }],
    revision: 9,
    resources,
    endpoints: [endpoint("w1", "v1"), endpoint("w2", "v2"), endpoint("w3", "v2")],
    cluster: {
      sidecars: [
        sidecar("w2", "web", 9, 9),
        sidecar("w1", "web", 9, 9),
        sidecar("w3", "web", 9, 5),
        sidecar("o1", "other", 9, 9),
      ],
      unreachable: [],
      nodes: [],
    },
  });
  assert.deepEqual(view.releases, [
    {
      name: "flag-v2",
      key: "app/flag",
      selector: "version=v2",
      instances: [
        { instance: "w1", service: "web", value: "base", acked: true },
        { instance: "w2", service: "web", value: "release", acked: true },
        { instance: "w3", service: "web", value: "release", acked: false },
      ],
    },
  ]);
});
