import type { IncomingMessage, ServerResponse } from "node:http";
import { errorCode, errorMessage, HttpError } from "../../common/errors.ts";
import type { ControlNode } from "../node.ts";
import { single } from "./headers.ts";

/**
 * Default and ceiling for a request's deadline; X-Meshlet-Timeout (ms) may only lower it. The body must
 * arrive within it (408 otherwise), and the answer comes within it.
 */
export const DEFAULT_DEADLINE_MS = 5_000;
/** Default body limit for JSON endpoints. */
export const DEFAULT_MAX_BODY = 64 * 1024;
/** The request target (path and query): longer gets 414. No route needs a tenth of it. */
export const MAX_URL_BYTES = 8 * 1024;
/** The request line and header fields together: more gets 431 (server.ts cuts off what the parser would not hold). */
export const MAX_HEADER_BYTES = 16 * 1024;
/** Seconds a client should wait before retrying a 503. */
export const RETRY_AFTER_S = 1;

/** The query parameters, read-only. */
export type Query = Pick<URLSearchParams, "get">;

export interface HttpRequest {
  method: string;
  /** Path without the query string, percent-decoding left to the route. */
  path: string;
  params: Record<string, string>;
  query: Query;
  headers: IncomingMessage["headers"];
  body: Buffer;
  /** Absolute time (Date.now() based) by which the reply must be sent. */
  deadline: number;
  /** Milliseconds left until `deadline`, at least 1. */
  remainingMs(): number;
  /** The name of the token that authorized the call (for audit logs); undefined on open routes or unguarded. */
  caller?: string | undefined;
}

export interface HttpReply {
  status: number;
  headers?: Record<string, string>;
  /** A Buffer/string is sent as is; anything else as JSON. */
  body?: unknown;
  /**
   * A long-lived stream (a watch): called with the response once the status
   * and headers are written, instead of sending a body. The request deadline
   * covered the handler that set it up, not the stream.
   */
  stream?: (res: ServerResponse) => void;
}

export type Handler = (req: HttpRequest) => Promise<HttpReply> | HttpReply;

export interface RouteOptions {
  maxBodyBytes?: number;
}

/** Mounts a group of routes; the server applies every module in http/modules.ts. */
export type RouteModule = (router: Router, node: ControlNode) => void;

/** Error code → status for errors that are not HttpErrors. */
const STATUS_BY_CODE: Record<string, number> = {
  ERR_NO_LEADER: 503,
  ERR_TIMEOUT: 503,
  ERR_STOPPING: 503,
  ERR_REVISION_MISMATCH: 412,
  ERR_NOT_FOUND: 404,
  ERR_EXISTS: 409,
  ERR_BAD_REQUEST: 400,
  ERR_USAGE: 400,
  ERR_TOO_LARGE: 413,
  ERR_NODE_DEGRADED: 503,
  ERR_NO_SPACE: 507,
  ERR_DISK_IO: 507,
};

/** Answers after which the connection is closed: the rest of the request may still be on its way, or never come. */
const CLOSING = new Set([408, 413, 414, 431]);

