import { fileURLToPath } from "node:url";
import { loadPackageDefinition } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { MeshletError } from "../common/errors.ts";
import type { Message as PbMessage, Message__Output as PbMessageOut } from "../gen/meshlet/raft/v1/Message.ts";
import type { ProtoGrpcType } from "../gen/raft.ts";
import { type Entry, EntryType, type Message, MessageType } from "../raft/types.ts";

const PROTO = fileURLToPath(new URL("../../proto/meshlet/raft/v1/raft.proto", import.meta.url));

let cached: ProtoGrpcType | undefined;

/** meshlet.raft.v1, loaded with the options the generated types in src/gen assume. */
export function raftProto(): ProtoGrpcType {
  cached ??= loadPackageDefinition(
    loadSync(PROTO, { longs: Number, enums: String, defaults: true, oneofs: true }),
  ) as unknown as ProtoGrpcType;
  return cached;
}

type PbType = Extract<NonNullable<PbMessage["type"]>, string>;

export class UnknownMessageTypeError extends MeshletError {
  constructor(type: string) {
    super("ERR_UNKNOWN_MESSAGE", `unknown Raft message type ${type} on the wire`);
    this.name = "UnknownMessageTypeError";
  }
}

/** "MsgApp" <-> "MSG_APP", computed once: every message crosses one of these maps. */
const TO_PB = new Map<MessageType, PbType>(
  Object.values(MessageType).map((t) => [
    t,
    t
      .replace(/^Msg/, "MSG_")
      .replace(/([a-z])([A-Z])/g, "$1_$2")
      .toUpperCase() as PbType,
  ]),
);
const FROM_PB = new Map<string, MessageType>([...TO_PB].map(([t, pb]): [string, MessageType] => [pb, t]));

function toPbType(t: MessageType): PbType {
  const pb = TO_PB.get(t);
  if (pb === undefined) throw new Error(`unknown Raft message type ${t}`);
  return pb;
}

function fromPbType(t: string): MessageType {
  const type = FROM_PB.get(t);
  // A peer of another version: the transport refuses the message (see fromPb's callers).
  if (type === undefined) throw new UnknownMessageTypeError(t);
  return type;
}

const toPbEntry = (e: Entry) => ({
  term: e.term,
  index: e.index,
  type: e.type === EntryType.ConfChange ? ("ENTRY_CONF_CHANGE" as const) : ("ENTRY_NORMAL" as const),
  data: e.data,
});

export function toPb(m: Message, withSnapshotData = true): PbMessage {
  return {
    type: toPbType(m.type),
    from: m.from,
    to: m.to,
    term: m.term,
    logTerm: m.logTerm,
    index: m.index,
    entries: m.entries.map(toPbEntry),
    commit: m.commit,
    snapshot:
      m.snapshot === undefined
        ? null
        : {
            metadata: m.snapshot.metadata,
            data: withSnapshotData ? m.snapshot.data : new Uint8Array(),
          },
    reject: m.reject,
    rejectHint: m.rejectHint,
    rejectHintTerm: m.rejectHintTerm,
    context: m.context,
  };
}

export function fromPb(m: PbMessageOut, snapshotData?: Uint8Array): Message {
  const out: Message = {
    type: fromPbType(m.type),
    from: m.from,
    to: m.to,
    term: m.term,
    logTerm: m.logTerm,
    index: m.index,
    entries: m.entries.map((e) => ({
      term: e.term,
      index: e.index,
      type: e.type === "ENTRY_CONF_CHANGE" ? EntryType.ConfChange : EntryType.Normal,
      // A view into the received message: the storage copies what it keeps (see MemoryStorage).
      data: new Uint8Array(e.data.buffer, e.data.byteOffset, e.data.byteLength),
    })),
    commit: m.commit,
    reject: m.reject,
    rejectHint: m.rejectHint,
    rejectHintTerm: m.rejectHintTerm,
    context: new Uint8Array(m.context),
  };
  const s = m.snapshot;
  if (s !== null) {
    out.snapshot = {
      metadata: {
        index: s.metadata?.index ?? 0,
        term: s.metadata?.term ?? 0,
        confState: { voters: s.metadata?.confState?.voters ?? [], learners: s.metadata?.confState?.learners ?? [] },
      },
      data: snapshotData ?? new Uint8Array(s.data),
    };
  }
  return out;
}
