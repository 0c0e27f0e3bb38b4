import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseResources } from "../../../src/config/load.ts";
import { registeredEndpoints } from "../../../src/sidecar/discovery/registered.ts";

const resources = parseResources(
  `apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: ratings}
spec:
  ports: [{port: 80}]
  endpoints: [{address: 127.0.0.1, port: 9080}]
---
apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: reviews}
spec:
  ports: [{port: 80}]
  endpoints: [{address: 10.0.0.7, port: 80}]
`,
  "mesh.yaml",
);

const ep = (service: string, instance: string, address: string, port: number) => ({
  service,
  instance,
  address,
  port,
  labels: {},
  weight: 1,
  namespace: "",
});

describe("registered endpoints of a discovery snapshot", () => {
  it("leaves out each Service's static endpoints (plain apps), whatever their instance id", () => {
    const endpoints = [
      ep("ratings", "static-0", "127.0.0.1", 9080),
      ep("ratings", "host-a-15006", "127.0.0.1", 15006),
      ep("reviews", "static-0", "10.0.0.7", 80),
      // A sidecar may pick any instance id, "static-…" included: it is still a sidecar.
      ep("reviews", "static-15006", "10.0.0.8", 15006),
      // The same address as ratings' static endpoint, registered for another Service.
      ep("reviews", "host-c-9080", "127.0.0.1", 9080),
    ];
    assert.deepEqual(
      registeredEndpoints({ resources, endpoints }).map((e) => `${e.service} ${e.address}:${e.port}`),
      ["ratings 127.0.0.1:15006", "reviews 10.0.0.8:15006", "reviews 127.0.0.1:9080"],
    );
  });
});
