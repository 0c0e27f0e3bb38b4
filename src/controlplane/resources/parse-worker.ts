import { parentPort } from "node:worker_threads";
import { ConfigError, parseResources } from "../../config/load.ts";
import type { ParseReply, ParseRequest } from "./resource-parser.ts";

/**
 * The worker thread that parses and validates apply bodies (resource-parser.ts):
 * one request at a time, in arrival order.
 */
parentPort?.on("message", (req: ParseRequest) => {
  let reply: ParseReply;
  try {
    reply = { id: req.id, ok: true, resources: parseResources(req.text, req.file, req.limits) };
  } catch (err) {
    reply =
      err instanceof ConfigError
        ? { id: req.id, ok: false, code: err.code, issues: err.issues }
        : { id: req.id, ok: false, code: "ERR_PARSE", message: err instanceof Error ? err.message : String(err) };
  }
  parentPort?.postMessage(reply);
});
