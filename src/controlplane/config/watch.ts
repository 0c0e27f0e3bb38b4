import { type Clock, systemClock, type TimerHandle } from "../../common/clock.ts";
import { errorCode, HttpError } from "../../common/errors.ts";
import { invalidKeyReason } from "../../config/config-key.ts";
import type { Consistency, ControlNode } from "../node.ts";
import type { KvEvent, Watch } from "../state/kv.ts";
import { CONFIG_PREFIX } from "./commands.ts";
import { HistoryCompactedError } from "./errors.ts";
import { watchMetricsOf } from "./watch-metrics.ts";

/** What a watch asks for; `start` is the first revision wanted (inclusive), undefined = from now. */
export interface WatchRequest {
  key: string;
  prefix: boolean;
  start: number | undefined;
  consistency: Consistency;
}

/** Why a watch ended; everything up to `revision` was delivered, so a new watch resumes at `revision + 1`. */
export interface WatchEnd {
  code: string;
  message: string;
  revision: number;
  compactedRevision?: number;
}

/** A transport for one watch (SSE, gRPC). Events arrive in revision order; nothing is written after close(). */
export interface WatchSink {
  /** Everything after `revision` will follow; nothing is sent before this. */
  started(revision: number, compactedRevision: number): void;
  /** A KV event under config/; the same object is passed to every sink, so a sink may cache its encoding. */
  event(e: KvEvent): void;
  /** Nothing this watch matches changed up to `revision`; also the keepalive of an idle stream. */
  progress(revision: number): void;
  /** Bytes accepted and not yet sent: the watcher's backlog. */
  buffered(): number;
  close(end: WatchEnd): void;
}

export interface WatchOptions {
  /** For the linearizable start (a ReadIndex); the stream itself has no deadline. */
  deadlineMs: number;
  /** A watcher whose backlog exceeds this is cut (ERR_WATCH_SLOW) at a revision boundary. */
  maxBufferedBytes?: number;
  /** How often an idle watch reports progress (its keepalive). */
  progressMs?: number;
  clock?: Clock;
  /** The metric label of the stream: sse or grpc. */
  transport?: string;
}

export const DEFAULT_MAX_BUFFERED_BYTES = 16 * 1024 * 1024;
/** Below the 30-60 s idle timeouts of common proxies and load balancers. */
export const DEFAULT_PROGRESS_MS = 10_000;

export class FutureRevisionError extends HttpError {
  constructor(start: number, current: number) {
    super(400, "ERR_FUTURE_REVISION", `revision ${start} is in the future: the store is at revision ${current}`);
    this.name = "FutureRevisionError";
  }
}

/** Checks a watch request's key; throws 400 ERR_BAD_KEY. A prefix may be empty (every key). */
export function checkWatchKey(key: string, prefix: boolean): void {
  if (prefix && key === "") return;
  const reason = invalidKeyReason(key);
  if (reason !== undefined) throw new HttpError(400, "ERR_BAD_KEY", reason);
}

/**
 * One watch on the config keys of a node's applied state, etcd style: from a
 * revision (kept history replayed first) or from now, then every change in
 * log order. The start is linearizable by default: after a ReadIndex the node
 * has applied everything committed when the watch was asked for, so a watch
 * on a follower misses nothing a leader already acknowledged, and "the
 * future" is judged against the cluster, not a lagging node. Events are
 * collected as the node applies them and written on the next turn of the
 * event loop, never inside the apply.
 */
export class ConfigWatch {
  readonly #sink: WatchSink;
  readonly #kvRevision: () => number;
  readonly #maxBuffered: number;
  readonly #progressMs: number;
  readonly #clock: Clock;
  #watch: Watch | undefined;
  /** The node's watch metrics (counted once the stream starts), and the transport label. */
  #metrics: { open: { inc(): void; dec(): void }; ended: (code: string) => void } | undefined;
  #pending: KvEvent[] = [];
  #scheduled = false;
  #attached = false;
  #closed = false;
  #timer: TimerHandle | undefined;
  /** Everything up to here was handed to the sink. */
  #delivered = 0;
  #start = 0;
  #compacted = 0;
  /** An end that came before attach(): sent right after the start. */
  #early: Omit<WatchEnd, "revision"> | undefined;

  private constructor(sink: WatchSink, kvRevision: () => number, o: WatchOptions) {
    this.#sink = sink;
    this.#kvRevision = kvRevision;
    this.#maxBuffered = o.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
    this.#progressMs = o.progressMs ?? DEFAULT_PROGRESS_MS;
    this.#clock = o.clock ?? systemClock;
  }

