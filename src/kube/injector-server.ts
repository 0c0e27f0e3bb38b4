import { readFileSync, unwatchFile, watchFile } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import { errorMessage } from "../common/errors.ts";
import type { Logger } from "../common/logger.ts";
import { Counter, type Registry } from "../common/prom.ts";
import { type ReviewAnswer, review } from "./admission.ts";
import type { InjectOptions } from "./pod-injection.ts";

/**
 * `meshlet injector`: the HTTPS server the API server calls for every Pod CREATE in an opted-in namespace.
 * POST /inject takes an AdmissionReview; GET /healthz says the process serves; GET /metrics counts reviews.
 * The certificate and key are read again when their files change (cert-manager renews them in place).
 */
export interface InjectorOptions {
  host: string;
  port: number;
  certFile: string;
  keyFile: string;
  inject: InjectOptions;
  logger: Logger;
  registry: Registry;
  /** Largest review body accepted; the API server sends at most 3 MiB of object, so 413 beyond means an error. */
  maxBodyBytes?: number;
  /** How often the certificate files are looked at for a change. */
  certPollMs?: number;
}

export const DEFAULT_MAX_REVIEW_BYTES = 6 * 1024 * 1024;
const BODY_DEADLINE_MS = 10_000;

export interface RunningInjector {
  server: Server;
  port: number;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function error(res: ServerResponse, status: number, code: string, message: string): void {
  send(res, status, { error: { code, message } });
}

/** The body within the size limit, or undefined when the reply (413) was already sent. */
function readBody(req: IncomingMessage, res: ServerResponse, limit: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? "0");
    if (declared > limit) {
      res.setHeader("connection", "close");
      error(res, 413, "ERR_TOO_LARGE", `the review is over ${limit} bytes`);
      req.resume();
      resolve(undefined);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        res.setHeader("connection", "close");
        error(res, 413, "ERR_TOO_LARGE", `the review is over ${limit} bytes`);
        req.destroy();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

export async function startInjector(opts: InjectorOptions): Promise<RunningInjector> {
  const reviews = new Counter({
    name: "meshlet_injector_reviews_total",
    help: "AdmissionReviews answered, by result (injected, skipped, ignored, denied, invalid)",
    labelNames: ["result"],
    registers: [opts.registry],
  });
  const limit = opts.maxBodyBytes ?? DEFAULT_MAX_REVIEW_BYTES;
  const tls = () => ({ cert: readFileSync(opts.certFile), key: readFileSync(opts.keyFile) });
  const server = createServer(
    { ...tls(), headersTimeout: BODY_DEADLINE_MS, requestTimeout: BODY_DEADLINE_MS },
    (req, res) => {
      handle(req, res).catch((err: unknown) => {
        opts.logger.error({ err: errorMessage(err) }, "injector request failed");
        if (!res.headersSent) error(res, 500, "ERR_INTERNAL", "internal error");
        else res.destroy();
      });
    },
  );
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? "").split("?")[0];
    if (path === "/healthz" || path === "/metrics") {
      if (req.method !== "GET") return error(res, 405, "ERR_METHOD", `${path} takes GET`);
      if (path === "/healthz") return send(res, 200, { status: "ok" });
      const text = await opts.registry.metrics();
      res.writeHead(200, { "content-type": opts.registry.contentType });
      return res.end(text);
    }
    if (path !== "/inject") return error(res, 404, "ERR_NOT_FOUND", `no route for ${path}`);
    if (req.method !== "POST") return error(res, 405, "ERR_METHOD", "/inject takes POST");
    const type = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase();
    if (type !== "application/json")
      return error(res, 415, "ERR_MEDIA_TYPE", `expected content-type application/json, got "${type ?? ""}"`);
    const body = await readBody(req, res, limit);
    if (body === undefined) {
      reviews.inc({ result: "invalid" });
      return;
    }
    let answer: ReviewAnswer;
    try {
      answer = review(body, opts.inject);
    } catch (err) {
      opts.logger.error({ err: errorMessage(err) }, "review failed");
      reviews.inc({ result: "invalid" });
      return error(res, 500, "ERR_INTERNAL", "the review could not be processed");
    }
    reviews.inc({ result: answer.result });
    if (answer.result === "denied" || answer.result === "invalid")
      opts.logger.warn({ result: answer.result, body: answer.body }, "review not injected");
    send(res, answer.status, answer.body);
  };
  server.on("tlsClientError", () => {
    // A client that does not trust the certificate or speaks plain HTTP: nothing to answer, nothing to crash on.
  });
  const reload = () => {
    try {
      server.setSecureContext(tls());
      opts.logger.info({ cert: opts.certFile }, "certificate reloaded");
    } catch (err) {
      opts.logger.error({ err: errorMessage(err) }, "certificate reload failed; serving the previous one");
    }
  };
  const interval = opts.certPollMs ?? 5_000;
  watchFile(opts.certFile, { interval, persistent: false }, reload);
  watchFile(opts.keyFile, { interval, persistent: false }, reload);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  return {
    server,
    port: typeof address === "object" && address !== null ? address.port : opts.port,
    close: () =>
      new Promise<void>((resolve) => {
        unwatchFile(opts.certFile, reload);
        unwatchFile(opts.keyFile, reload);
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
