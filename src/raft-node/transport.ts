import {
  type ChannelCredentials,
  type ClientWritableStream,
  credentials,
  Metadata,
  type Server,
  type ServerReadableStream,
  type ServiceError,
  type sendUnaryData,
  status,
} from "@grpc/grpc-js";
import { errorCode, errorMessage, MeshletError } from "../common/errors.ts";
import type { Logger } from "../common/logger.ts";
import { METRIC_PREFIX } from "../common/metrics.ts";
import { Counter, type Registry } from "../common/prom.ts";
import type { ForwardRequest__Output } from "../gen/meshlet/raft/v1/ForwardRequest.ts";
import type { ForwardResponse } from "../gen/meshlet/raft/v1/ForwardResponse.ts";
import type { Message__Output as PbMessageOut } from "../gen/meshlet/raft/v1/Message.ts";
import type { MessageBatch, MessageBatch__Output } from "../gen/meshlet/raft/v1/MessageBatch.ts";
import type { RaftClient } from "../gen/meshlet/raft/v1/Raft.ts";
import type { SnapshotAck } from "../gen/meshlet/raft/v1/SnapshotAck.ts";
import type { SnapshotChunk, SnapshotChunk__Output } from "../gen/meshlet/raft/v1/SnapshotChunk.ts";
import type { StreamAck } from "../gen/meshlet/raft/v1/StreamAck.ts";
import { type Message, MessageType, type NodeId } from "../raft/types.ts";
import { coalesceAppends } from "./coalesce.ts";
import { fromPb, raftProto, toPb } from "./raft-proto.ts";

/** What the driver needs to move Raft messages between nodes. send() never blocks. */
export interface Transport {
  send(messages: readonly Message[]): void;
  setPeer(id: NodeId, address: string): void;
  removePeer(id: NodeId): void;
  close(): void;
}

/** Where the transport delivers what it learns. */
export interface TransportSink {
  receive(m: Message): void;
  /** Messages to `id` were lost; Raft should probe it instead of streaming. */
  unreachable(id: NodeId): void;
  snapshotDone(id: NodeId, ok: boolean): void;
  /** A follower forwarded a client's proposal; resolves once proposed here, rejects with a MeshletError. */
  forward(data: Uint8Array, confChange: boolean): Promise<void>;
}

/** The leader refused or could not be reached for a forwarded proposal. */
export class ForwardError extends MeshletError {
  readonly leader: string;
  /**
   * The call failed in a way that does not say whether the leader got it (the
   * connection broke or the deadline passed after it was sent): the leader may
   * have proposed it, and it may still commit. Sending it again could apply it
   * twice; false when the leader answered with a refusal or the call never left.
   */
  readonly mayHaveProposed: boolean;
  constructor(code: string, message: string, leader = "", mayHaveProposed = false) {
    super(code, message);
    this.name = "ForwardError";
    this.leader = leader;
    this.mayHaveProposed = mayHaveProposed;
  }
}

/**
 * Whether a failed unary call certainly never reached the server: grpc-js
 * fails a call with UNAVAILABLE "No connection established" when its channel
 * has no connection to give it. Anything else (a reset mid-call, a deadline)
 * may come after the server acted. A different wording in another grpc-js
 * version only makes more failures count as possibly delivered: the safe side.
 */
export function neverSent(err: ServiceError): boolean {
  return err.code === status.UNAVAILABLE && err.details.includes("No connection established");
}

export interface GrpcTransportOptions {
  id: NodeId;
  /** This node's own peer address, sent with every batch. */
  address: string;
  clusterId: string;
  sink: TransportSink;
  logger: Logger;
  registry: Registry;
  /** Messages queued for one peer beyond this are dropped (Raft retransmits). */
  maxQueue?: number;
  snapshotChunkBytes?: number;
  /** How to dial peer `id` (default plain); read for each new peer channel, so a check can expect that node. */
  credentials?: (id: NodeId) => ChannelCredentials;
  /**
   * The node an incoming call's connection authenticated as (its node certificate), or undefined when peers are
   * not authenticated (--insecure). When set, a message whose `from` is another node is dropped: a certificate
   * speaks for its own node only.
   */
  senderOf?: (call: { getPeer(): string }) => string | undefined;
}

const MIN_BACKOFF_MS = 50;
const MAX_BACKOFF_MS = 1_000;

/**
 * One long-lived client stream per peer, fed from a bounded queue that is
 * flushed as one MessageBatch per event-loop turn. Every peer has its own
 * queue, stream and backoff, so a slow or dead peer only loses its own
 * messages. Snapshots go through InstallSnapshot in chunks.
 */