export function errorReply(err: unknown): HttpReply {
  const code = errorCode(err);
  const status = err instanceof HttpError ? err.status : (STATUS_BY_CODE[code] ?? 500);
  const headers: Record<string, string> = status === 503 ? { "retry-after": String(RETRY_AFTER_S) } : {};
  return { status, headers, body: { error: { code, message: errorMessage(err) } } };
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpReply {
  return { status, headers, body };
}

/** Parses a JSON body, or throws a 400. */
export function jsonBody(req: HttpRequest): unknown {
  try {
    return JSON.parse(req.body.toString("utf8"));
  } catch (err) {
    throw new HttpError(400, "ERR_BAD_REQUEST", `body is not valid JSON: ${errorMessage(err)}`);
  }
}

/**
 * Runs before a matched route reads its body: throws (an HttpError) to refuse the call. `route` is the pattern
 * as mounted (e.g. `/v1/config/{key*}`), so the check does not depend on how a path is spelled.
 */
export type Guard = (req: {
  method: string;
  route: string;
  params: Record<string, string>;
  headers: IncomingMessage["headers"];
}) => string | undefined;

interface Route {
  method: string;
  path: string;
  pattern: RegExp;
  names: string[];
  handler: Handler;
  maxBodyBytes: number;
}

/**
 * A small method+path router. Patterns use `{name}` for one path segment and
 * `{name*}` for the rest of the path (e.g. a config key with slashes).
 */
export class Router {
  readonly #routes: Route[] = [];
  #guard: Guard | undefined;

  /** Every matched call passes `guard` first (auth/guard.ts); the router itself knows nothing of tokens. */
  guard(guard: Guard): void {
    this.#guard = guard;
  }

  route(method: string, path: string, handler: Handler, options: RouteOptions = {}): void {
    const names: string[] = [];
    const source = path
      .split(/(\{[a-zA-Z]+\*?\})/)
      .map((part) => {
        const m = /^\{([a-zA-Z]+)(\*?)\}$/.exec(part);
        if (m === null) return part.replace(/[.*+?^$()|[\]\\]/g, "\\$&");
        names.push(m[1] ?? "");
        return m[2] === "*" ? "(.+)" : "([^/]+)";
      })
      .join("");
    this.#routes.push({
      method,
      path,
      pattern: new RegExp(`^${source}$`),
      names,
      handler,
      maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY,
    });
  }

  /** Serves one request; never throws, never outlives the deadline by more than the reply. */
  async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let reply: HttpReply;
    try {
      reply = await this.#dispatch(req);
    } catch (err) {
      reply = errorReply(err);
    }
    send(res, reply, CLOSING.has(reply.status) || !req.complete);
  }

  async #dispatch(req: IncomingMessage): Promise<HttpReply> {
    checkSize(req);
    const budgetMs = deadlineMs(single(req.headers["x-meshlet-timeout"]));
    const deadline = Date.now() + budgetMs;
    let parsed: ReturnType<typeof target>;
    try {
      parsed = target(req.url ?? "/");
    } catch {
      throw new HttpError(400, "ERR_BAD_REQUEST", "the request target is not a valid URL");
    }
    const { pathname, query } = parsed;
    const method = req.method ?? "GET";
    let pathMatched = false;
    for (const r of this.#routes) {
      const m = r.pattern.exec(pathname);
      if (m === null) continue;
      pathMatched = true;
      if (r.method !== method) continue;
      const params: Record<string, string> = {};
      r.names.forEach((n, i) => {
        params[n] = m[i + 1] ?? "";
      });
      const caller = this.#guard?.({ method, route: r.path, params, headers: req.headers });
      const body = await readBody(req, r.maxBodyBytes, deadline, budgetMs);
      return r.handler({
        method,
        path: pathname,
        params,
        query,
        headers: req.headers,
        body,
        deadline,
        remainingMs: () => Math.max(1, deadline - Date.now()),
        caller,
      });
    }
    if (pathMatched) throw new HttpError(405, "ERR_METHOD", `${method} is not allowed on ${pathname}`);
    throw new HttpError(404, "ERR_NOT_FOUND", `no route for ${method} ${pathname}`);
  }
}

const NO_QUERY: Query = new URLSearchParams();
/**
 * An origin-form target that WHATWG URL parsing would return unchanged: no dot segments, no percent
 * escapes, backslashes, fragments or characters it would escape. Most requests are like this, and are split
 * at "?" without a URL object (which cost the leader ~2 % of its CPU per write).
 */
