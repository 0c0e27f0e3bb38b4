import assert from "node:assert/strict";
import { test } from "node:test";
import { CA_KEY } from "../../../src/controlplane/security/ca-state.ts";
import { RevisionedKv } from "../../../src/controlplane/state/kv.ts";
import { encodeCommand } from "../../../src/controlplane/state/machine.ts";
import { storedFromText } from "../../../src/controlplane/state/value.ts";
import { raftStateHoldsCa } from "../../../src/controlplane/tls/founding.ts";
import { type Entry, EntryType } from "../../../src/raft/types.ts";

const setCa = encodeCommand(
  { type: "security.ca.set", certChainPem: "PEM", keyPem: "KEY", onlyIfAbsent: true },
  "n1:abcd:1\n",
);
const entry = (index: number, data: Uint8Array, type: EntryType = EntryType.Normal): Entry => ({
  index,
  term: 1,
  type,
  data,
});

test("the founding window is decided from Raft state: a committed CA entry or a snapshot holding the CA", () => {
  const empty = new RevisionedKv();
  const config = encodeCommand({ type: "config.put", key: "a", value: '"type":"security.ca.set"' });
  assert.equal(raftStateHoldsCa(empty, [], 0), false, "a new node");
  assert.equal(raftStateHoldsCa(empty, [entry(1, new Uint8Array()), entry(2, config)], 2), false);
  // A command whose nested object holds the pair the CA command's JSON starts with (a label, a config object).
  const nested = encodeCommand(
    { type: "mesh.apply", resource: { metadata: { labels: { type: "security.ca.set" } } } } as never,
    "n1:abcd:2\n",
  );
  assert.equal(raftStateHoldsCa(empty, [entry(1, nested)], 1), false, "a nested type is not the command's");
  assert.equal(raftStateHoldsCa(empty, [entry(1, new Uint8Array()), entry(2, setCa)], 2), true);
  assert.equal(raftStateHoldsCa(empty, [entry(2, setCa)], 1), false, "not committed: it may yet be replaced");
  const restored = new RevisionedKv();
  restored.put(CA_KEY, storedFromText("{}"), 1);
  assert.equal(raftStateHoldsCa(restored, [], 0), true, "a snapshot's state");
});
