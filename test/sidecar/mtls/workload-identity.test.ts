import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FakeClock } from "../../../src/common/clock.ts";
import { silentLogger } from "../../../src/common/logger.ts";
import { createRegistry } from "../../../src/common/metrics.ts";
import { CertificateAuthority, createRootCa } from "../../../src/security/ca.ts";
import { verifyCsr } from "../../../src/security/csr.ts";
import { REQUEST_TIMEOUT_MS, WorkloadIdentity } from "../../../src/sidecar/mtls/workload-identity.ts";

const IDENTITY = "spiffe://cluster.local/service/reviews";

async function setUp() {
  const wall = Date.now();
  const material = await createRootCa("cluster.local", { now: wall, ttlMs: 86_400_000 });
  const ca = CertificateAuthority.load(material);
  const clock = new FakeClock();
  const registry = createRegistry({ processMetrics: false });
  const sent: string[] = [];
  const identity = new WorkloadIdentity({
    service: "reviews",
    clock,
    wallNow: () => wall + clock.now(),
    logger: silentLogger(),
    registry,
    send: (csr) => {
      sent.push(csr);
      return true;
    },
  });
  const bundle = { pem: ca.rootPem, trustDomain: "cluster.local", identity: IDENTITY, revision: 1, issuersPem: "" };
  /** The control plane's answer to the CSR sent n-th (from 0). */
  const answer = async (n: number) => {
    const { publicKey } = await verifyCsr(sent[n] ?? "", IDENTITY);
    const certChainPem = await ca.signWorkload(publicKey, IDENTITY, { now: wall + clock.now(), ttlMs: 3_600_000 });
    return { certChainPem, trustBundle: bundle, errorCode: "", error: "" };
  };
  const results = async () => await registry.getSingleMetricAsString("meshlet_sidecar_certificate_requests_total");
  return { identity, clock, sent, bundle, answer, results, ca, wall };
}

describe("WorkloadIdentity certificate requests", () => {
  test("a request with no answer is sent again with a new key after the request timeout", async () => {
    const { identity, clock, sent, bundle, answer, results } = await setUp();
    identity.streamOpened();
    identity.trustBundle(bundle);
    assert.equal(sent.length, 1);
    clock.advance(REQUEST_TIMEOUT_MS - 1);
    assert.equal(sent.length, 1, "not before the timeout");
    clock.advance(1);
    assert.equal(sent.length, 2, "asked again at the timeout");
    assert.notEqual(sent[1], sent[0]);
    assert.match(await results(), /result="unanswered"[^\n]* 1/);

    clock.advance(REQUEST_TIMEOUT_MS * 2 - 1);
    assert.equal(sent.length, 2, "the second wait is twice as long");
    clock.advance(1);
    assert.equal(sent.length, 3);

    identity.certificate(await answer(2));
    assert.ok(identity.material, "the answer to the request in flight is installed");
    clock.advance(REQUEST_TIMEOUT_MS * 3);
    assert.equal(sent.length, 3, "an answered request is not sent again");
  });

  test("a late answer to a request given up on is ignored; the one in flight is still awaited", async () => {
    const { identity, clock, sent, bundle, answer, results } = await setUp();
    identity.streamOpened();
    identity.trustBundle(bundle);
    clock.advance(REQUEST_TIMEOUT_MS);
    assert.equal(sent.length, 2);

    identity.certificate(await answer(0));
    assert.equal(
      identity.material?.identity,
      undefined,
      "a certificate for the first key is not paired with the second",
    );
    assert.match(await results(), /result="stale"[^\n]* 1/);

    identity.certificate(await answer(1));
    assert.equal(identity.material?.identity, IDENTITY);
  });

  test("a stream opened again resends at once, and the old request's timer does not fire a third", async () => {
    const { identity, clock, sent, bundle } = await setUp();
    identity.streamOpened();
    identity.trustBundle(bundle);
    clock.advance(REQUEST_TIMEOUT_MS / 2);
    identity.streamOpened();
    assert.equal(sent.length, 2);
    clock.advance(REQUEST_TIMEOUT_MS / 2);
    assert.equal(sent.length, 2, "the first request's timer went with it");
    identity.stop();
    clock.advance(REQUEST_TIMEOUT_MS * 2);
    assert.equal(sent.length, 2, "a stopped identity asks nothing");
  });

  test("a root rotation asks for a certificate of the new CA at once; a bundle change without one does not", async () => {
    const { identity, sent, bundle, answer, ca, wall } = await setUp();
    const signing = { ...bundle, issuersPem: ca.certPem };
    identity.streamOpened();
    identity.trustBundle(signing);
    identity.certificate({ ...(await answer(0)), trustBundle: signing });
    assert.equal(sent.length, 1);
    // The bundle grows (another root added) while this CA still signs: the certificate is kept.
    const other = CertificateAuthority.load(await createRootCa("cluster.local", { now: wall, ttlMs: 86_400_000 }));
    identity.trustBundle({ ...signing, pem: `${ca.rootPem}${other.rootPem}` });
    assert.equal(sent.length, 1, "still issued by the signing CA: nothing to ask");
    // The rotation: the other CA signs now, this one is only still trusted.
    identity.trustBundle({
      ...signing,
      pem: `${other.rootPem}${ca.rootPem}`,
      issuersPem: `${other.certPem}${ca.certPem}`,
    });
    assert.equal(sent.length, 2, "a new certificate asked for at once, not at half its life");
  });
});
