import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type ClientDuplexStream, credentials, Server, ServerCredentials, status } from "@grpc/grpc-js";
import { systemClock } from "../../../src/common/clock.ts";
import { silentLogger } from "../../../src/common/logger.ts";
import { createRegistry } from "../../../src/common/metrics.ts";
import { discoveryProto } from "../../../src/config/discovery-proto.ts";
import { parseResources } from "../../../src/config/load.ts";
import {
  type CertificateIssuer,
  DiscoveryServer,
  type TrustBundle,
} from "../../../src/controlplane/discovery/server.ts";
import type { DiscoveryClient } from "../../../src/gen/meshlet/discovery/v1/Discovery.ts";
import type { DiscoveryRequest } from "../../../src/gen/meshlet/discovery/v1/DiscoveryRequest.ts";
import type { DiscoveryResponse__Output } from "../../../src/gen/meshlet/discovery/v1/DiscoveryResponse.ts";
import type { WorkloadName } from "../../../src/security/spiffe.ts";
import { MemorySource } from "./memory-source.ts";

const SERVICES = `apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: reviews}
spec:
  serviceAccounts: [{namespace: bookinfo, name: reviews}, {namespace: bookinfo, name: reviews-v2}]
---
apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: ratings}
spec: {}
`;

const BUNDLE: TrustBundle = { bundlePem: "ROOTS", issuersPem: "ISSUERS", revision: 1, trustDomain: "cluster.local" };

/** One stream: what came back (bundles, certificates) and how it ended. */
class Stream {
  readonly call: ClientDuplexStream<DiscoveryRequest, DiscoveryResponse__Output>;
  readonly identities: string[] = [];
  readonly certificates: { code: string; error: string; requestId: number }[] = [];
  error: { code?: number; details?: string } | undefined;

  constructor(client: DiscoveryClient) {
    this.call = client.Stream();
    this.call.on("data", (res: DiscoveryResponse__Output) => {
      if (res.trustBundle) this.identities.push(res.trustBundle.identity);
      if (res.certificate)
        this.certificates.push({
          code: res.certificate.errorCode,
          error: res.certificate.error,
          requestId: res.certificate.requestId,
        });
    });
    this.call.on("error", (err: { code?: number; details?: string }) => {
      this.error = err;
    });
  }

