import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import jsonpatch from "fast-json-patch";
import { parse } from "yaml";
import { review } from "../../src/kube/admission.ts";
import { mutateManifest } from "../../src/kube/manifests.ts";
import type { InjectOptions } from "../../src/kube/pod-injection.ts";

const OPTIONS: InjectOptions = {
  image: "meshlet:0.1.0",
  control: "meshlet-control.meshlet-system.svc:15010",
  nativeSidecar: true,
  intercept: true,
  proxyUid: 1337,
};

/** A Pod made by a ReplicaSet, as the API server sends it: no name yet, a generateName, an owner. */
const POD = {
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    generateName: "reviews-v1-5d8f7c9b4-",
    namespace: "shop",
    labels: { app: "reviews", version: "v1", "pod-template-hash": "5d8f7c9b4" },
    ownerReferences: [
      { apiVersion: "apps/v1", kind: "ReplicaSet", name: "reviews-v1-5d8f7c9b4", uid: "1", controller: true },
    ],
  },
  spec: {
    containers: [{ name: "reviews", image: "reviews:1", ports: [{ containerPort: 9080 }] }],
    serviceAccountName: "default",
  },
};

/** An AdmissionReview as the Kubernetes documentation shows one ("Webhook request and response"). */
function admissionReview(object: unknown = POD, overrides: Record<string, unknown> = {}) {
  return {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: "705ab4f5-6393-11e8-b7cc-42010a800002",
      kind: { group: "", version: "v1", kind: "Pod" },
      resource: { group: "", version: "v1", resource: "pods" },
      requestKind: { group: "", version: "v1", kind: "Pod" },
      requestResource: { group: "", version: "v1", resource: "pods" },
      namespace: "shop",
      operation: "CREATE",
      userInfo: {
        username: "system:serviceaccount:kube-system:replicaset-controller",
        groups: ["system:serviceaccounts"],
      },
      object,
      oldObject: null,
      dryRun: false,
      options: { apiVersion: "meta.k8s.io/v1", kind: "CreateOptions" },
      ...overrides,
    },
  };
}

// biome-ignore lint/suspicious/noExplicitAny: AdmissionReview answers read back field by field
type Any = any;
const call = (body: unknown) => review(typeof body === "string" ? body : JSON.stringify(body), OPTIONS);
const patchOf = (answer: ReturnType<typeof review>): jsonpatch.Operation[] =>
  JSON.parse(Buffer.from((answer.body as Any).response.patch, "base64").toString("utf8"));