  /**
   * Starts a watch; rejects, before anything reaches the sink, with 400
   * (bad key, future revision), 410 (compacted) or the node's 503. The sink
   * gets nothing until attach(), so a transport can send its headers first.
   */
  static async open(node: ControlNode, req: WatchRequest, sink: WatchSink, o: WatchOptions): Promise<ConfigWatch> {
    const metrics = watchMetricsOf(node);
    try {
      const w = await ConfigWatch.#open(node, req, sink, o);
      if (metrics !== undefined) {
        const open = metrics.open.labels({ transport: o.transport ?? "sse" });
        w.#metrics = { open, ended: (code) => metrics.ended.inc({ code }) };
      }
      return w;
    } catch (err) {
      metrics?.refused.inc({ code: errorCode(err) });
      throw err;
    }
  }

  static async #open(node: ControlNode, req: WatchRequest, sink: WatchSink, o: WatchOptions): Promise<ConfigWatch> {
    checkWatchKey(req.key, req.prefix);
    if (req.start !== undefined && (!Number.isSafeInteger(req.start) || req.start < 0))
      throw new HttpError(400, "ERR_BAD_REQUEST", `revision: expected a non-negative integer, got ${req.start}`);
    const w = new ConfigWatch(sink, () => node.kv.revision, o);
    const full = CONFIG_PREFIX + req.key;
    await node.read(
      (kv) => {
        const current = kv.revision;
        const start = req.start === undefined || req.start === 0 ? current + 1 : req.start;
        if (start > current + 1) throw new FutureRevisionError(start, current);
        if (start - 1 < kv.compactedRevision) {
          throw new HistoryCompactedError(
            `history before revision ${kv.compactedRevision + 1} is compacted (asked from ${start}); read the current value and watch from its revision`,
            kv.compactedRevision,
          );
        }
        w.#delivered = start - 1;
        w.#start = start - 1;
        w.#compacted = kv.compactedRevision;
        w.#watch = kv.watch(
          full,
          start - 1,
          (e) => {
            if (req.prefix || e.key === full) w.#queue(e);
          },
          (revision) =>
            w.#end({
              code: "ERR_COMPACTED",
              message: `this node replaced its state with a snapshot at revision ${revision}; read again and watch from there`,
              compactedRevision: revision,
            }),
        );
      },
      { consistency: req.consistency, deadlineMs: o.deadlineMs },
    );
    return w;
  }

  /** The revision after which every change is delivered (what the watch reports first). */
  get startRevision(): number {
    return this.#start;
  }

  /** The transport is ready: the start goes out, then what was collected meanwhile. */
  attach(): void {
    if (this.#attached) return;
    this.#attached = true;
    this.#metrics?.open.inc();
    this.#sink.started(this.#start, this.#compacted);
    if (this.#early !== undefined) {
      this.#sink.close({ ...this.#early, revision: this.#delivered });
      return;
    }
    if (this.#closed) return;
    this.#flush();
    this.#arm();
  }

  /** The client went away. */
  cancel(): void {
    if (!this.#closed) this.#metrics?.ended("client");
    this.#stop();
  }

  #queue(e: KvEvent): void {
    if (this.#closed) return;
    this.#pending.push(e);
    if (this.#scheduled || !this.#attached) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#flush();
    });
  }

  #flush(): void {
    if (this.#closed || !this.#attached) return;
    const events = this.#pending;
    this.#pending = [];
    for (const e of events) {
      // Cut only between revisions, so a resume at #delivered + 1 neither repeats nor skips an event.
      if (e.revision !== this.#delivered && this.#sink.buffered() > this.#maxBuffered) {
        this.#slow();
        return;
      }
      this.#sink.event(e);
      this.#delivered = e.revision;
    }
  }

  #arm(): void {
    this.#timer = this.#clock.setTimeout(() => {
      if (this.#closed) return;
      this.#flush();
      if (this.#closed) return;
      if (this.#sink.buffered() > this.#maxBuffered) {
        this.#slow();
        return;
      }
      // Every event up to the applied revision was collected when it applied, and was just flushed.
      this.#delivered = Math.max(this.#delivered, this.#kvRevision());
      this.#sink.progress(this.#delivered);
      this.#arm();
    }, this.#progressMs);
  }

  #slow(): void {
    this.#end({
      code: "ERR_WATCH_SLOW",
      message: `the watcher fell more than ${this.#maxBuffered} bytes behind; watch again from revision ${this.#delivered + 1}`,
    });
  }

  #end(end: Omit<WatchEnd, "revision">): void {
    if (this.#closed) return;
    this.#metrics?.ended(end.code);
    this.#stop();
    if (this.#attached) this.#sink.close({ ...end, revision: this.#delivered });
    else this.#early = end;
  }

  #stop(): void {
    if (this.#closed) return;
    if (this.#attached) this.#metrics?.open.dec();
    this.#closed = true;
    this.#watch?.cancel();
    this.#pending = [];
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
  }
}
