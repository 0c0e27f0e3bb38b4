import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CA_KEY, readCa, registerSecurityCommands } from "../../../src/controlplane/security/ca-state.ts";
import { RevisionedKv } from "../../../src/controlplane/state/kv.ts";
import { encodeCommand, StateMachine } from "../../../src/controlplane/state/machine.ts";
import { bundlePem } from "../../../src/security/bundle.ts";
import { CertificateAuthority, createRootCa } from "../../../src/security/ca.ts";
import { generateKeyPair, privateKeyPem } from "../../../src/security/keys.ts";
import { splitPem } from "../../../src/security/pem.ts";

const NOW = Date.UTC(2026, 11, 2);

function machine(): StateMachine {
  const sm = new StateMachine(new RevisionedKv());
  registerSecurityCommands(sm);
  return sm;
}

describe("the mesh CA in the Raft state", () => {
  it("a first root applies once; a racing second proposal of a generated root is ignored", async () => {
    const sm = machine();
    const a = await createRootCa("cluster.local", { now: NOW, ttlMs: 3_600_000 });
    const b = await createRootCa("cluster.local", { now: NOW, ttlMs: 3_600_000 });
    const first = sm.apply(1, 1, encodeCommand({ type: "security.ca.set", ...a, onlyIfAbsent: true }));
    const second = sm.apply(2, 1, encodeCommand({ type: "security.ca.set", ...b, onlyIfAbsent: true }));
    assert.deepEqual([first.ok && first.result, second.ok && second.result], [{ applied: true }, { applied: false }]);
    assert.equal(readCa(sm.kv)?.record.certChainPem, a.certChainPem);
  });

  it("an operator CA replaces the stored one and keeps the old root in the bundle (overlap)", async () => {
    const sm = machine();
    const old = await createRootCa("cluster.local", { now: NOW, ttlMs: 3_600_000 });
    const next = await createRootCa("cluster.local", { now: NOW, ttlMs: 3_600_000 });
    sm.apply(1, 1, encodeCommand({ type: "security.ca.set", ...old, onlyIfAbsent: true }));
    sm.apply(2, 1, encodeCommand({ type: "security.ca.set", ...next, onlyIfAbsent: false }));
    const stored = readCa(sm.kv);
    assert.ok(stored);
    assert.equal(stored.record.certChainPem, next.certChainPem);
    assert.deepEqual(stored.record.previousRoots, splitPem(old.certChainPem, "CERTIFICATE"));
    // The CA that signed workloads before (here the root itself): peers' certificates from it stay accepted.
    assert.deepEqual(stored.record.previousIssuers, splitPem(old.certChainPem, "CERTIFICATE"));
    const bundle = splitPem(bundlePem([next.certChainPem, ...stored.record.previousRoots]), "CERTIFICATE");
    assert.equal(bundle.length, 2);
    // A third rotation drops the oldest root: one previous root is kept.
    const third = await createRootCa("cluster.local", { now: NOW, ttlMs: 3_600_000 });
    sm.apply(3, 1, encodeCommand({ type: "security.ca.set", ...third, onlyIfAbsent: false }));
    assert.deepEqual(readCa(sm.kv)?.record.previousRoots, splitPem(next.certChainPem, "CERTIFICATE"));
    assert.deepEqual(readCa(sm.kv)?.record.previousIssuers, splitPem(next.certChainPem, "CERTIFICATE"));
  });

  it("refuses a command without certificates, writing nothing", () => {
    const sm = machine();
    const r = sm.apply(
      1,
      1,
      encodeCommand({ type: "security.ca.set", certChainPem: "nope", keyPem: "x", onlyIfAbsent: true }),
    );
    assert.equal(r.ok, false);
    assert.equal(sm.kv.get(CA_KEY), undefined);
  });

  describe("meshlet ca rotate (security.ca.set with replaces)", () => {
    const HOUR = 3_600_000;
    async function founded(origin: "generated" | "operator" | undefined = "generated") {
      const sm = machine();
      const first = await createRootCa("cluster.local", { now: NOW, ttlMs: HOUR });
      sm.apply(
        1,
        1,
        encodeCommand({ type: "security.ca.set", ...first, onlyIfAbsent: true, ...(origin ? { origin } : {}) }),
      );
      return { sm, first };
    }
    const rotate = (
      sm: StateMachine,
      index: number,
      next: { certChainPem: string; keyPem: string },
      replaces: string,
      now: number,
      previousUntil = now + HOUR,
    ) =>
      sm.apply(
        index,
        1,
        encodeCommand({
          type: "security.ca.set",
          ...next,
          onlyIfAbsent: false,
          origin: "generated",
          now,
          previousUntil,
          replaces,
        }),
      );
    const codeOf = (r: ReturnType<StateMachine["apply"]>) => (r.ok ? "applied" : r.error.code);

    it("rotates a generated root: the old root and issuer stay trusted until the overlap's end", async () => {
      const { sm, first } = await founded();
      const next = await createRootCa("cluster.local", { now: NOW, ttlMs: HOUR });
      assert.equal(codeOf(rotate(sm, 2, next, first.certChainPem, NOW)), "applied");
      const record = readCa(sm.kv)?.record;
      assert.equal(record?.certChainPem, next.certChainPem);
      assert.deepEqual(record?.previousRoots, splitPem(first.certChainPem, "CERTIFICATE"));
      assert.deepEqual(record?.previousIssuers, splitPem(first.certChainPem, "CERTIFICATE"));
      assert.equal(record?.previousUntil, NOW + HOUR);
      assert.equal(record?.origin, "generated");
    });

    it("refuses a rotation while the previous overlap runs, and takes one after it ended", async () => {
      const { sm, first } = await founded();
      const second = await createRootCa("cluster.local", { now: NOW, ttlMs: HOUR });
      const third = await createRootCa("cluster.local", { now: NOW, ttlMs: HOUR });
      rotate(sm, 2, second, first.certChainPem, NOW);
      assert.equal(codeOf(rotate(sm, 3, third, second.certChainPem, NOW + HOUR - 1)), "ERR_CA_ROTATION_IN_PROGRESS");
      assert.equal(readCa(sm.kv)?.record.certChainPem, second.certChainPem, "nothing written");
      assert.equal(codeOf(rotate(sm, 4, third, second.certChainPem, NOW + HOUR)), "applied");
      assert.deepEqual(readCa(sm.kv)?.record.previousRoots, splitPem(second.certChainPem, "CERTIFICATE"));
    });

    it("refuses a rotation of a CA that is no longer the stored one (two rotations racing rotate once)", async () => {
      const { sm, first } = await founded();
      const a = await createRootCa("cluster.local", { now: NOW, ttlMs: HOUR });
      const b = await createRootCa("cluster.local", { now: NOW, ttlMs: HOUR });
      assert.equal(codeOf(rotate(sm, 2, a, first.certChainPem, NOW, NOW)), "applied");
      assert.equal(codeOf(rotate(sm, 3, b, first.certChainPem, NOW, NOW)), "ERR_CA_CHANGED");
      assert.equal(readCa(sm.kv)?.record.certChainPem, a.certChainPem);
    });

    it("refuses to rotate an operator CA, and an older record's intermediate (an operator's)", async () => {
      const { sm, first } = await founded("operator");
      const next = await createRootCa("cluster.local", { now: NOW, ttlMs: HOUR });
      assert.equal(codeOf(rotate(sm, 2, next, first.certChainPem, NOW)), "ERR_CA_OPERATOR");
      const legacy = machine();
      const root = CertificateAuthority.load(await createRootCa("corp", { now: NOW, ttlMs: HOUR }));
      const keys = generateKeyPair();
      const chain = `${await root.signIntermediate(keys.publicKey, "team CA", { now: NOW, ttlMs: HOUR })}${root.certPem}`;
      legacy.apply(
        1,
        1,
        encodeCommand({
          type: "security.ca.set",
          certChainPem: chain,
          keyPem: privateKeyPem(keys.privateKey),
          onlyIfAbsent: false,
        }),
      );
      assert.equal(codeOf(rotate(legacy, 2, next, chain, NOW)), "ERR_CA_OPERATOR");
    });

    it("an overlap of zero keeps nothing of the replaced CA", async () => {
      const { sm, first } = await founded();
      const next = await createRootCa("cluster.local", { now: NOW, ttlMs: HOUR });
      assert.equal(codeOf(rotate(sm, 2, next, first.certChainPem, NOW, NOW)), "applied");
      const record = readCa(sm.kv)?.record;
      assert.deepEqual([record?.previousRoots, record?.previousIssuers, record?.previousUntil], [[], [], undefined]);
    });

    it("security.ca.expire drops the previous root and issuer at the overlap's end, not before", async () => {
      const { sm, first } = await founded();
      const next = await createRootCa("cluster.local", { now: NOW, ttlMs: HOUR });
      rotate(sm, 2, next, first.certChainPem, NOW);
      const early = sm.apply(3, 1, encodeCommand({ type: "security.ca.expire", now: NOW + HOUR - 1 }));
      assert.deepEqual(early.ok && early.result, { applied: false });
      assert.equal(readCa(sm.kv)?.record.previousRoots.length, 1);
      const due = sm.apply(4, 1, encodeCommand({ type: "security.ca.expire", now: NOW + HOUR }));
      assert.deepEqual(due.ok && due.result, { applied: true });
      const record = readCa(sm.kv)?.record;
      assert.deepEqual(
        [record?.certChainPem, record?.previousRoots, record?.previousIssuers, record?.previousUntil, record?.origin],
        [next.certChainPem, [], [], undefined, "generated"],
      );
      assert.equal(sm.apply(5, 1, encodeCommand({ type: "security.ca.expire" })).ok, false, "now is required");
    });

    it("the same CA set again (a restart with the same --ca-cert) keeps the running overlap", async () => {
      const { sm, first } = await founded();
      const next = await createRootCa("cluster.local", { now: NOW, ttlMs: HOUR });
      rotate(sm, 2, next, first.certChainPem, NOW);
      sm.apply(
        3,
        1,
        encodeCommand({
          type: "security.ca.set",
          ...next,
          onlyIfAbsent: false,
          now: NOW + 5,
          previousUntil: NOW + 9 * HOUR,
        }),
      );
      assert.equal(readCa(sm.kv)?.record.previousUntil, NOW + HOUR);
    });

    it("refuses a malformed origin or time, writing nothing", async () => {
      const { sm, first } = await founded();
      const next = await createRootCa("cluster.local", { now: NOW, ttlMs: HOUR });
      const bad = sm.apply(2, 1, encodeCommand({ type: "security.ca.set", ...next, onlyIfAbsent: false, now: "soon" }));
      assert.equal(bad.ok, false);
      const origin = sm.apply(
        3,
        1,
        encodeCommand({ type: "security.ca.set", ...next, onlyIfAbsent: false, origin: "x" }),
      );
      assert.equal(origin.ok, false);
      assert.equal(readCa(sm.kv)?.record.certChainPem, first.certChainPem);
    });
  });
});
