import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Registry } from "prom-client";
import { FakeClock } from "../../../src/common/clock.ts";
import { silentLogger } from "../../../src/common/logger.ts";
import { parseResources } from "../../../src/config/load.ts";
import type { Endpoint__Output } from "../../../src/gen/meshlet/discovery/v1/Endpoint.ts";
import { CertificateAuthority, createRootCa } from "../../../src/security/ca.ts";
import { verifyCsr } from "../../../src/security/csr.ts";
import type { ConnectorFor } from "../../../src/sidecar/engine/upstreams.ts";
import { MeshTls } from "../../../src/sidecar/mtls/mesh-tls.ts";
import { compileSnapshot } from "../../../src/sidecar/snapshot.ts";
import type { UpstreamEndpoint } from "../../../src/sidecar/upstream/balancer.ts";

const TD = "cluster.local";

const endpoint = (service: string, instance: string, port: number, namespace = ""): Endpoint__Output => ({
  service,
  instance,
  address: "127.0.0.1",
  port,
  labels: {},
  weight: 1,
  namespace,
});
const upstream = (port: number): UpstreamEndpoint => ({
  key: `127.0.0.1:${port}`,
  address: "127.0.0.1",
  port,
  weight: 1,
  labels: {},
  active: 0,
});

describe("MeshTls transport plan", () => {
  it("dials registered sidecars with mTLS and a Service's static endpoints in plain text", async () => {
    const ca = CertificateAuthority.load(await createRootCa(TD, { now: Date.now(), ttlMs: 3_600_000 }));
    let csr = "";
    let plan: ConnectorFor | undefined;
    const mtls = new MeshTls({
      service: "web",
      clock: new FakeClock(),
      wallNow: () => Date.now(),
      logger: silentLogger(),
      registry: new Registry(),
      send: (pem) => {
        csr = pem;
        return true;
      },
      useTransports: (c) => {
        plan = c;
      },
    });
    try {
      mtls.registered({
        version: 1,
        // The static endpoint is the one its Service declares, whatever its instance id.
        resources: parseResources(
          "apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: app}\nspec:\n  ports: [{port: 80}]\n  endpoints: [{address: 127.0.0.1, port: 9001}]\n",
          "mesh.yaml",
        ),
        rejected: [],
        endpoints: [
          endpoint("app", "static-0", 9001),
          endpoint("reviews", "reviews-1", 9002),
          // Another service's sidecar registered at a reviews address (any sidecar token may name any address).
          endpoint("reviews", "reviews-2", 9004),
          endpoint("legacy", "legacy-1", 9004),
          // One service's sidecars of two namespaces at one address: whose mode is not decidable either.
          endpoint("reviews", "reviews-3", 9007, "prod"),
          endpoint("reviews", "reviews-4", 9007, "legacy"),
        ],
      });
      mtls.identity.trustBundle({ pem: ca.rootPem, trustDomain: TD, revision: 1, identity: "", issuersPem: "" });
      const identity = `spiffe://${TD}/service/web`;
      const { publicKey } = await verifyCsr(csr, identity);
      const certChainPem = await ca.signWorkload(publicKey, identity, { now: Date.now(), ttlMs: 3_600_000 });
      mtls.identity.certificate({ certChainPem, trustBundle: null, errorCode: "", error: "" });
      assert.ok(plan !== undefined, "a certificate makes a transport plan");
      assert.equal(plan(upstream(9001)), undefined, "a static endpoint has no sidecar: plain");
      assert.notEqual(plan(upstream(9002)), undefined, "a registered sidecar: mTLS");
      assert.equal(plan(upstream(9003)), undefined, "an endpoint the snapshot does not list: plain");
      // Claimed by two services: neither plain nor either identity, not dialled at all.
      const conflicted = plan(upstream(9004));
      assert.ok(conflicted !== undefined, "an endpoint two services claim is not dialled in plain text");
      const { socket } = conflicted("127.0.0.1", 9004);
      const code = await new Promise((resolve) => socket.once("error", (e: NodeJS.ErrnoException) => resolve(e.code)));
      assert.equal(code, "ERR_ENDPOINT_CONFLICT");
      const twoNamespaces = plan(upstream(9007));
      assert.ok(twoNamespaces !== undefined, "an endpoint two namespaces claim is not dialled in plain text");
      const other = twoNamespaces("127.0.0.1", 9007).socket;
      const otherCode = await new Promise((resolve) =>
        other.once("error", (e: NodeJS.ErrnoException) => resolve(e.code)),
      );
      assert.equal(otherCode, "ERR_ENDPOINT_CONFLICT");
    } finally {
      mtls.stop();
    }
  });

  it("before its certificate, refuses to dial a STRICT peer (no plain text on the wire); PERMISSIVE and DISABLE peers go plain", async () => {
    let plan: ConnectorFor | undefined;
    const mtls = new MeshTls({
      service: "web",
      clock: new FakeClock(),
      wallNow: () => Date.now(),
      logger: silentLogger(),
      registry: new Registry(),
      send: () => true,
      useTransports: (c) => {
        plan = c;
      },
    });
    try {
      const yaml = [
        ["reviews", "{}"],
        ["legacy", "{mtls: {mode: PERMISSIVE}}"],
        ["old", "{mtls: {mode: DISABLE}}"],
      ]
        .map(([name, spec]) => `apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: ${name}}\nspec: ${spec}\n`)
        .join("---\n");
      const resources = parseResources(yaml, "mesh.yaml");
      mtls.registered({
        version: 1,
        resources,
        rejected: [],
        endpoints: [endpoint("reviews", "r-1", 9002), endpoint("legacy", "l-1", 9005), endpoint("old", "o-1", 9006)],
      });
      mtls.swap(compileSnapshot({ version: "1", source: "control", resources }, undefined));
      assert.ok(plan !== undefined, "a snapshot makes a transport plan");
      const strict = plan(upstream(9002));
      assert.ok(strict !== undefined, "a STRICT peer is not dialled in plain text");
      const { socket } = strict("127.0.0.1", 9002);
      const err = await new Promise<NodeJS.ErrnoException>((resolve) => socket.once("error", resolve));
      assert.equal(err.code, "ERR_NO_CERTIFICATE");
      assert.match(err.message, /127\.0\.0\.1:9002 is STRICT and this sidecar has no certificate yet/);
      assert.equal(plan(upstream(9005)), undefined, "PERMISSIVE takes plain text: dialled plain");
      assert.equal(plan(upstream(9006)), undefined, "DISABLE: plain");
    } finally {
      mtls.stop();
    }
  });

  it("dials each endpoint by its own namespace's mode, and sets the inbound port by the sidecar's --namespace", async () => {
    let plans = 0;
    let plan: ConnectorFor | undefined;
    const mtls = new MeshTls({
      service: "web",
      account: { namespace: "legacy", name: "web" },
      clock: new FakeClock(),
      wallNow: () => Date.now(),
      logger: silentLogger(),
      registry: new Registry(),
      send: () => true,
      useTransports: (c) => {
        plans++;
        plan = c;
      },
    });
    const docs = (...extra: string[]) =>
      parseResources(
        [
          "apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: web}\n",
          "apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: reviews}\n",
          "apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: ratings}\nspec: {mtls: {mode: STRICT}}\n",
          "apiVersion: meshlet.dev/v1\nkind: PeerAuthentication\nmetadata: {name: legacy}\nspec: {namespace: legacy, mtls: {mode: PERMISSIVE}}\n",
          ...extra,
        ].join("---\n"),
        "mesh.yaml",
      );
    const apply = (resources: ReturnType<typeof docs>, endpoints: Endpoint__Output[]) => {
      mtls.registered({ version: 1, resources, rejected: [], endpoints });
      mtls.swap(compileSnapshot({ version: "1", source: "control", resources }, undefined));
    };
    const strict = (port: number) => plan?.(upstream(port)) !== undefined;
    try {
      const endpoints = [
        endpoint("reviews", "r-legacy", 9002, "legacy"),
        endpoint("reviews", "r-prod", 9003, "prod"),
        endpoint("reviews", "r-old-node", 9004),
        endpoint("ratings", "ra-legacy", 9005, "legacy"),
      ];
      apply(docs(), endpoints);
      // Before its certificate a sidecar dials PERMISSIVE peers plain and refuses to dial STRICT ones.
      assert.equal(strict(9002), false, "legacy's PERMISSIVE");
      assert.equal(strict(9003), true, "prod has none: STRICT");
      assert.equal(strict(9004), true, "no namespace (an older node): the mesh's default, STRICT");
      assert.equal(strict(9005), true, "its Service's STRICT over legacy's PERMISSIVE");
      assert.equal(mtls.inbound.mode, "PERMISSIVE", "web runs in legacy");
      const before = plans;
      apply(
        docs(
          "apiVersion: meshlet.dev/v1\nkind: PeerAuthentication\nmetadata: {name: mesh}\nspec: {mtls: {mode: DISABLE}}\n",
        ),
        endpoints,
      );
      assert.equal(plans, before + 1, "a new mesh-wide mode is a new transport plan");
      assert.equal(strict(9003), false, "prod: the mesh's DISABLE");
      assert.equal(strict(9004), false, "no namespace: the mesh's DISABLE");
      assert.equal(strict(9002), false, "legacy keeps its own PERMISSIVE");
      assert.equal(strict(9005), true, "the Service's STRICT still wins");
      assert.equal(mtls.inbound.mode, "PERMISSIVE");
      apply(docs(), endpoints);
      assert.equal(mtls.inbound.mode, "PERMISSIVE");
      const same = plans;
      apply(docs(), [...endpoints, endpoint("reviews", "r-new", 9006, "prod")]);
      assert.equal(plans, same, "an endpoint coming is not a new plan");
      // The address of r-legacy now held by a sidecar of another namespace: its pool must be remade.
      apply(docs(), [endpoint("reviews", "r-prod-2", 9002, "prod"), ...endpoints.slice(1)]);
      assert.equal(plans, same + 1, "an address changing namespace is a new plan");
      assert.equal(strict(9002), true);
    } finally {
      mtls.stop();
    }
  });

  it("takes its own namespace from its certificate once it has one (the control plane's decision), else --namespace", async () => {
    const ca = CertificateAuthority.load(await createRootCa(TD, { now: Date.now(), ttlMs: 3_600_000 }));
    let csr = "";
    const mtls = new MeshTls({
      service: "web",
      clock: new FakeClock(),
      wallNow: () => Date.now(),
      logger: silentLogger(),
      registry: new Registry(),
      send: (pem) => {
        csr = pem;
        return true;
      },
      useTransports: () => {},
    });
    try {
      const resources = parseResources(
        "apiVersion: meshlet.dev/v1\nkind: PeerAuthentication\nmetadata: {name: legacy}\nspec: {namespace: legacy, mtls: {mode: PERMISSIVE}}\n",
        "mesh.yaml",
      );
      mtls.swap(compileSnapshot({ version: "1", source: "control", resources }, undefined));
      assert.equal(mtls.inbound.mode, "STRICT", "no --namespace, no certificate: not in legacy");
      // A Kubernetes token named the account: the node says so with the bundle, and signs that identity.
      const identity = `spiffe://${TD}/ns/legacy/sa/web`;
      mtls.identity.trustBundle({ pem: ca.rootPem, trustDomain: TD, revision: 1, identity, issuersPem: "" });
      const { publicKey } = await verifyCsr(csr, identity);
      const certChainPem = await ca.signWorkload(publicKey, identity, { now: Date.now(), ttlMs: 3_600_000 });
      mtls.identity.certificate({ certChainPem, trustBundle: null, errorCode: "", error: "" });
      assert.equal(mtls.inbound.mode, "PERMISSIVE", "its certificate is in legacy");
    } finally {
      mtls.stop();
    }
  });
});
