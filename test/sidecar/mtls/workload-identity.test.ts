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
  const ids: number[] = [];
  const identity = new WorkloadIdentity({
    service: "reviews",
    clock,
    wallNow: () => wall + clock.now(),
    logger: silentLogger(),
    registry,
    send: (csr, requestId) => {
      sent.push(csr);
      ids.push(requestId);
      return true;
    },
  });
  const bundle = { pem: ca.rootPem, trustDomain: "cluster.local", identity: IDENTITY, revision: 1, issuersPem: "" };
  /** The control plane's answer to the CSR sent n-th (from 0), echoing its request id (an older node: 0). */
  const answer = async (n: number, echo = true) => {
    const { publicKey } = await verifyCsr(sent[n] ?? "", IDENTITY);
    const certChainPem = await ca.signWorkload(publicKey, IDENTITY, { now: wall + clock.now(), ttlMs: 3_600_000 });
    return { certChainPem, trustBundle: bundle, errorCode: "", error: "", requestId: echo ? (ids[n] ?? 0) : 0 };
  };
  /** The control plane's refusal of the CSR sent n-th; echo false: an older node's, with no id. */
  const refusal = (n: number, echo = true) => ({
    certChainPem: "",
    trustBundle: null,
    errorCode: "ERR_CA_UNAVAILABLE",
    error: "no CA yet",
    requestId: echo ? (ids[n] ?? 0) : 0,
  });
  const results = async () => await registry.getSingleMetricAsString("meshlet_sidecar_certificate_requests_total");
  return { identity, clock, sent, ids, bundle, answer, refusal, results, ca, wall };
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

  test("each request carries a new id", async () => {
    const { identity, clock, ids, bundle } = await setUp();
    identity.streamOpened();
    identity.trustBundle(bundle);
    clock.advance(REQUEST_TIMEOUT_MS);
    identity.streamOpened();
    assert.deepEqual(ids, [1, 2, 3]);
  });

  // Two requests sent (the first timed out); then what comes back, in order; then whether the second's
  // certificate is installed when it finally arrives (the request in flight was not cancelled by a stale answer).
  type Step = "refuse-first" | "refuse-first-no-id" | "answer-first" | "answer-first-no-id" | "answer-second-wrong-id";
  const rows: [string, Step[], { stale: number; installed: boolean }][] = [
    [
      "a late refusal of the first (with its id) is stale: the second still counts",
      ["refuse-first"],
      { stale: 1, installed: true },
    ],
    ["a late certificate for the first (with its id) is stale", ["answer-first"], { stale: 1, installed: true }],
    [
      "an older node's late certificate for the first: paired by key, stale",
      ["answer-first-no-id"],
      { stale: 1, installed: true },
    ],
    [
      "an older node's refusal cannot be told apart: it ends the request in flight",
      ["refuse-first-no-id"],
      { stale: 0, installed: false },
    ],
    [
      "the second's key under another id is not the answer to it",
      ["answer-second-wrong-id"],
      { stale: 1, installed: true },
    ],
    [
      "both late answers of the first, then the second's",
      ["refuse-first", "answer-first"],
      { stale: 2, installed: true },
    ],
  ];
  for (const [why, steps, want] of rows)
    test(why, async () => {
      const { identity, clock, sent, ids, bundle, answer, refusal, results } = await setUp();
      identity.streamOpened();
      identity.trustBundle(bundle);
      clock.advance(REQUEST_TIMEOUT_MS);
      assert.equal(sent.length, 2);
      for (const step of steps) {
        if (step === "refuse-first") identity.certificate(refusal(0));
        else if (step === "refuse-first-no-id") identity.certificate(refusal(0, false));
        else if (step === "answer-first") identity.certificate(await answer(0));
        else if (step === "answer-first-no-id") identity.certificate(await answer(0, false));
        else identity.certificate({ ...(await answer(1)), requestId: (ids[1] ?? 0) + 100 });
      }
      const installed = () => identity.material?.identity;
      assert.equal(installed(), undefined, "nothing installed from a stale answer");
      const stale = /result="stale"[^\n]* (\d+)/g;
      const counted = [...(await results()).matchAll(stale)].reduce((n, m) => n + Number(m[1]), 0);
      assert.equal(counted, want.stale);
      identity.certificate(await answer(1));
      assert.equal(installed(), want.installed ? IDENTITY : undefined);
    });

  test("an answer carrying an older bundle than the one pushed since keeps the newer bundle", async () => {
    const { identity, bundle, answer, wall } = await setUp();
    identity.streamOpened();
    identity.trustBundle(bundle);
    // While the request was answered, a rotation was pushed (a higher revision adds a root); the answer then
    // arrives with the bundle it was made under.
    const other = CertificateAuthority.load(await createRootCa("cluster.local", { now: wall, ttlMs: 86_400_000 }));
    const newer = { ...bundle, pem: `${other.rootPem}${bundle.pem}`, revision: 2 };
    identity.trustBundle(newer);
    identity.certificate(await answer(0));
    assert.equal(identity.material?.bundlePem.includes(other.rootPem.trim()), true, "the pushed bundle stays");
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
