import type { IncomingMessage, ServerResponse } from "node:http";
import { errorCode, errorMessage, HttpError } from "../../common/errors.ts";
import type { ControlNode } from "../node.ts";

/** Default and ceiling for a request's deadline; X-Meshlet-Timeout (ms) may only lower it. */
export const DEFAULT_DEADLINE_MS = 5_000;
/** Default body limit for JSON endpoints. */
export const DEFAULT_MAX_BODY = 64 * 1024;
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
};

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

interface Route {
  method: string;
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
    send(res, reply);
  }

  async #dispatch(req: IncomingMessage): Promise<HttpReply> {
    const { pathname, query } = target(req.url ?? "/");
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
      const deadline = Date.now() + deadlineMs(req.headers["x-meshlet-timeout"]);
      const body = await readBody(req, r.maxBodyBytes);
      return r.handler({
        method,
        path: pathname,
        params,
        query,
        headers: req.headers,
        body,
        deadline,
        remainingMs: () => Math.max(1, deadline - Date.now()),
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

function deadlineMs(header: string | string[] | undefined): number {
  const raw = Array.isArray(header) ? header[0] : header;
  if (raw === undefined) return DEFAULT_DEADLINE_MS;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0)
    throw new HttpError(400, "ERR_BAD_REQUEST", `X-Meshlet-Timeout: expected milliseconds > 0, got "${raw}"`);
  return Math.min(n, DEFAULT_DEADLINE_MS);
}

/** The whole body, copied out of the parser's buffers; events rather than an async iterator, which cost more per request. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > limit) {
    req.resume();
    return Promise.reject(
      new HttpError(413, "ERR_TOO_LARGE", `body of ${declared} bytes exceeds the limit of ${limit}`),
    );
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onGone);
      req.off("close", onGone);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        done();
        req.resume();
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

function send(res: ServerResponse, reply: HttpReply): void {
  const headers = { ...reply.headers };
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
