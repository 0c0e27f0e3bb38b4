import { Metadata, type ServerWritableStream, status } from "@grpc/grpc-js";
import { errorCode, errorMessage, HttpError } from "../../common/errors.ts";
import type { ConfigHandlers } from "../../gen/meshlet/config/v1/Config.ts";
import type { Event } from "../../gen/meshlet/config/v1/Event.ts";
import type { WatchRequest__Output } from "../../gen/meshlet/config/v1/WatchRequest.ts";
import type { WatchResponse } from "../../gen/meshlet/config/v1/WatchResponse.ts";
import type { ControlNode } from "../node.ts";
import type { KvEvent } from "../state/kv.ts";
import { storedBytes } from "../state/value.ts";
import { CONFIG_PREFIX } from "./commands.ts";
import { HistoryCompactedError } from "./errors.ts";
import { ConfigWatch, type WatchEnd, type WatchSink } from "./watch.ts";

type Call = ServerWritableStream<WatchRequest__Output, WatchResponse>;

/** How long the linearizable start may take (the HTTP watch has its request deadline). */
const START_DEADLINE_MS = 5_000;

/** Each event is encoded once, whatever the number of watchers it goes to. */
const messages = new WeakMap<KvEvent, Event>();

function message(e: KvEvent): Event {
  let m = messages.get(e);
  if (m === undefined) {
    const key = e.key.slice(CONFIG_PREFIX.length);
    m =
      e.type === "put"
        ? { type: "PUT", key, value: storedBytes(e.value), revision: e.revision }
        : { type: "DELETE", key, revision: e.revision };
    messages.set(e, m);
  }
  return m;
}

class GrpcSink implements WatchSink {
  readonly #call: Call;

  constructor(call: Call) {
    this.#call = call;
  }

  started(revision: number, compactedRevision: number): void {
    this.#call.write({ started: { revision, compactedRevision } });
  }

  event(e: KvEvent): void {
    this.#call.write({ events: { events: [message(e)] } });
  }

  progress(revision: number): void {
    this.#call.write({ progress: { revision } });
  }

  buffered(): number {
    return this.#call.writableLength;
  }

  close(end: WatchEnd): void {
    this.#call.write({ cancelled: { ...end, compactedRevision: end.compactedRevision ?? 0 } });
    this.#call.end();
  }
}

/** A refusal before the stream starts, as a gRPC status (the HTTP watch answers 400 / 410 / 503). */
function refusal(err: unknown): { code: status; details: string; metadata: Metadata } {
  const metadata = new Metadata();
  metadata.set("x-meshlet-error-code", errorCode(err));
  if (err instanceof HistoryCompactedError) {
    metadata.set("x-meshlet-compacted-revision", String(err.compactedRevision));
    return { code: status.OUT_OF_RANGE, details: err.message, metadata };
  }
  if (err instanceof HttpError && err.status === 400)
    return { code: status.INVALID_ARGUMENT, details: err.message, metadata };
  const code = errorCode(err);
  const unavailable = code === "ERR_NO_LEADER" || code === "ERR_TIMEOUT" || code === "ERR_STOPPING";
  return { code: unavailable ? status.UNAVAILABLE : status.INTERNAL, details: errorMessage(err), metadata };
}

/** meshlet.config.v1.Config on a control-plane node: the gRPC face of ConfigWatch. */
export function configHandlers(node: ControlNode): ConfigHandlers {
  return {
    Watch: (call: Call) => {
      const r = call.request;
      const sink = new GrpcSink(call);
      ConfigWatch.open(
        node,
        {
          key: r.key,
          prefix: r.prefix,
          start: r.startRevision === 0 ? undefined : r.startRevision,
          consistency: r.stale ? "stale" : "linearizable",
        },
        sink,
        { deadlineMs: START_DEADLINE_MS, transport: "grpc" },
      ).then(
        (watch) => {
          if (call.cancelled) {
            watch.cancel();
            return;
          }
          call.on("cancelled", () => watch.cancel());
          watch.attach();
        },
        (err: unknown) => call.emit("error", refusal(err)),
      );
    },
  };
}
