import { isUtf8 } from "node:buffer";
import type { IncomingMessage, ServerResponse } from "node:http";
import { type Clock, systemClock, type TimerHandle } from "../../common/clock.ts";
import { invalidKeyReason } from "../../config/config-key.ts";
import { parseDuration } from "../../config/duration.ts";
import type { AppConfigChange, AppConfigEntry, AppConfigStore } from "./store.ts";

export interface AppConfigApiOptions {
  /** The Service whose spec.config the sidecar serves (named in 404s). */
  service: string;
  clock?: Clock;
  /** Comment lines on an idle SSE stream, so proxies and clients do not time it out. */
  heartbeatMs?: number;
  /** ?wait without ?timeout waits this long; no wait is longer than maxWaitMs. */
  defaultWaitMs?: number;
  maxWaitMs?: number;
  /** An SSE client this far behind is disconnected; it reconnects and gets the current value. */
  maxBufferedBytes?: number;
}

const DEFAULTS = {
  heartbeatMs: 15_000,
  defaultWaitMs: 60_000,
  maxWaitMs: 600_000,
  maxBufferedBytes: 16 * 1024 * 1024,
};

function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

/** The JSON of one change on the app's SSE stream; `value` is text when UTF-8, else base64 with `encoding`. */
export function changeJson(key: string, entry: AppConfigEntry | undefined, revision: number): string {
  if (entry === undefined) return JSON.stringify({ type: "delete", key, revision });
  const utf8 = isUtf8(entry.value);
  return JSON.stringify({
    type: "put",
    key,
    value: entry.value.toString(utf8 ? "utf8" : "base64"),
    ...(utf8 ? {} : { encoding: "base64" }),
    revision: entry.revision,
    release: entry.release,
  });
}

/**
 * What apps read on the sidecar's admin port: GET /config (what is declared
 * and held), GET /config/{key} (the value as the body; ETag = revision,
 * x-meshlet-config-release = release or "base"; ?wait=REV long-polls until
 * the revision passes REV; ?watch=1 streams SSE). Served from the sidecar's
 * memory, so it answers with the control plane down: then with
 * x-meshlet-config-stale = seconds since the values were last known current.
 */
export class AppConfigApi {
  readonly #store: AppConfigStore | undefined;
  readonly #o: Required<Omit<AppConfigApiOptions, "clock">>;
  readonly #clock: Clock;
  /** Open waits and streams, ended when the sidecar stops. */
  readonly #open = new Set<() => void>();

  constructor(store: AppConfigStore | undefined, options: AppConfigApiOptions) {
    this.#store = store;
    this.#o = { ...DEFAULTS, ...options };
    this.#clock = options.clock ?? systemClock;
  }

