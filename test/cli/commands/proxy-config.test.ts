import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  clustersView,
  type EndpointsDump,
  endpointsView,
  policiesView,
  routesView,
} from "../../../src/cli/commands/proxy-config-actions.ts";
import { parseResources } from "../../../src/config/load.ts";

const resources = parseResources(
  `apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: reviews}
---
apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: ratings}
---
apiVersion: meshlet.dev/v1
kind: Route
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
    - name: canary
      match: [{pathPrefix: /api, headers: {x-canary: "true"}}, {methods: [POST]}]
      destinations: [{service: reviews, subset: {version: v2}}]
    - destinations: [{service: reviews, subset: {version: v2}, weight: 10}, {service: reviews, weight: 90}]
      retries: {attempts: 2}
---
apiVersion: meshlet.dev/v1
kind: Policy
metadata: {name: ratings-cb}
spec: {target: {service: ratings}, circuitBreaker: {errorThresholdPercentage: 50}, outlierDetection: {}}
`,
  "p.yaml",
);

const dump: EndpointsDump = {
  version: "7",
  services: {
    ratings: {
      loadBalancer: "roundRobin",
      endpoints: [
        {
          address: "10.0.0.1",
          port: 80,
          weight: 1,
          labels: { version: "v1" },
          active: 2,
          healthy: true,
          outlier: { ejected: true },
        },
        { address: "10.0.0.2", port: 80, weight: 1, labels: {}, active: 0, healthy: true, outlier: { ejected: false } },
      ],
    },
    reviews: { loadBalancer: "roundRobin", endpoints: [] },
  },
  breakers: [{ target: "service/ratings", state: 2 }],
};

describe("meshlet proxy-config views", () => {
  it("routes: host by host, in the order the sidecar tries them, and services without a Route", () => {
    assert.deepEqual(
      routesView(resources).map((r) => [r.host, r.route, r.match, r.destinations, r.retries]),
      [
        ["reviews", "reviews/canary", "prefix=/api x-canary=true | methods=POST", "reviews[version=v2]", "-"],
        ["reviews", "reviews#1", "*", "reviews[version=v2] 10, reviews 90", "2 on connect-failure,gateway-error"],
        ["ratings", "service/ratings", "*", "ratings", "-"],
      ],
    );
  });

  it("clusters, endpoints and policies: counts what is ejected, names the breaker's state", () => {
    assert.deepEqual(
      clustersView(resources, dump).map((c) => [c.service, c.endpoints, c.healthy, c.policy, c.breaker]),
      [
        ["ratings", 2, 1, "ratings-cb", "open"],
        ["reviews", 0, 0, "-", "-"],
      ],
    );
    assert.deepEqual(
      endpointsView(dump).map((e) => [e.address, e.ejected, e.labels]),
      [
        ["10.0.0.1:80", true, "version=v1"],
        ["10.0.0.2:80", false, "-"],
      ],
    );
    assert.deepEqual(policiesView(resources, dump), [
      { policy: "ratings-cb", target: "service/ratings", features: "circuitBreaker,outlierDetection", breaker: "open" },
    ]);
  });
});
