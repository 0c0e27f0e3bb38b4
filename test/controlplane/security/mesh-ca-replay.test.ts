import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Registry } from "prom-client";
import { silentLogger } from "../../../src/common/logger.ts";
import type { ControlNode, NodeEvents, Proposed } from "../../../src/controlplane/node.ts";
import { registerSecurityCommands } from "../../../src/controlplane/security/ca-state.ts";
import { MeshSecurity } from "../../../src/controlplane/security/mesh-ca.ts";
import { RevisionedKv } from "../../../src/controlplane/state/kv.ts";
import { type Command, encodeCommand, StateMachine } from "../../../src/controlplane/state/machine.ts";
import { type CaMaterial, CertificateAuthority, createRootCa } from "../../../src/security/ca.ts";

const NOW = Date.UTC(2026, 11, 3);

/**
 * A node coming back from a restart: its log (`entries`, from index 1), the commit index it persisted, and the
 * index its snapshot covered (those entries are applied before start). `replay` applies the rest one entry at a
 * time, as the driver does, each followed by an `applied` event.
 */
class RestartedNode implements ControlNode {
  readonly id = "n1";
  readonly term = 1;
  readonly kv = new RevisionedKv();
  readonly #sm = new StateMachine(this.kv);
  readonly #entries: Command[];
  readonly #commit: number;
  #applied = 0;
  readonly #applied$ = new Set<NodeEvents["applied"]>();
  /** Leading: what MeshSecurity proposed (a leader proposes a first root when it finds none). */
  readonly proposed: Command[] = [];
  leads = false;

  constructor(entries: Command[], commit: number, snapshotAt: number) {
    registerSecurityCommands(this.#sm);
    this.#entries = entries;
    this.#commit = commit;
    while (this.#applied < snapshotAt) this.#apply();
  }

  #apply(): void {
    const index = this.#applied + 1;
    this.#sm.apply(index, 1, encodeCommand(this.#entries[index - 1] as Command));
    this.#applied = index;
  }

  replay(upTo: number): void {
    while (this.#applied < upTo) {
      this.#apply();
      for (const l of this.#applied$) l(this.#applied);
    }
  }

  isLeader(): boolean {
    return this.leads;
  }
  leader(): string {
    return this.leads ? this.id : "";
  }
  raftStatus(): { commit: number; applied: number } {
    return { commit: this.#commit, applied: this.#applied };
  }
  async propose<R = unknown>(command: Command): Promise<Proposed<R>> {
    this.proposed.push(command);
    throw new Error("not applied in this test");
  }
  async read<T>(fn: (kv: RevisionedKv) => T): Promise<T> {
    return fn(this.kv);
  }
  on<E extends keyof NodeEvents>(event: E, listener: NodeEvents[E]): () => void {
    if (event !== "applied") return () => {};
    const l = listener as NodeEvents["applied"];
    this.#applied$.add(l);
    return () => this.#applied$.delete(l);
  }
}

const setCa = (m: CaMaterial, onlyIfAbsent: boolean): Command => ({
  type: "security.ca.set",
  certChainPem: m.certChainPem,
  keyPem: m.keyPem,
  onlyIfAbsent,
});

describe("MeshSecurity after a restart", async () => {
  const old = await createRootCa("cluster.local", { now: NOW, ttlMs: 86_400_000 });
  const rotated = await createRootCa("cluster.local", { now: NOW, ttlMs: 86_400_000 });
  const later = await createRootCa("cluster.local", { now: NOW, ttlMs: 86_400_000 });
  const name = (pem: string) =>
    pem === CertificateAuthority.load(old).certPem
      ? "old"
      : pem === CertificateAuthority.load(rotated).certPem
        ? "rotated"
        : pem === CertificateAuthority.load(later).certPem
          ? "later"
          : "?";
  // Log: the first root, the rotation; the node knew both committed when it stopped.
  const log = [setCa(old, true), { type: "noop" } as Command, setCa(rotated, false), setCa(later, false)];
  const rows: [string, { commit: number; snapshotAt: number }, string[]][] = [
    ["replaying its log: the rotated CA only, never the old one in between", { commit: 3, snapshotAt: 0 }, ["rotated"]],
    ["from a snapshot holding the old CA: the rotated CA only", { commit: 3, snapshotAt: 1 }, ["rotated"]],
    ["a snapshot at its commit index: at once", { commit: 3, snapshotAt: 3 }, ["rotated"]],
  ];
  for (const [why, { commit, snapshotAt }, want] of rows)
    it(why, async (t) => {
      const dir = mkdtempSync(join(tmpdir(), "meshlet-mesh-ca-"));
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      const node = new RestartedNode(log, commit, snapshotAt);
      const security = new MeshSecurity(
        node,
        { trustDomain: "cluster.local", certTtlMs: 3_600_000, dataDir: dir, wallClock: () => NOW },
        silentLogger(),
        new Registry(),
      );
      const adopted: string[] = [];
      security.onChange((c) => {
        adopted.push(name(c.ca.certPem));
      });
      security.start();
      for (let i = snapshotAt + 1; i < commit; i++) {
        node.replay(i);
        assert.equal(security.current(), undefined, `no CA to sign with at ${i}, before the replay reached ${commit}`);
      }
      node.replay(commit);
      assert.deepEqual(adopted, want);
      // Entries committed after the start are acted on as they apply (a rotation made while it was down).
      node.replay(log.length);
      assert.deepEqual(adopted, [...want, "later"]);
      await new Promise((r) => setTimeout(r, 50));
      assert.match(readFileSync(join(dir, "ca.pem"), "utf8"), /BEGIN CERTIFICATE/);
      security.stop();
    });

  it("a leader replaying its log proposes no first root: the CA is further on in that log", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "meshlet-mesh-ca-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const node = new RestartedNode([{ type: "noop" } as Command, setCa(old, true)], 2, 0);
    node.leads = true;
    const security = new MeshSecurity(
      node,
      { trustDomain: "cluster.local", certTtlMs: 3_600_000, dataDir: dir, wallClock: () => NOW },
      silentLogger(),
      new Registry(),
    );
    security.start();
    node.replay(1);
    // A proposal is made after a root is generated (asynchronously): give it the time.
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(node.proposed, [], "nothing proposed before the replay reached the commit index");
    node.replay(2);
    assert.deepEqual(node.proposed, [], "the CA was in the log");
    assert.equal(name(security.current()?.ca.certPem ?? ""), "old");
    security.stop();
  });
});
