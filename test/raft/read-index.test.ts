import assert from "node:assert/strict";
import { test } from "node:test";
import { Cluster } from "./harness.ts";

const enc = new TextEncoder();

test("§6.4 (thesis) ReadIndex: the leader releases a read only after a heartbeat round confirms it still leads", () => {
  const c = new Cluster(["n1", "n2", "n3"]);
  c.elect("n1");
  c.propose("n1", "a");
  c.stabilize();
  c.raw("n1").readIndex(enc.encode("r1"));
  c.process("n1");
  assert.equal(c.node("n1").reads.length, 0);
  const beats = c.take((m) => m.type === "MsgHeartbeat");
  assert.equal(beats.length, 2);
  const first = beats[0];
  assert.ok(first !== undefined);
  c.deliver(first);
  c.stabilize();
  assert.equal(c.node("n1").reads.length, 1);
  assert.equal(c.node("n1").reads[0]?.index, c.raw("n1").status().commit);
});

test("§6.4 (thesis) ReadIndex: a deposed leader cut off from the majority never releases the read", () => {
  const c = new Cluster(["n1", "n2", "n3"]);
  c.elect("n1");
  c.isolate("n1");
  c.raw("n1").readIndex(enc.encode("r1"));
  c.process("n1");
  c.stabilize();
  c.tick("n1", 30);
  c.stabilize();
  assert.equal(c.node("n1").reads.length, 0);
});

test("ReadIndex on a follower goes to the leader and comes back with the leader's commit index", () => {
  const c = new Cluster(["n1", "n2", "n3"]);
  c.elect("n1");
  c.propose("n1", "a");
  c.stabilize();
  c.raw("n2").readIndex(enc.encode("r2"));
  c.process("n2");
  c.stabilize();
  const reads = c.node("n2").reads;
  assert.equal(reads.length, 1);
  assert.equal(new TextDecoder().decode(reads[0]?.requestCtx), "r2");
  assert.equal(reads[0]?.index, c.raw("n1").status().commit);
});

test("ReadIndex with no known leader is refused with ERR_NOT_LEADER", () => {
  const c = new Cluster(["n1", "n2", "n3"]);
  assert.throws(() => c.raw("n2").readIndex(enc.encode("r")), { code: "ERR_NOT_LEADER" });
});