export class GrpcTransport implements Transport {
  readonly #o: GrpcTransportOptions;
  readonly #peers = new Map<NodeId, PeerSender>();
  readonly #failures: Counter<"peer">;
  readonly #unknown: Counter<"type">;
  readonly #impersonations: Counter;
  /** Why peers are refused (this node cannot persist), or undefined. */
  #refusal: string | undefined;
  /** Ends each open incoming stream with RESOURCE_EXHAUSTED. */
  readonly #openStreams = new Set<() => void>();

  constructor(o: GrpcTransportOptions) {
    this.#o = o;
    this.#failures = new Counter({
      name: `${METRIC_PREFIX}raft_peer_send_failures_total`,
      help: "Messages to a peer that were dropped or whose stream broke",
      labelNames: ["peer"],
      registers: [o.registry],
    });
    this.#impersonations = new Counter({
      name: `${METRIC_PREFIX}raft_impersonated_messages_total`,
      help: "Raft messages dropped because their sender is not the node the connection's certificate names",
      registers: [o.registry],
    });
    this.#unknown = new Counter({
      name: `${METRIC_PREFIX}raft_unknown_messages_total`,
      help: "Messages from a peer of a type this version does not know (a newer peer), dropped",
      labelNames: ["type"],
      registers: [o.registry],
    });
  }

  /**
   * While `reason` is set, every incoming Raft stream, snapshot and forwarded
   * proposal is answered RESOURCE_EXHAUSTED: this node cannot persist what
   * they carry. Open streams end at once, so peers that follow this node as
   * their leader see it gone and elect another without waiting out their
   * election timeout. undefined accepts peers again.
   */
  refuse(reason: string | undefined): void {
    this.#refusal = reason;
    if (reason === undefined) return;
    for (const end of [...this.#openStreams]) end();
  }

  #refused(): { code: status; details: string } {
    return { code: status.RESOURCE_EXHAUSTED, details: `${this.#o.id} cannot write its data dir: ${this.#refusal}` };
  }

  /** Adds meshlet.raft.v1.Raft to `server`; incoming batches of another cluster are refused. */
  serve(server: Pick<Server, "addService">): void {
    const { clusterId, sink, logger } = this.#o;
    /** A message of a type this version does not know (a newer peer) is dropped, counted, logged once per type. */
    const unknownTypes = new Set<string>();
    /** Whether `from` may be the sender on `call`'s connection; a mismatch is counted and logged once per call. */
    const senderCheck = (call: { getPeer(): string }) => {
      const sender = this.#o.senderOf === undefined ? undefined : (this.#o.senderOf(call) ?? "");
      let logged = false;
      return (from: string): boolean => {
        if (sender === undefined || from === sender) return true;
        this.#impersonations.inc();
        if (!logged) logger.warn({ from, certificate: sender }, "dropping Raft messages sent in another node's name");
        logged = true;
        return false;
      };
    };
    const decoded = (m: PbMessageOut, snapshotData?: Uint8Array): Message | undefined => {
      try {
        return fromPb(m, snapshotData);
      } catch (err) {
        if (!unknownTypes.has(m.type)) logger.warn({ from: m.from, err: errorMessage(err) }, "dropping Raft messages");
        unknownTypes.add(m.type);
        this.#unknown.inc({ type: String(m.type) });
        return undefined;
      }
    };
    server.addService(raftProto().meshlet.raft.v1.Raft.service, {
      Stream: (call: ServerReadableStream<MessageBatch__Output, StreamAck>, done: sendUnaryData<StreamAck>) => {
        // Headers at once: until its peer has seen them, grpc-js keeps every message written on the stream for a
        // retry, and a follower's small replies pinned 64 KiB buffers (47 MB of 180 with 100,000 keys).
        call.sendMetadata(new Metadata());
        const mayBe = senderCheck(call);
        let received = 0;
        let refused = false;
        let ended = false;
        const finish = (err: { code: status; details: string } | null) => {
          if (ended) return;
          ended = true;
          this.#openStreams.delete(exhausted);
          if (err === null) done(null, { received });
          else done(err);
        };
        const exhausted = () => finish(this.#refused());
        if (this.#refusal !== undefined) {
          exhausted();
          return;
        }
        this.#openStreams.add(exhausted);
        call.on("data", (batch: MessageBatch__Output) => {
          if (ended) return;
          if (batch.clusterId !== clusterId) {
            if (!refused) logger.warn({ clusterId: batch.clusterId }, "refusing Raft messages from another cluster");
            refused = true;
            return;
          }
          if (batch.messages.some((m) => !mayBe(m.from))) return;
          if (batch.fromAddress !== "" && batch.messages[0] !== undefined && !this.#peers.has(batch.messages[0].from)) {
            this.setPeer(batch.messages[0].from, batch.fromAddress);
          }
          for (const m of batch.messages) {
            received++;
            const message = decoded(m);
            if (message !== undefined) sink.receive(message);
          }
        });
        call.on("end", () => finish(null));
        call.on("error", () => {
          ended = true;
          this.#openStreams.delete(exhausted);
        });
      },
      InstallSnapshot: (
        call: ServerReadableStream<SnapshotChunk__Output, SnapshotAck>,
        done: sendUnaryData<SnapshotAck>,
      ) => {
        const parts: Buffer[] = [];
        const mayBe = senderCheck(call);
        let size = 0;
        let finished = false;
        call.on("data", (chunk: SnapshotChunk__Output) => {
          if (finished) return;
          if (this.#refusal !== undefined) {
            finished = true;
            done(this.#refused());
            return;
          }
          if (chunk.clusterId !== clusterId || chunk.offset !== size) {
            finished = true;
            done({ code: status.INVALID_ARGUMENT, details: "snapshot chunk of another cluster or out of order" });
            return;
          }
          parts.push(chunk.data);
          size += chunk.data.length;
          if (chunk.last && chunk.message !== null) {
            finished = true;
            if (!mayBe(chunk.message.from)) {
              done({ code: status.PERMISSION_DENIED, details: "a snapshot sent in another node's name" });
              return;
            }
            const message = decoded(chunk.message, new Uint8Array(Buffer.concat(parts)));
            if (message === undefined) done({ code: status.INVALID_ARGUMENT, details: "unknown message type" });
            else {
              sink.receive(message);
              done(null, { ok: true, error: "" });
            }
          }
        });
        call.on("end", () => {
          if (!finished) done(null, { ok: false, error: "stream ended before the last chunk" });
        });
        call.on("error", () => {});
      },
      Forward: (call: { request: ForwardRequest__Output }, done: sendUnaryData<ForwardResponse>) => {
        const req = call.request;
        if (this.#refusal !== undefined) {
          done(this.#refused());
          return;
        }
        if (req.clusterId !== clusterId) {
          done(null, { ok: false, errorCode: "ERR_CLUSTER", errorMessage: "forwarded from another cluster" });
          return;
        }
        sink.forward(new Uint8Array(req.data), req.confChange).then(
          () => done(null, { ok: true }),
          (err: unknown) =>
            done(null, {
              ok: false,
              errorCode: errorCode(err),
              errorMessage: errorMessage(err),
              leader: err instanceof ForwardError ? err.leader : "",
            }),
        );
      },
    });
  }

  /** Hands a proposal to `leader`; resolves once the leader proposed it (not once it is applied). */
  forward(leader: NodeId, data: Uint8Array, confChange: boolean, deadlineMs: number): Promise<void> {
    const peer = this.#peers.get(leader);
    if (peer === undefined)
      return Promise.reject(new ForwardError("ERR_NO_LEADER", `no address known for leader ${leader}`));
    return peer.forward(data, confChange, deadlineMs);
  }

  setPeer(id: NodeId, address: string): void {
    if (id === this.#o.id) return;
    const existing = this.#peers.get(id);
    if (existing?.address === address) return;
    existing?.close();
    this.#peers.set(id, new PeerSender(id, address, this.#o, this.#failures));
  }

  removePeer(id: NodeId): void {
    this.#peers.get(id)?.close();
    this.#peers.delete(id);
  }

  send(messages: readonly Message[]): void {
    for (const m of messages) {
      const peer = this.#peers.get(m.to);
      if (peer === undefined) {
        this.#o.sink.unreachable(m.to);
        continue;
      }
      peer.enqueue(m);
    }
  }

  close(): void {
    for (const p of this.#peers.values()) p.close();
    this.#peers.clear();
  }
}

class PeerSender {
  readonly id: NodeId;
  readonly address: string;
  readonly #o: GrpcTransportOptions;
  readonly #failures: Counter<"peer">;
  readonly #client: RaftClient;
  #queue: Message[] = [];
  #stream: ClientWritableStream<MessageBatch> | undefined;
  #blocked = false;
  #flushScheduled = false;
  #backoffMs = MIN_BACKOFF_MS;
  #retryAt = 0;
  #snapshotInFlight = false;
  #closed = false;

  constructor(id: NodeId, address: string, o: GrpcTransportOptions, failures: Counter<"peer">) {
    this.id = id;
    this.address = address;
    this.#o = o;
    this.#failures = failures;
    const Client = raftProto().meshlet.raft.v1.Raft;
    this.#client = new Client(address, o.credentials?.(id) ?? credentials.createInsecure(), {
      "grpc.initial_reconnect_backoff_ms": MIN_BACKOFF_MS,
      "grpc.max_reconnect_backoff_ms": MAX_BACKOFF_MS,
      "grpc.max_send_message_length": 64 * 1024 * 1024,
      "grpc.max_receive_message_length": 64 * 1024 * 1024,
    });
  }

  enqueue(m: Message): void {
    if (this.#closed) return;
    if (m.type === MessageType.Snap) {
      this.#sendSnapshot(m);
      return;
    }
    if (this.#queue.length >= (this.#o.maxQueue ?? 4096)) {
      this.#failures.inc({ peer: this.id });
      this.#o.sink.unreachable(this.id);
      return;
    }
    this.#queue.push(m);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  forward(data: Uint8Array, confChange: boolean, deadlineMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#client.Forward(
        { clusterId: this.#o.clusterId, data, confChange },
        { deadline: Date.now() + deadlineMs },
        (err, res) => {
          if (err !== null)
            reject(
              new ForwardError("ERR_NO_LEADER", `forwarding to ${this.id} failed: ${err.message}`, "", !neverSent(err)),
            );
          else if (res?.ok !== true)
            reject(new ForwardError(res?.errorCode || "ERR_NO_LEADER", res?.errorMessage ?? "", res?.leader ?? ""));
          else resolve();
        },
      );
    });
  }

  close(): void {
    this.#closed = true;
    this.#queue = [];
    this.#stream?.cancel();
    this.#stream = undefined;
    this.#client.close();
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#closed || this.#blocked || this.#queue.length === 0) return;
    const stream = this.#openStream();
    if (stream === undefined) {
      // Still backing off: what is queued now is stale by the time the peer is back, and Raft resends.
      this.#drop();
      return;
    }
    const messages = coalesceAppends(this.#queue);
    this.#queue = [];
    const ok = stream.write({
      clusterId: this.#o.clusterId,
      fromAddress: this.#o.address,
      messages: messages.map((m) => toPb(m)),
    });
    if (!ok) {
      this.#blocked = true;
      stream.once("drain", () => {
        this.#blocked = false;
        this.#flush();
      });
    }
  }

  #openStream(): ClientWritableStream<MessageBatch> | undefined {
    if (this.#stream !== undefined) return this.#stream;
    if (Date.now() < this.#retryAt) return undefined;
    const stream = this.#client.Stream((err) => {
      if (this.#stream !== stream) return;
      this.#stream = undefined;
      this.#blocked = false;
      if (this.#closed) return;
      if (err !== null) this.#broken(err.message);
    });
    stream.on("error", () => {});
    this.#stream = stream;
    // A healthy stream lives until the process ends; the backoff resets once it carried a batch without failing.
    setTimeout(() => {
      if (this.#stream === stream) this.#backoffMs = MIN_BACKOFF_MS;
    }, MAX_BACKOFF_MS).unref();
    return stream;
  }

  #broken(reason: string): void {
    this.#failures.inc({ peer: this.id });
    this.#o.sink.unreachable(this.id);
    this.#o.logger.debug(
      { peer: this.id, address: this.address, reason, backoffMs: this.#backoffMs },
      "peer stream broke",
    );
    const jitter = Math.random() * this.#backoffMs * 0.5;
    this.#retryAt = Date.now() + this.#backoffMs + jitter;
    this.#backoffMs = Math.min(this.#backoffMs * 2, MAX_BACKOFF_MS);
  }

  #drop(): void {
    if (this.#queue.length === 0) return;
    this.#failures.inc({ peer: this.id }, this.#queue.length);
    this.#queue = [];
    this.#o.sink.unreachable(this.id);
  }

  #sendSnapshot(m: Message): void {
    const snap = m.snapshot;
    if (this.#snapshotInFlight || snap === undefined) return;
    this.#snapshotInFlight = true;
    const chunkBytes = this.#o.snapshotChunkBytes ?? 1024 * 1024;
    const data = Buffer.from(snap.data.buffer, snap.data.byteOffset, snap.data.byteLength);
    const finish = (ok: boolean, reason: string) => {
      this.#snapshotInFlight = false;
      if (!ok) {
        this.#failures.inc({ peer: this.id });
        this.#o.logger.warn({ peer: this.id, index: snap.metadata.index, reason }, "sending a snapshot failed");
      }
      this.#o.sink.snapshotDone(this.id, ok);
    };
    const call = this.#client.InstallSnapshot({ deadline: Date.now() + 60_000 }, (err, ack) => {
      if (err !== null) finish(false, err.message);
      else finish(ack?.ok === true, ack?.error ?? "no ack");
    });
    call.on("error", () => {});
    let offset = 0;
    const writeNext = (): void => {
      while (offset < data.length || offset === 0) {
        const end = Math.min(offset + chunkBytes, data.length);
        const last = end >= data.length;
        const chunk: SnapshotChunk = { clusterId: this.#o.clusterId, offset, data: data.subarray(offset, end), last };
        if (last) chunk.message = toPb(m, false);
        const more = call.write(chunk);
        offset = end;
        if (last) {
          call.end();
          return;
        }
        if (!more) {
          call.once("drain", writeNext);
          return;
        }
      }
    };
    writeNext();
  }
}
