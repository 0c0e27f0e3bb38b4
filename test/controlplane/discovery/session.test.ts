import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeClock } from "../../../src/common/clock.ts";
import { parseResources } from "../../../src/config/load.ts";
import { PushQueue } from "../../../src/controlplane/discovery/push-queue.ts";
import { SidecarSession } from "../../../src/controlplane/discovery/session.ts";
import { buildSnapshot, type MeshState } from "../../../src/controlplane/discovery/snapshot.ts";
import type { RegisteredEndpoint } from "../../../src/controlplane/registry/commands.ts";
import { canonicalJson } from "../../../src/controlplane/resources/canonical.ts";
import type { Snapshot } from "../../../src/gen/meshlet/discovery/v1/Snapshot.ts";

const service = (name: string, port = 80) =>
  parseResources(
    `apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: ${name}}\nspec: {ports: [{port: ${port}}]}\n`,
    "s",
  )[0];

function harness(debounceMs = 50) {
  const clock = new FakeClock();
  const sent: Snapshot[] = [];
  const nacks: number[] = [];
  /** What the queue left for after pending I/O. */
  const deferred: (() => void)[] = [];
  const state: { revision: number; services: Map<string, number>; endpoints: RegisteredEndpoint[] } = {
    revision: 1,
    services: new Map([["web", 80]]),
    endpoints: [],
  };
  const current = (): MeshState => ({
    revision: state.revision,
    resources: [...state.services].map(([name, port]) => {
      const resource = service(name, port);
      assert.ok(resource !== undefined);
      // Stands in for the KV revision of the resource's last write: it changes exactly when the content does.
      return { resource, revision: port, json: canonicalJson(resource) };
    }),
    endpoints: state.endpoints,
  });
  const session = new SidecarSession(
    { id: "sc-1", service: "web", instance: "i1", lastVersion: 0 },
    { service: "web", subscribe: ["reviews"] },
    {
      queue: new PushQueue({ clock, debounceMs, defer: (fn) => deferred.push(fn) }),
      current: (req) => buildSnapshot(current(), req),
      send: (s, nonce) => sent.push({ ...s.snapshot, nonce }),
      onNack: (_info, consecutive) => nacks.push(consecutive),
    },
  );
  const write = (mutate: () => void) => {
    state.revision++;
    mutate();
    session.changed();
  };
  /** Time passes (a change after a quiet window goes out at the next turn of the event loop, not inside the write). */
  const advance = (ms: number) => {
    clock.advance(ms);
    while (deferred.length > 0) deferred.shift()?.();
  };
  return { clock, advance, sent, nacks, state, session, write };
}

describe("SidecarSession", () => {
  it("sends the first snapshot at once, a change after a quiet window at once, and a burst once per window", () => {
    const h = harness();
    h.session.start();
    assert.deepEqual(
      h.sent.map((s) => s.version),
      [1],
    );
    for (let i = 0; i < 20; i++) h.write(() => h.state.services.set("reviews", 8000 + i));
    assert.equal(h.sent.length, 1, "not inside the write");
    h.advance(0);
    assert.deepEqual(
      h.sent.map((s) => s.version),
      [1, 21],
      "writes of one turn of the event loop: one push",
    );
    assert.match(h.sent[1]?.resources?.find((r) => r.name === "reviews")?.json ?? "", /"port":8019/);
    for (let i = 0; i < 5; i++) {
      h.advance(5);
      h.write(() => h.state.services.set("reviews", 9000 + i));
    }
    h.advance(24);
    assert.equal(h.sent.length, 2, "49 ms after the last push");
    h.advance(1);
    assert.deepEqual(
      h.sent.map((s) => s.version),
      [1, 21, 26],
    );
  });

  it("skips changes outside the sidecar's scope", () => {
    const h = harness();
    h.session.start();
    h.write(() => h.state.services.set("unrelated", 81));
    h.advance(100);
    assert.equal(h.sent.length, 1);
  });

  it("records ACKs only for the nonce it sent", () => {
    const h = harness();
    h.session.start();
    h.session.ack(1, "bogus");
    assert.equal(h.session.info.lastAckedVersion, 0);
    h.session.ack(1, h.sent[0]?.nonce ?? "");
    assert.equal(h.session.info.lastAckedVersion, 1);
  });

  it("does not resend NACKed content; pushes again once the content changes", () => {
    const h = harness();
    h.session.start();
    h.session.nack(1, h.sent[0]?.nonce ?? "", "bad route");
    assert.deepEqual(h.session.info.lastNack, { version: 1, error: "bad route" });
    h.write(() => h.state.services.set("unrelated", 81));
    h.advance(1000);
    assert.equal(h.sent.length, 1, "same scoped content: no resend loop");
    h.write(() => h.state.services.set("reviews", 81));
    h.advance(50);
    assert.equal(h.sent.length, 2);
    h.session.nack(3, h.sent[1]?.nonce ?? "", "still bad");
    assert.deepEqual(h.nacks, [1, 2]);
  });

  it("forgets a NACK once the sidecar ACKs a later version: the rejected count is the current state", () => {
    const h = harness();
    h.session.start();
    h.session.nack(1, h.sent[0]?.nonce ?? "", "bad route");
    h.write(() => h.state.services.set("reviews", 81));
    h.advance(50);
    h.session.ack(1, h.sent[0]?.nonce ?? "");
    assert.notEqual(h.session.info.lastNack, undefined, "a stale nonce changes nothing");
    h.session.ack(2, h.sent[1]?.nonce ?? "");
    assert.equal(h.session.info.lastNack, undefined);
    assert.equal(h.session.info.lastAckedVersion, 2);
  });

  it("never sends a version at or below one already sent, and stops when closed", () => {
    const h = harness();
    h.session.start();
    h.state.revision = 0;
    h.state.services.set("reviews", 1);
    h.session.changed();
    h.advance(50);
    assert.deepEqual(
      h.sent.map((s) => s.version),
      [1],
    );
    h.session.close();
    h.write(() => h.state.services.set("reviews", 2));
    h.advance(50);
    assert.equal(h.sent.length, 1);
    assert.equal(h.clock.pendingTimers(), 0);
  });
});
