import { LRUCache } from "lru-cache";
import type { Clock } from "../../common/clock.ts";

export interface StaleCacheSpec {
  maxAgeMs: number;
  maxEntries: number;
  maxBytes: number;
  /** Request headers (lower-case) that tell cached responses apart, besides method and URL. */
  vary: readonly string[];
}

export interface CachedResponse {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
  storedAt: number;
}

/** Response headers that describe one connection or one transfer, not the cached body. */
const NOT_STORED = new Set(["connection", "keep-alive", "transfer-encoding", "content-length", "set-cookie"]);
/** A rough per-entry overhead so thousands of empty bodies still count against maxBytes. */
const ENTRY_OVERHEAD_BYTES = 256;

/**
 * The last successful (2xx) response per GET/HEAD URL (+ vary headers) of a
 * service, served when the upstream cannot answer and the copy is younger
 * than maxAge. Bounded by entry count and by bytes: the least recently used
 * entry goes first, and a body larger than the budget is never kept.
 */
export class StaleCache {
  readonly spec: StaleCacheSpec;
  readonly #entries: LRUCache<string, CachedResponse>;
  readonly #clock: Clock;

  constructor(spec: StaleCacheSpec, clock: Clock) {
    this.spec = spec;
    this.#clock = clock;
    this.#entries = new LRUCache<string, CachedResponse>({
      max: spec.maxEntries,
      maxSize: spec.maxBytes,
      sizeCalculation: (e) => e.body.length + ENTRY_OVERHEAD_BYTES,
      ttl: spec.maxAgeMs,
      perf: { now: () => clock.now() },
      // Read the clock on every lookup: a cached "now" would outlive a FakeClock step.
      ttlResolution: 0,
    });
  }

  /** undefined for requests whose response must not be cached or served from the cache. */
  keyFor(method: string, url: string, headers: Record<string, string | string[] | undefined>): string | undefined {
    if (method !== "GET" && method !== "HEAD") return undefined;
    if (this.spec.vary.length === 0) return `${method} ${url}`;
    let key = `${method} ${url}`;
    for (const name of this.spec.vary) {
      const v = headers[name];
      key += `\n${name}:${Array.isArray(v) ? v.join(",") : (v ?? "")}`;
    }
    return key;
  }

  lookup(key: string): CachedResponse | undefined {
    const entry = this.#entries.get(key);
    // Checked here too: lru-cache treats an entry stored at clock time 0 as never expiring.
    if (entry === undefined || this.#clock.now() - entry.storedAt > this.spec.maxAgeMs) return undefined;
    return entry;
  }

  /**
   * Starts recording a response that is being streamed to the client; the
   * copy is kept only if it completes, is 2xx and fits the byte budget.
   */
  record(key: string, status: number, headers: Record<string, string | string[] | number | undefined>): Recording {
    const kept: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(headers)) {
      if (value === undefined || NOT_STORED.has(name.toLowerCase())) continue;
      kept[name] = typeof value === "number" ? String(value) : value;
    }
    return new Recording(this, key, status, kept, this.spec.maxBytes - ENTRY_OVERHEAD_BYTES);
  }

  /** @internal used by Recording */
  store(key: string, status: number, headers: Record<string, string | string[]>, body: Buffer): void {
    this.#entries.set(key, { status, headers, body, storedAt: this.#clock.now() });
  }

  get size(): number {
    return this.#entries.size;
  }

  get bytes(): number {
    return this.#entries.calculatedSize;
  }
}

export class Recording {
  readonly #cache: StaleCache;
  readonly #key: string;
  readonly #status: number;
  readonly #headers: Record<string, string | string[]>;
  readonly #limit: number;
  #chunks: Buffer[] | undefined = [];
  #size = 0;

  constructor(
    cache: StaleCache,
    key: string,
    status: number,
    headers: Record<string, string | string[]>,
    limit: number,
  ) {
    this.#cache = cache;
    this.#key = key;
    this.#status = status;
    this.#headers = headers;
    this.#limit = limit;
    if (status < 200 || status > 299) this.#chunks = undefined;
  }

  write(chunk: Buffer | string): void {
    if (this.#chunks === undefined) return;
    const buf = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    this.#size += buf.length;
    if (this.#size > this.#limit) {
      this.#chunks = undefined;
      return;
    }
    this.#chunks.push(buf);
  }

  /** The response completed: keep it. */
  end(): void {
    if (this.#chunks === undefined) return;
    this.#cache.store(this.#key, this.#status, this.#headers, Buffer.concat(this.#chunks, this.#size));
    this.#chunks = undefined;
  }

  /** The response broke off: drop what was recorded. */
  abort(): void {
    this.#chunks = undefined;
  }
}
