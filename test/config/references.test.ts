import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatFinding } from "../../src/config/finding.ts";
import { parseResources } from "../../src/config/load.ts";
import { checkReferences } from "../../src/config/references.ts";

const doc = `apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: reviews}
spec: {ports: [{port: 8080}]}
---
apiVersion: meshlet.dev/v1
kind: Route
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
    - destinations: [{service: reviews, port: 8080}, {service: missing}, {service: reviews, port: 9}]
---
apiVersion: meshlet.dev/v1
kind: Route
metadata: {name: reviews-2}
spec:
  hosts: [reviews]
  http: [{destinations: [{service: reviews}]}]
---
apiVersion: meshlet.dev/v1
kind: Policy
metadata: {name: p1}
spec:
  target: {route: nothing}
  fallback: {on: [timeout], service: gone}
---
apiVersion: meshlet.dev/v1
kind: Policy
metadata: {name: p2}
spec: {target: {service: reviews}}
`;

describe("checkReferences", () => {
  it("reports each dangling reference with resource and field path", () => {
    assert.deepEqual(checkReferences(parseResources(doc, "x.yaml")).map(formatFinding), [
      'Route/reviews spec.http[0].destinations[1].service: Service "missing" does not exist',
      'Route/reviews spec.http[0].destinations[2].port: Service "reviews" has no port 9',
      'Route/reviews-2 spec.hosts[0]: host "reviews" is also claimed by Route/reviews; the rules of the route whose name sorts first are tried first',
      'Policy/p1 spec.target.route: Route "nothing" does not exist',
      'Policy/p1 spec.fallback.service: Service "gone" does not exist',
    ]);
  });

  it("finds nothing in a consistent set", () => {
    const consistent = doc.split("---\n").slice(0, 1).concat(doc.split("---\n").slice(4)).join("---\n");
    const route = `apiVersion: meshlet.dev/v1
kind: Route
metadata: {name: reviews}
spec: {hosts: [reviews], http: [{destinations: [{service: reviews, port: 8080}]}]}
`;
    assert.deepEqual(checkReferences(parseResources(`${consistent}---\n${route}`, "x.yaml")), []);
  });

  it("warns about a namespace PeerAuthentication no sidecar can be in (no Service lists an account there)", () => {
    const resources = parseResources(
      `apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: reviews}
spec: {serviceAccounts: [{namespace: legacy, name: reviews}]}
---
apiVersion: meshlet.dev/v1
kind: PeerAuthentication
metadata: {name: legacy}
spec: {namespace: legacy, mtls: {mode: PERMISSIVE}}
---
apiVersion: meshlet.dev/v1
kind: PeerAuthentication
metadata: {name: typo}
spec: {namespace: legcy, mtls: {mode: PERMISSIVE}}
---
apiVersion: meshlet.dev/v1
kind: PeerAuthentication
metadata: {name: mesh}
spec: {mtls: {mode: STRICT}}
`,
      "pa.yaml",
    );
    assert.deepEqual(checkReferences(resources).map(formatFinding), [
      'PeerAuthentication/typo spec.namespace: no Service lists a service account in namespace "legcy" (spec.serviceAccounts), so no sidecar is in it',
    ]);
  });

  it("warns about a service account two Services list (callers with it are taken for either)", () => {
    const resources = parseResources(
      `apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: reviews}
spec: {serviceAccounts: [{namespace: shop, name: reviews}, {namespace: shop, name: shared}]}
---
apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: ratings}
spec: {serviceAccounts: [{namespace: shop, name: ratings}, {namespace: shop, name: shared}]}
---
apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: other}
spec: {serviceAccounts: [{namespace: other, name: shared}, {namespace: other, name: shared}]}
`,
      "sa.yaml",
    );
    const findings = checkReferences(resources);
    assert.deepEqual(findings.map(formatFinding), [
      'Service/ratings spec.serviceAccounts[1]: service account "shop/shared" is also listed by Service/reviews: a sidecar with it may register as, and passes its callers\' identity check as, any Service listing it; as a caller it counts as all of them (an AuthorizationPolicy ALLOW needs every one allowed, a DENY of any one refuses it)',
    ]);
    assert.deepEqual(
      [findings[0]?.code, findings[0]?.severity, findings[0]?.related],
      ["SharedServiceAccount", "warning", ["Service/reviews"]],
    );
  });
});
