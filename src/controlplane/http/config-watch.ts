import { isUtf8 } from "node:buffer";
import type { ServerResponse } from "node:http";
import { HttpError } from "../../common/errors.ts";
import { CONFIG_PREFIX } from "../config/commands.ts";
import { HistoryCompactedError } from "../config/errors.ts";
import { ConfigWatch, type WatchEnd, type WatchSink } from "../config/watch.ts";
import type { ControlNode } from "../node.ts";
import type { KvEvent } from "../state/kv.ts";
import { storedBytes } from "../state/value.ts";
import { decimal } from "./headers.ts";
import { type HttpReply, type HttpRequest, json, type Query } from "./router.ts";

/** `?watch=1` (or true): the GET is a watch. */
export function isWatch(query: Query): boolean {
  return flag(query, "watch");
}

function flag(query: Query, name: string): boolean {
  const v = query.get(name);
  return v !== null && v !== "0" && v !== "false";
}

/** A revision as a client writes it: decimal digits only (no 1e3, 0x10, -0 or spaces). */
export function revisionParam(raw: string, what: string): number {
  const n = decimal(raw);
  if (n === undefined) throw new HttpError(400, "ERR_BAD_REQUEST", `${what}: expected a revision, got "${raw}"`);
  return n;
}

/**
 * Where the watch starts: `Last-Event-ID` (sent by an EventSource that
 * reconnects, with the URL it first used) wins over `?revision=`, so a
 * reconnect resumes after the last event seen instead of replaying.
 */
export function watchStart(req: Pick<HttpRequest, "query" | "headers">): number | undefined {
  const last = req.headers["last-event-id"];
  if (typeof last === "string" && last.trim() !== "") return revisionParam(last.trim(), "Last-Event-ID") + 1;
  const r = req.query.get("revision");
  return r === null ? undefined : revisionParam(r, "revision");
}

/** The JSON of one change as watchers get it: `value` is text when it is UTF-8, else base64 with `encoding`. */
export function eventJson(e: KvEvent): string {
  const key = e.key.slice(CONFIG_PREFIX.length);
  if (e.type === "delete") return JSON.stringify({ type: "delete", key, revision: e.revision });
  const bytes = storedBytes(e.value);
  return isUtf8(bytes)
    ? JSON.stringify({ type: "put", key, value: bytes.toString("utf8"), revision: e.revision })
    : JSON.stringify({ type: "put", key, value: bytes.toString("base64"), encoding: "base64", revision: e.revision });
}

/** Each event is encoded once, whatever the number of watchers it goes to. */
const frames = new WeakMap<KvEvent, string>();

function frame(e: KvEvent): string {
  let f = frames.get(e);
  if (f === undefined) {
    f = `id: ${e.revision}\ndata: ${eventJson(e)}\n\n`;
    frames.set(e, f);
  }
  return f;
}

/**
 * Server-Sent Events on a response: a named event per control message, the
 * default event per change. The watch writes only once attached, and the
 * response is attached first.
 */
class SseSink implements WatchSink {
  #res: ServerResponse | undefined;

  attach(res: ServerResponse): void {
    this.#res = res;
  }

  #write(text: string): void {
    this.#res?.write(text);
  }

  started(revision: number, compactedRevision: number): void {
    // retry: how soon an EventSource reconnects (it sends Last-Event-ID, so nothing is lost).
    this.#write(
      `retry: 1000\nid: ${revision}\nevent: start\ndata: ${JSON.stringify({ revision, compactedRevision })}\n\n`,
    );
  }

  event(e: KvEvent): void {
    this.#write(frame(e));
  }

  progress(revision: number): void {
    // The id moves an EventSource's Last-Event-ID forward even on a quiet key: it will not resume into compacted history.
    this.#write(`id: ${revision}\nevent: progress\ndata: {"revision":${revision}}\n\n`);
  }

  buffered(): number {
    return this.#res?.writableLength ?? 0;
  }

  close(end: WatchEnd): void {
    this.#write(`event: cancelled\ndata: ${JSON.stringify(end)}\n\n`);
    this.#res?.end();
  }
}

/**
 * GET /v1/config/{key}?watch=1[&prefix=1][&revision=N] (and GET
 * /v1/config?watch=1&prefix=P): the watch starts within the request's
 * deadline (a 503 otherwise, a 400 or 410 as JSON before any event), then
 * streams until the client leaves, the node stops, or the watcher is cut.
 */
export async function watchReply(
  req: HttpRequest,
  node: ControlNode,
  key: string,
  prefix: boolean,
): Promise<HttpReply> {
  const c = req.query.get("consistency");
  if (c !== null && c !== "stale" && c !== "linearizable")
    throw new HttpError(400, "ERR_BAD_REQUEST", `consistency: expected linearizable or stale, got "${c}"`);
  const sink = new SseSink();
  let watch: ConfigWatch;
  try {
    watch = await ConfigWatch.open(
      node,
      { key, prefix, start: watchStart(req), consistency: c === "stale" ? "stale" : "linearizable" },
      sink,
      { deadlineMs: req.remainingMs() },
    );
  } catch (err) {
    if (err instanceof HistoryCompactedError) return compactedReply(err);
    throw err;
  }
  return {
    status: 200,
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache, no-store",
      // nginx buffers proxied responses unless told not to.
      "x-accel-buffering": "no",
      "x-meshlet-revision": String(watch.startRevision),
    },
    stream: (res) => {
      res.on("close", () => watch.cancel());
      sink.attach(res);
      if (res.destroyed) watch.cancel();
      else watch.attach();
    },
  };
}

/** 410 with the revision a client can start from again, beside the error (as etcd's compact_revision). */
export function compactedReply(err: HistoryCompactedError): HttpReply {
  return json(410, { error: { code: err.code, message: err.message }, compactedRevision: err.compactedRevision });
}

/** `?prefix=1` on a key's watch. */
export function isPrefixWatch(query: Query): boolean {
  return flag(query, "prefix");
}