const PLAIN_TARGET = /^\/(?!.*\/\.\.?(?:[/?]|$))[^%\\#<>"`{}\x80-\uffff]*$/;

function target(raw: string): { pathname: string; query: Query } {
  if (!PLAIN_TARGET.test(raw)) {
    const url = new URL(raw, "http://x");
    return { pathname: url.pathname, query: url.searchParams };
  }
  const q = raw.indexOf("?");
  if (q < 0) return { pathname: raw, query: NO_QUERY };
  return { pathname: raw.slice(0, q), query: new URLSearchParams(raw.slice(q + 1)) };
}

/** Milliseconds, in decimal digits (Number() would take "1e3" or "0x10" too), capped at the default. */
function deadlineMs(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_DEADLINE_MS;
  const n = /^\d+$/.test(raw) ? Number(raw) : 0;
  if (n <= 0)
    throw new HttpError(400, "ERR_BAD_REQUEST", `X-Meshlet-Timeout: expected milliseconds (digits, > 0), got "${raw}"`);
  return Math.min(n, DEFAULT_DEADLINE_MS);
}

/**
 * 414 for a target over MAX_URL_BYTES, 431 for a request line and header block over MAX_HEADER_BYTES. The
 * HTTP parser stops larger ones itself (server.ts); these limits are the ones a client should count on.
 */
function checkSize(req: IncomingMessage): void {
  const url = req.url ?? "";
  if (url.length > MAX_URL_BYTES)
    throw new HttpError(
      414,
      "ERR_URI_TOO_LONG",
      `the request target is ${url.length} bytes; the limit is ${MAX_URL_BYTES}`,
    );
  let size = url.length + (req.method?.length ?? 0) + 12;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i++) size += (raw[i]?.length ?? 0) + 2;
  if (size > MAX_HEADER_BYTES)
    throw new HttpError(
      431,
      "ERR_HEADERS_TOO_LARGE",
      `the request line and headers are ${size} bytes; the limit is ${MAX_HEADER_BYTES}`,
    );
}

/**
 * The whole body, copied out of the parser's buffers; events rather than an async iterator, which cost more
 * per request. A body that has not ended by `deadline` gets 408: a client sending a byte a second would
 * otherwise hold its request (and its buffers) for as long as it likes.
 */
function readBody(req: IncomingMessage, limit: number, deadline: number, budgetMs: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > limit) {
    return Promise.reject(
      new HttpError(413, "ERR_TOO_LARGE", `body of ${declared} bytes exceeds the limit of ${limit}`),
    );
  }
  if (req.complete) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(
      () => {
        done();
        reject(
          new HttpError(
            408,
            "ERR_REQUEST_TIMEOUT",
            `the request body did not arrive within the request's deadline (${budgetMs} ms)`,
          ),
        );
      },
      Math.max(1, deadline - Date.now()),
    );
    const done = () => {
      clearTimeout(timer);
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onGone);
      req.off("close", onGone);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        done();
        reject(new HttpError(413, "ERR_TOO_LARGE", `body exceeds the limit of ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      done();
      resolve(Buffer.concat(chunks, size));
    };
    const onGone = () => {
      done();
      reject(new HttpError(400, "ERR_BAD_REQUEST", "the client closed the request before its body ended"));
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onGone);
    req.on("close", onGone);
  });
}

/**
 * Writes the reply. With `close`, the connection ends after it: what is left of the request is not read, and
 * the socket is destroyed once the reply is out (or after a second, for a client that never reads).
 */
function send(res: ServerResponse, reply: HttpReply, close: boolean): void {
  const headers = { ...reply.headers };
  if (close) {
    headers.connection = "close";
    res.once("finish", () => {
      const socket = res.socket;
      if (socket === null) return;
      socket.end();
      setTimeout(() => socket.destroy(), 1_000).unref();
    });
  }
  if (reply.stream !== undefined) {
    res.writeHead(reply.status, headers);
    reply.stream(res);
    return;
  }
  let payload: Buffer | string = "";
  if (Buffer.isBuffer(reply.body) || typeof reply.body === "string") payload = reply.body;
  else if (reply.body !== undefined) {
    payload = JSON.stringify(reply.body);
    headers["content-type"] ??= "application/json";
  }
  res.writeHead(reply.status, { ...headers, "content-length": Buffer.byteLength(payload) });
  res.end(payload);
}