  async until<T>(what: string, fn: () => T | undefined): Promise<T> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const v = fn();
      if (v !== undefined) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

describe("discovery stream: which identity a sidecar may carry", () => {
  const source = new MemorySource();
  const issued: WorkloadName[] = [];
  const issuer: CertificateIssuer = {
    issueWorkload: async (name) => {
      issued.push(name);
      return { certChainPem: "CHAIN", bundle: BUNDLE };
    },
    onChange: (listener) => {
      listener(BUNDLE);
      return () => {};
    },
  };
  const registry = createRegistry({ processMetrics: false });
  const discovery = new DiscoveryServer(source, {
    clock: systemClock,
    logger: silentLogger(),
    registry,
    debounceMs: 10,
    certificates: issuer,
  });
  const server = new Server();
  let client: DiscoveryClient;
  const streams: Stream[] = [];
  const open = (hello: NonNullable<DiscoveryRequest["hello"]>) => {
    const s = new Stream(client);
    streams.push(s);
    s.call.write({ hello: { instance: "i", ...hello } });
    return s;
  };
  const rejected = async (reason: string) =>
    (await registry.getSingleMetric("meshlet_discovery_rejected_total")?.get())?.values.find(
      (v) => v.labels.reason === reason,
    )?.value ?? 0;

  before(async () => {
    server.addService(discoveryProto().meshlet.discovery.v1.Discovery.service, discovery.handlers());
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    client = new (discoveryProto().meshlet.discovery.v1.Discovery)(`127.0.0.1:${port}`, credentials.createInsecure());
    await source.propose({ type: "mesh.apply", resources: parseResources(SERVICES, "s") });
  });
  after(() => {
    for (const s of streams) s.call.cancel();
    client.close();
    discovery.close();
    server.forceShutdown();
  });

  it("a sidecar without an account is its service: told so with the bundle, and signed so", async () => {
    const s = open({ nodeId: "a", service: "ratings" });
    assert.equal(await s.until("bundle", () => s.identities[0]), "spiffe://cluster.local/service/ratings");
    s.call.write({ certificateRequest: { csrPem: "CSR" } });
    const answer = await s.until("certificate", () => s.certificates[0]);
    assert.equal(answer.requestId, 0, "an older sidecar's request (no id): none echoed");
    assert.deepEqual(issued.at(-1), { service: "ratings" });
  });

  it("an account the Service lists is the identity", async () => {
    const s = open({ nodeId: "b", service: "reviews", namespace: "bookinfo", serviceAccount: "reviews-v2" });
    assert.equal(await s.until("bundle", () => s.identities[0]), "spiffe://cluster.local/ns/bookinfo/sa/reviews-v2");
    s.call.write({ certificateRequest: { csrPem: "CSR", requestId: 7 } });
    assert.deepEqual(await s.until("certificate", () => s.certificates[0]), { code: "", error: "", requestId: 7 });
    assert.deepEqual(issued.at(-1), { namespace: "bookinfo", serviceAccount: "reviews-v2" });
  });

  it("refuses an account the Service does not list, one of another namespace, and any on a Service without a list", async () => {
    const before = await rejected("wrong_identity");
    const cases = [
      { service: "reviews", namespace: "bookinfo", serviceAccount: "ratings" },
      { service: "reviews", namespace: "default", serviceAccount: "reviews" },
      { service: "reviews", namespace: "bookinfo", serviceAccount: "reviews-v" },
      { service: "ratings", namespace: "bookinfo", serviceAccount: "reviews" },
      { service: "unknown", namespace: "bookinfo", serviceAccount: "reviews" },
    ];
    for (const [i, c] of cases.entries()) {
      const s = open({ nodeId: `w${i}`, ...c });
      const err = await s.until("refusal", () => s.error);
      assert.equal(err.code, status.PERMISSION_DENIED, JSON.stringify(c));
      assert.match(
        String(err.details),
        new RegExp(`service account ${c.namespace}/${c.serviceAccount} may not act as service "${c.service}"`),
      );
      assert.deepEqual(s.identities, [], "no bundle, so no identity, before the refusal");
    }
    assert.equal(await rejected("wrong_identity"), before + cases.length);
  });

  it("refuses half an account or a name Kubernetes would not accept", async () => {
    for (const [i, c] of [
      { namespace: "bookinfo", serviceAccount: "" },
      { namespace: "", serviceAccount: "reviews" },
      { namespace: "Bookinfo", serviceAccount: "reviews" },
      { namespace: "bookinfo", serviceAccount: "re/views" },
      { namespace: "bookinfo", serviceAccount: ".." },
    ].entries()) {
      const s = open({ nodeId: `h${i}`, service: "reviews", ...c });
      const err = await s.until("refusal", () => s.error);
      assert.equal(err.code, status.INVALID_ARGUMENT, JSON.stringify(c));
    }
  });

  it("checks again at each certificate request: an account taken off the list gets no renewal", async () => {
    const s = open({ nodeId: "r", service: "reviews", namespace: "bookinfo", serviceAccount: "reviews" });
    await s.until("bundle", () => s.identities[0]);
    await source.propose({
      type: "mesh.apply",
      resources: parseResources(SERVICES.replace("[{namespace: bookinfo, name: reviews}, ", "["), "s"),
    });
    const before = issued.length;
    s.call.write({ certificateRequest: { csrPem: "CSR", requestId: 9 } });
    const answer = await s.until("certificate answer", () => s.certificates[0]);
    assert.equal(answer.code, "ERR_CSR_IDENTITY");
    assert.equal(answer.requestId, 9, "a refusal echoes the request's id");
    assert.match(answer.error, /does not list it/);
    assert.equal(issued.length, before, "nothing was signed");
  });
});
