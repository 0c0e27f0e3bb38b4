import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { errorCode } from "../../../src/common/errors.ts";
import { silentLogger } from "../../../src/common/logger.ts";
import { createRegistry } from "../../../src/common/metrics.ts";
import type { ControlNode, NodeEvents } from "../../../src/controlplane/node.ts";
import { readCa, registerSecurityCommands } from "../../../src/controlplane/security/ca-state.ts";
import { type CurrentCa, MeshSecurity, nodeCertificateIssuers } from "../../../src/controlplane/security/mesh-ca.ts";
import { RevisionedKv } from "../../../src/controlplane/state/kv.ts";
import { type Command, encodeCommand, StateMachine } from "../../../src/controlplane/state/machine.ts";
import { CertificateAuthority, createRootCa } from "../../../src/security/ca.ts";
import { createCsr } from "../../../src/security/csr-request.ts";
import { generateKeyPair } from "../../../src/security/keys.ts";

/** A one-node "cluster" that applies every proposal at once, through the real state machine. */
function leadingNode(leads = true): ControlNode {
  const sm = new StateMachine(new RevisionedKv());
  registerSecurityCommands(sm);
  const applied = new Set<NodeEvents["applied"]>();
  let index = 0;
  const node = {
    id: "n1",
    term: 1,
    kv: sm.kv,
    isLeader: () => leads,
    leader: () => "n1",
    // Nothing to replay at start: everything it holds was applied as it was proposed.
    raftStatus: () => ({ commit: index, applied: index }),
    on: (event: keyof NodeEvents, listener: NodeEvents["applied"]) => {
      if (event === "applied") applied.add(listener);
      return () => applied.delete(listener);
    },
    propose: async (command: Command) => {
      const r = sm.apply(++index, 1, encodeCommand(command));
      for (const l of applied) l(index);
      if (!r.ok) throw r.error;
      return { revision: r.revision, result: r.result };
    },
  };
  return node as unknown as ControlNode;
}

/** `legacy`: the operator's CA is already stored, as a version that kept no origin stored it. */
async function security(t: TestContext, operator = false, leads = true, legacy = false) {
  const dataDir = mkdtempSync(join(tmpdir(), "meshlet-mesh-ca-"));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const node = leadingNode(leads);
  const operatorCa = operator ? await createRootCa("cluster.local", { now: Date.now(), ttlMs: 3_600_000 }) : undefined;
  if (legacy && operatorCa !== undefined)
    await node.propose(
      {
        type: "security.ca.set",
        certChainPem: operatorCa.certChainPem,
        keyPem: operatorCa.keyPem,
        onlyIfAbsent: false,
      } as unknown as Command,
      { deadlineMs: 1_000 },
    );
  const s = new MeshSecurity(
    node,
    {
      trustDomain: "cluster.local",
      certTtlMs: 3_600_000,
      dataDir,
      wallClock: () => Date.now(),
      ...(operatorCa === undefined ? {} : { operatorCa }),
    },
    silentLogger(),
    createRegistry({ processMetrics: false }),
  );
  s.start();
  t.after(() => s.stop());
  const ready = async () => {
    for (let i = 0; i < 100 && readCa(node.kv) === undefined; i++) await new Promise((r) => setTimeout(r, 10));
  };
  if (leads) await ready();
  return { s, node, dataDir };
}