describe("the injection webhook's review", () => {
  it("answers a Pod CREATE with a JSON Patch that gives exactly what meshlet inject writes", () => {
    const answer = call(admissionReview());
    assert.equal(answer.status, 200);
    const response = (answer.body as Any).response;
    assert.equal(response.uid, "705ab4f5-6393-11e8-b7cc-42010a800002");
    assert.equal(response.allowed, true);
    assert.equal(response.patchType, "JSONPatch");
    const patched = jsonpatch.applyPatch(structuredClone(POD), patchOf(answer), true, false).newDocument;
    const cli = parse(mutateManifest(JSON.stringify(POD), { action: "inject", options: OPTIONS }, "pod").text);
    assert.deepEqual(patched, cli);
    // The service comes from the app label; the workload name would come from generateName.
    assert.match(JSON.stringify(patched), /"--service","reviews"/);
    // A pod the webhook already injected (or inject already did) is allowed as it is.
    const again = call(admissionReview(patched));
    assert.equal((again.body as Any).response.patch, undefined);
    assert.equal(again.result, "skipped");
  });

  it("allows what it does not mutate, with no patch", () => {
    const cases: [string, unknown][] = [
      ["an UPDATE", admissionReview(POD, { operation: "UPDATE" })],
      ["a Deployment", admissionReview(POD, { kind: { group: "apps", version: "v1", kind: "Deployment" } })],
      ["a subresource", admissionReview(POD, { subResource: "status" })],
    ];
    for (const [what, body] of cases) {
      const a = call(body);
      assert.equal(a.status, 200, what);
      assert.deepEqual((a.body as Any).response, { uid: "705ab4f5-6393-11e8-b7cc-42010a800002", allowed: true }, what);
    }
    const optedOut = { ...POD, metadata: { ...POD.metadata, annotations: { "meshlet.dev/inject": "disabled" } } };
    const skipped = call(admissionReview(optedOut));
    assert.equal((skipped.body as Any).response.allowed, true);
    assert.equal((skipped.body as Any).response.patch, undefined);
    assert.match((skipped.body as Any).response.warnings[0], /meshlet.dev\/inject is disabled/);
  });

  it("denies a pod it cannot inject, with the reason", () => {
    const bad = { ...POD, metadata: { ...POD.metadata, annotations: { "meshlet.dev/app-port": "grpc" } } };
    const a = call(admissionReview(bad));
    assert.equal(a.status, 200);
    assert.equal((a.body as Any).response.allowed, false);
    assert.match((a.body as Any).response.status.message, /no container port is named "grpc"/);
    const noSpec = call(admissionReview({ apiVersion: "v1", kind: "Pod", metadata: {} }));
    assert.equal((noSpec.body as Any).response.allowed, false);
    const notObject = call(admissionReview("a string"));
    assert.equal((notObject.body as Any).response.allowed, false);
  });

  it("refuses what is no AdmissionReview with 400 and a clear error (table)", () => {
    const table: [string, unknown, RegExp][] = [
      ["malformed JSON", '{"apiVersion": ', /not JSON/],
      ["empty body", "", /not JSON/],
      ["an array", "[]", /expected an AdmissionReview object/],
      ["null", "null", /expected an AdmissionReview object/],
      [
        "v1beta1",
        { ...admissionReview(), apiVersion: "admission.k8s.io/v1beta1" },
        /expected apiVersion admission.k8s.io\/v1/,
      ],
      ["another kind", { ...admissionReview(), kind: "Pod" }, /kind AdmissionReview/],
      ["no request", { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview" }, /no request/],
      ["no uid", admissionReview(POD, { uid: "" }), /request.uid/],
      ["a numeric uid", admissionReview(POD, { uid: 7 }), /request.uid/],
      [
        "a __proto__ request",
        '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"__proto__":{"uid":"x"}}}',
        /request.uid/,
      ],
    ];
    for (const [what, body, message] of table) {
      const a = call(body);
      assert.equal(a.status, 400, what);
      assert.equal(a.result, "invalid", what);
      assert.match((a.body as Any).error.message, message, what);
    }
  });

  it("never throws on any input, and answers a review only with its own uid (property)", () => {
    const podish = fc.record(
      {
        apiVersion: fc.constant("v1"),
        kind: fc.constant("Pod"),
        metadata: fc.record(
          {
            labels: fc.dictionary(fc.string(), fc.string()),
            annotations: fc.dictionary(
              fc.constantFrom("meshlet.dev/app-port", "meshlet.dev/service", "meshlet.dev/inject", "x"),
              fc.string(),
            ),
          },
          { requiredKeys: [] },
        ),
        spec: fc.record(
          {
            containers: fc.array(
              fc.record(
                {
                  name: fc.string(),
                  ports: fc.array(
                    fc.record(
                      { containerPort: fc.oneof(fc.integer(), fc.string()), name: fc.string() },
                      { requiredKeys: [] },
                    ),
                  ),
                },
                { requiredKeys: [] },
              ),
            ),
            initContainers: fc.anything(),
          },
          { requiredKeys: [] },
        ),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.jsonValue().map((v) => JSON.stringify(v)),
          podish.map((p) => JSON.stringify(admissionReview(p))),
        ),
        (body) => {
          const a = review(body, OPTIONS);
          assert.ok(a.status === 200 || a.status === 400);
          if (a.status === 200) assert.equal((a.body as Any).response.uid, "705ab4f5-6393-11e8-b7cc-42010a800002");
        },
      ),
      { numRuns: 1000 },
    );
  });
});