  /** Answers /config and /config/{key}; `path` is the request's path without its query. */
  handle(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams) {
    const store = this.#store;
    if (store === undefined)
      return reply(res, 404, { error: "this sidecar has no config center: it runs without --control" });
    if (path === "/config") return this.#list(res, store);
    let key: string;
    try {
      key = decodeURIComponent(path.slice("/config/".length));
    } catch {
      return reply(res, 400, { error: "the key is not valid percent-encoding" });
    }
    const bad = invalidKeyReason(key);
    if (bad !== undefined) return reply(res, 400, { error: bad });
    if (!store.loaded) return reply(res, 503, { error: "no config yet: the control plane was never reached" });
    if (!store.declared(key)) {
      return reply(res, 404, {
        error: `config key "${key}" is not declared by Service ${this.#o.service} (spec.config keys or prefixes)`,
      });
    }
    const watch = query.get("watch");
    if (watch !== null && watch !== "0" && watch !== "false") return this.#watch(req, res, store, key);
    const wait = query.get("wait");
    if (wait !== null) {
      if (!/^\d{1,15}$/.test(wait)) return reply(res, 400, { error: `wait: expected a revision, got "${wait}"` });
      const timeout = query.get("timeout");
      const ms = timeout === null ? this.#o.defaultWaitMs : parseDuration(timeout);
      if (ms === undefined || ms <= 0 || ms > this.#o.maxWaitMs)
        return reply(res, 400, { error: `timeout: expected a duration up to ${this.#o.maxWaitMs / 1000}s` });
      return this.#wait(res, store, key, Number(wait), ms);
    }
    const etag = req.headers["if-none-match"];
    const entry = store.get(key);
    if (entry !== undefined && etag !== undefined && etag.replaceAll('"', "") === String(entry.revision)) {
      res.writeHead(304, this.#headers(store, entry));
      res.end();
      return;
    }
    this.#send(res, store, key, entry);
  }

  /** Waits and streams open now. */
  get open(): number {
    return this.#open.size;
  }

  /** Ends every wait and stream (the sidecar is stopping). */
  close(): void {
    for (const end of [...this.#open]) end();
  }

  #headers(store: AppConfigStore, entry: AppConfigEntry): Record<string, string> {
    const headers: Record<string, string> = {
      etag: String(entry.revision),
      "x-meshlet-config-release": entry.release,
    };
    const stale = store.staleSeconds();
    if (stale !== undefined) headers["x-meshlet-config-stale"] = String(stale);
    return headers;
  }

  #send(res: ServerResponse, store: AppConfigStore, key: string, entry: AppConfigEntry | undefined) {
    if (entry === undefined) return reply(res, 404, { error: `config key "${key}" does not exist` });
    res.writeHead(200, {
      ...this.#headers(store, entry),
      "content-type": "application/octet-stream",
      "content-length": entry.value.length,
    });
    res.end(entry.value);
  }

  #list(res: ServerResponse, store: AppConfigStore) {
    if (!store.loaded) return reply(res, 503, { error: "no config yet: the control plane was never reached" });
    reply(res, 200, {
      revision: store.revision,
      stale: store.staleSeconds() ?? null,
      declared: store.declaration,
      keys: store
        .entries()
        .map(([key, e]) => ({ key, revision: e.revision, release: e.release, bytes: e.value.length })),
    });
  }

  /** Consul-style blocking read: at once if the key is past `after`, else at its next change or at the timeout. */
  #wait(res: ServerResponse, store: AppConfigStore, key: string, after: number, ms: number) {
    const now = store.get(key);
    if (now !== undefined && now.revision > after) return this.#send(res, store, key, now);
    let timer: TimerHandle | undefined;
    const finish = () => {
      unsubscribe();
      if (timer !== undefined) this.#clock.clearTimeout(timer);
      this.#open.delete(finish);
      if (!res.headersSent && !res.destroyed) this.#send(res, store, key, store.get(key));
    };
    const unsubscribe = store.subscribe(key, (c) => {
      if (c.entry === undefined || c.entry.revision > after) finish();
    });
    timer = this.#clock.setTimeout(finish, ms);
    this.#open.add(finish);
    res.on("close", finish);
  }

  #watch(req: IncomingMessage, res: ServerResponse, store: AppConfigStore, key: string): void {
    const entry = store.get(key);
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache, no-store",
      ...(entry === undefined ? {} : this.#headers(store, entry)),
    });
    let timer: TimerHandle | undefined;
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      unsubscribe();
      if (timer !== undefined) this.#clock.clearTimeout(timer);
      this.#open.delete(end);
      res.end();
    };
    const write = (text: string) => {
      res.write(text);
      // Values are pushed, not pulled: an app that stopped reading is let go and resumes with the latest.
      if (res.writableLength > this.#o.maxBufferedBytes) end();
    };
    const event = (c: AppConfigChange) => write(`id: ${c.revision}\ndata: ${changeJson(key, c.entry, c.revision)}\n\n`);
    const unsubscribe = store.subscribe(key, event);
    this.#open.add(end);
    res.on("close", end);
    write("retry: 1000\n\n");
    // What the app holds: Last-Event-ID, sent by an EventSource that reconnects. It gets the current value only if newer.
    const raw = req.headers["last-event-id"];
    const last = typeof raw === "string" && /^\d{1,15}$/.test(raw.trim()) ? Number(raw) : undefined;
    if (entry !== undefined && (last === undefined || entry.revision > last))
      event({ key, entry, revision: entry.revision });
    else if (entry === undefined && last !== undefined) event({ key, entry: undefined, revision: store.revision });
    const beat = () => {
      if (ended) return;
      timer = this.#clock.setTimeout(() => {
        write(": keepalive\n\n");
        beat();
      }, this.#o.heartbeatMs);
    };
    beat();
  }
}