const until = async (what: string, fn: () => boolean) => {
  for (let i = 0; i < 300; i++) {
    if (fn()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`timed out: ${what}`);
};

describe("MeshSecurity.rotate", () => {
  it("rotates a generated root, keeps the old one until the overlap's end, then the leader drops it", async (t) => {
    const { s, node, dataDir } = await security(t);
    const before = s.describe();
    assert.equal(before?.origin, "generated");
    const rotated = await s.rotate(300);
    assert.equal(rotated.previousRoot.fingerprint, before?.root.fingerprint);
    assert.deepEqual(
      s.describe()?.previousRoots.map((r) => r.fingerprint),
      [before?.root.fingerprint],
    );
    await until(
      "ca.pem holds both roots",
      () => readFileSync(join(dataDir, "ca.pem"), "utf8").split("BEGIN").length === 3,
    );
    await assert.rejects(s.rotate(300), (err) => errorCode(err) === "ERR_CA_ROTATION_IN_PROGRESS");
    await until("the overlap ended", () => readCa(node.kv)?.record.previousRoots.length === 0);
    assert.equal(s.describe()?.root.fingerprint, rotated.root.fingerprint);
    await until(
      "ca.pem holds the new root only",
      () => readFileSync(join(dataDir, "ca.pem"), "utf8").split("BEGIN").length === 2,
    );
    // Once it ended, a rotation is taken again.
    assert.equal((await s.rotate(0)).previousRoot.fingerprint, rotated.root.fingerprint);
    assert.deepEqual(s.describe()?.previousRoots, [], "an overlap of zero keeps nothing");
  });

  it("a certificate being signed when a rotation applies is signed again by the new CA and sent with its bundle", async (t) => {
    const { s, node } = await security(t);
    const sign = CertificateAuthority.prototype.signWorkload;
    let rotated = false;
    // The first signature completes only after a rotation has applied: the CA that made it no longer signs, and
    // its bundle is no longer the one pushed.
    CertificateAuthority.prototype.signWorkload = async function (this: CertificateAuthority, ...args) {
      const chain = await sign.apply(this, args);
      if (!rotated) {
        rotated = true;
        await s.rotate(60_000);
      }
      return chain;
    };
    t.after(() => {
      CertificateAuthority.prototype.signWorkload = sign;
    });
    const identity = "spiffe://cluster.local/service/web";
    const { certChainPem, bundle } = await s.issueWorkload({ service: "web" }, createCsr(generateKeyPair(), identity));
    assert.ok(rotated);
    assert.equal(bundle.revision, readCa(node.kv)?.revision, "the answer carries the CA record after the rotation");
    const leaf = new X509Certificate(certChainPem);
    assert.ok(leaf.checkIssued(new X509Certificate(bundle.ca.certPem)), "signed by the CA that signs now");
  });

  it("marks an operator's lone root stored without an origin as the operator's, so it cannot be rotated", async (t) => {
    const { s, node } = await security(t, true, true, true);
    await until("the record marked", () => readCa(node.kv)?.record.origin === "operator");
    assert.equal(readCa(node.kv)?.record.previousRoots.length, 0, "set again, not rotated");
    assert.equal(s.describe()?.origin, "operator");
  });

  it("refuses on a node started with --ca-cert, whatever the record says", async (t) => {
    const { s } = await security(t, true);
    assert.equal(s.describe()?.origin, "operator");
    await assert.rejects(
      s.rotate(1_000),
      (err) => errorCode(err) === "ERR_CA_OPERATOR" && /--ca-cert/.test(String(err)),
    );
    // A follower started with --ca-cert while the record still holds the generated root (its leader was not):
    // a generated root would be replaced by the operator's as soon as that node leads.
    const follower = await security(t, true, false);
    await follower.node.propose(
      {
        type: "security.ca.set",
        ...(await createRootCa("cluster.local", { now: Date.now(), ttlMs: 3_600_000 })),
        onlyIfAbsent: true,
        origin: "generated",
      },
      { deadlineMs: 1_000 },
    );
    assert.equal(follower.s.describe()?.origin, "generated");
    await assert.rejects(follower.s.rotate(1_000), (err) => errorCode(err) === "ERR_CA_OPERATOR");
  });

  it("every node hears of the CA again when the overlap ends by its clock, the leader's end applied or not", async (t) => {
    // A follower: nobody here proposes the end, only the clock passes it.
    const { s, node } = await security(t, false, false);
    await node.propose(
      {
        type: "security.ca.set",
        ...(await createRootCa("cluster.local", { now: Date.now(), ttlMs: 3_600_000 })),
        onlyIfAbsent: true,
        origin: "generated",
      },
      { deadlineMs: 1_000 },
    );
    const heard: { at: number; ca: CurrentCa }[] = [];
    s.onChange((ca) => void heard.push({ at: Date.now(), ca }));
    await s.rotate(300);
    await until("the rotation heard", () => heard.length === 2);
    const rotatedCa = heard[1]?.ca;
    assert.ok(rotatedCa);
    // During the overlap a node's own certificate may stay under the replaced CA; after it, under this CA only.
    assert.equal(nodeCertificateIssuers(rotatedCa, Date.now()), rotatedCa.issuersPem);
    assert.equal(nodeCertificateIssuers(rotatedCa, (rotatedCa.previousUntil ?? 0) + 1), rotatedCa.ca.certPem);
    await until("heard again at the overlap's end", () => heard.length === 3);
    assert.equal(heard[2]?.ca, rotatedCa, "the same CA, nothing applied");
    assert.ok((heard[2]?.at ?? 0) >= (rotatedCa.previousUntil ?? Infinity));
    assert.equal(readCa(node.kv)?.record.previousRoots.length, 1, "the end itself is the leader's to propose");
  });

  it("a record without an overlap end: a node's certificate moves at once", async (t) => {
    const { s } = await security(t);
    const current = s.current();
    assert.ok(current);
    // As an older version's rotation left it: a previous issuer kept, no end.
    const legacy = { ...current, issuersPem: `${current.ca.certPem}${current.ca.rootPem}`, previousUntil: undefined };
    assert.equal(nodeCertificateIssuers(legacy, Date.now()), current.ca.certPem);
  });
});
