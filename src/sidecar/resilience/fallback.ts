import type { FallbackTrigger } from "../../config/resources.ts";
import type { StaleCache } from "./stale-cache.ts";

export type FallbackKind = "static" | "service" | "stale-cache";

/** A response the sidecar writes itself, without an upstream. */
export interface LocalReply {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
  /** Trailer lines ("name: value" + CRLF each), sent after the body: a gRPC answer's grpc-status. */
  trailers?: string;
}

export type FallbackAction =
  /** `grpc`: what a gRPC call gets instead of `reply`, when the policy says (fallback.static.grpc). */
  | { kind: "static"; reply: LocalReply; grpc?: LocalReply | undefined }
  | { kind: "service"; service: string }
  | { kind: "stale-cache"; cache: StaleCache };

export const FALLBACK_HEADER = "x-meshlet-fallback";

/**
 * What a policy does instead of an error response, for the triggers it
 * lists. Static replies are built once per snapshot, so serving one costs a
 * header copy.
 */
export class Fallback {
  readonly triggers: ReadonlySet<FallbackTrigger>;
  readonly action: FallbackAction;

  constructor(triggers: Iterable<FallbackTrigger>, action: FallbackAction) {
    this.triggers = new Set(triggers);
    this.action = action;
  }

  handles(trigger: FallbackTrigger): boolean {
    return this.triggers.has(trigger);
  }

  /**
   * The local reply for this request, or undefined when the fallback cannot
   * answer it here (a service fallback is routed by the caller; a stale-cache
   * miss falls through to the original error).
   */
  reply(
    method: string,
    url: string,
    headers: Record<string, string | string[] | undefined>,
    now: number,
    grpc = false,
  ): LocalReply | undefined {
    const action = this.action;
    if (action.kind === "static") {
      const r = grpc && action.grpc !== undefined ? action.grpc : action.reply;
      return r.trailers === undefined
        ? { status: r.status, headers: { ...r.headers }, body: r.body }
        : { status: r.status, headers: { ...r.headers }, body: r.body, trailers: r.trailers };
    }
    if (action.kind !== "stale-cache") return undefined;
    const key = action.cache.keyFor(method, url, headers);
    const hit = key === undefined ? undefined : action.cache.lookup(key);
    if (hit === undefined) return undefined;
    const age = Math.max(0, Math.floor((now - hit.storedAt) / 1000));
    return {
      status: hit.status,
      headers: { ...hit.headers, age: String(age), [FALLBACK_HEADER]: "stale-cache" },
      body: method === "HEAD" ? Buffer.alloc(0) : hit.body,
    };
  }
}

/** Builds the static reply once: a JSON-looking body gets a JSON content type unless one is set. */
export function staticReply(status: number, headers: Record<string, string> | undefined, body: string): LocalReply {
  const h: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) h[k.toLowerCase()] = v;
  if (h["content-type"] === undefined) h["content-type"] = looksLikeJson(body) ? "application/json" : "text/plain";
  h[FALLBACK_HEADER] = "static";
  return { status, headers: h, body: Buffer.from(body) };
}

function looksLikeJson(body: string): boolean {
  const t = body.trimStart();
  if (!t.startsWith("{") && !t.startsWith("[")) return false;
  try {
    JSON.parse(body);
    return true;
  } catch {
    return false;
  }
}
