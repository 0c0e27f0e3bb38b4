import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CA_KEY, readCa, registerSecurityCommands } from "../../../src/controlplane/security/ca-state.ts";
import { RevisionedKv } from "../../../src/controlplane/state/kv.ts";
import { encodeCommand, StateMachine } from "../../../src/controlplane/state/machine.ts";
import { bundlePem } from "../../../src/security/bundle.ts";
import { createRootCa } from "../../../src/security/ca.ts";
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
});
