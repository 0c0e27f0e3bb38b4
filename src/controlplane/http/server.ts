import { createServer, type Server } from "node:http";
import type { Duplex } from "node:stream";
import type { Registry } from "prom-client";
import { errorMessage } from "../../common/errors.ts";
import type { Logger } from "../../common/logger.ts";
import type { ControlNode } from "../node.ts";
import {
  DEFAULT_DEADLINE_MS,
  type Guard,
  MAX_HEADER_BYTES,
  MAX_URL_BYTES,
  type RouteModule,
  Router,
} from "./router.ts";

/**
 * What the HTTP parser holds before it gives up on a request line and header block. The router answers
 * 414/431 on its own, tighter limits (MAX_URL_BYTES, MAX_HEADER_BYTES); past this one the parser stops and
 * clientError answers.
 */
const PARSER_HEADER_BYTES = 64 * 1024;
/** How often Node checks headersTimeout and requestTimeout (its default, 30 s, would let a slow client in for long). */
const TIMEOUT_CHECK_MS = 500;

/** The control-plane HTTP server: every route module, plus GET /metrics from this node's registry. */
export function createHttpServer(
  node: ControlNode,
  modules: readonly RouteModule[],
  registry: Registry,
  logger: Logger,
  guard?: Guard,
): Server {
  const router = new Router();
  if (guard !== undefined) router.guard(guard);
  for (const mount of modules) mount(router, node);
  router.route("GET", "/metrics", async () => ({
    status: 200,
    headers: { "content-type": registry.contentType },
    body: await registry.metrics(),
  }));
  const server = createServer(
    {
      maxHeaderSize: PARSER_HEADER_BYTES,
      // The header block within a deadline of its own; the body's is the request's (router.ts). requestTimeout only
      // backs the router up: it cannot fire first.
      headersTimeout: DEFAULT_DEADLINE_MS,
      requestTimeout: 2 * DEFAULT_DEADLINE_MS + TIMEOUT_CHECK_MS,
      connectionsCheckingInterval: TIMEOUT_CHECK_MS,
    },
    (req, res) => {
      router.serve(req, res).catch((err: unknown) => {
        logger.error({ err: errorMessage(err) }, "HTTP request failed after the reply started");
        res.destroy();
      });
    },
  );
  server.on("clientError", (err: NodeJS.ErrnoException & { bytesParsed?: number; rawPacket?: Buffer }, socket) =>
    answerClientError(err, socket),
  );
  return server;
}

/** Sockets whose parser error has been answered. */
const answered = new WeakSet<Duplex>();

/**
 * The parser refused a request before the router saw it: answer as the router would (a JSON error), close.
 * A header overflow is 414 when it happened on the request line (no line end before the point where the
 * parser stopped), 431 otherwise.
 */
function answerClientError(err: NodeJS.ErrnoException & { bytesParsed?: number; rawPacket?: Buffer }, socket: Duplex) {
  // Over TLS the parser keeps being fed what follows the refused bytes and errs again: the answer already being
  // sent must not be cut off by destroying the socket now (it closes a second after the answer anyway).
  if (answered.has(socket)) return;
  if (!socket.writable || err.code === "ECONNRESET") {
    socket.destroy();
    return;
  }
  let status = 400;
  let code = "ERR_BAD_REQUEST";
  let message = `malformed HTTP request: ${err.message}`;
  if (err.code === "HPE_HEADER_OVERFLOW") {
    const raw = err.rawPacket;
    const lineEnd = raw === undefined ? -1 : raw.indexOf("\r\n");
    const onRequestLine = lineEnd < 0 || lineEnd >= (err.bytesParsed ?? 0);
    [status, code, message] = onRequestLine
      ? [414, "ERR_URI_TOO_LONG", `the request target is over ${MAX_URL_BYTES} bytes`]
      : [431, "ERR_HEADERS_TOO_LARGE", `the request line and headers are over ${MAX_HEADER_BYTES} bytes`];
  } else if (err.code === "ERR_HTTP_REQUEST_TIMEOUT") {
    [status, code, message] = [408, "ERR_REQUEST_TIMEOUT", "the request did not arrive within its deadline"];
  }
  const body = JSON.stringify({ error: { code, message } });
  answered.add(socket);
  socket.end(
    `HTTP/1.1 ${status} ${REASONS[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
  setTimeout(() => socket.destroy(), 1_000).unref();
}

const REASONS: Record<number, string> = {
  400: "Bad Request",
  408: "Request Timeout",
  414: "URI Too Long",
  431: "Request Header Fields Too Large",
};
