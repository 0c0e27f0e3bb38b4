import { HttpError } from "../../common/errors.ts";
import {
  CONFIG_PREFIX,
  type ConfigDelete,
  type ConfigPut,
  ConfigRevisionError,
  invalidKeyReason,
} from "../config/commands.ts";
import { maxValueBytes } from "../config/limits.ts";
import { releaseIndexKey } from "../config/release-index.ts";
import type { Consistency } from "../node.ts";
import { storedBytes, storedText } from "../state/value.ts";
import { isPrefixWatch, isWatch, watchReply } from "./config-watch.ts";
import { decimal, single } from "./headers.ts";
import { errorReply, type HttpReply, type HttpRequest, json, type RouteModule } from "./router.ts";

/** The `{key}` of a config route: percent-decoded, then checked (400 ERR_BAD_KEY). */
export function keyParam(req: HttpRequest): string {
  let key: string;
  try {
    key = decodeURIComponent(req.params.key ?? "");
  } catch {
    throw new HttpError(400, "ERR_BAD_KEY", "key is not valid percent-encoding");
  }
  const reason = invalidKeyReason(key);
  if (reason !== undefined) throw new HttpError(400, "ERR_BAD_KEY", reason);
  return key;
}

/** A decimal revision only: "1e3", "0x10" and "3" in quotes are refused, not read as 1000, 16 and 3. */
function ifMatch(req: HttpRequest): number | undefined {
  const raw = single(req.headers["if-match"]);
  if (raw === undefined) return undefined;
  const n = decimal(raw);
  if (n === undefined)
    throw new HttpError(400, "ERR_BAD_REQUEST", `If-Match: expected a revision in decimal digits, got "${raw}"`);
  return n;
}

export function consistency(req: Pick<HttpRequest, "query">): Consistency {
  const c = req.query.get("consistency");
  if (c === null || c === "linearizable") return "linearizable";
  if (c === "stale") return "stale";
  throw new HttpError(400, "ERR_BAD_REQUEST", `consistency: expected linearizable or stale, got "${c}"`);
}

/** 412 carries the current revision so a client can retry its compare-and-set. */
function casReply(err: unknown): HttpReply {
  if (err instanceof ConfigRevisionError) {
    return json(412, { error: { code: err.code, message: err.message }, revision: err.current });
  }
  return errorReply(err);
}

/** PUT|GET|DELETE /v1/config/{key}, GET /v1/config?prefix= (DESIGN.md). */
export const configApi: RouteModule = (router, node) => {
  /** A write honouring If-Match: 200 with the new revision, or 412 with the current one. */
  const write = async (req: HttpRequest, command: ConfigPut | ConfigDelete): Promise<HttpReply> => {
    const expected = ifMatch(req);
    if (expected !== undefined) command.ifRevision = expected;
    command.at = Date.now();
    try {
      const { revision } = await node.propose(command, { deadlineMs: req.remainingMs() });
      return json(200, { revision });
    } catch (err) {
      return casReply(err);
    }
  };
  router.route(
    "PUT",
    "/v1/config/{key*}",
    (req) => write(req, { type: "config.put", key: keyParam(req), value: req.body.toString("base64") }),
    { maxBodyBytes: maxValueBytes() },
  );
  router.route("GET", "/v1/config/{key*}", async (req) => {
    const key = keyParam(req);
    if (isWatch(req.query)) return watchReply(req, node, key, isPrefixWatch(req.query));
    const { record, release, revision } = await node.read(
      (kv) => ({ record: kv.get(CONFIG_PREFIX + key), release: kv.get(releaseIndexKey(key)), revision: kv.revision }),
      { consistency: consistency(req), deadlineMs: req.remainingMs() },
    );
    if (record === undefined) throw new HttpError(404, "ERR_NOT_FOUND", `config key "${key}" not found`);
    // x-meshlet-revision: the store's revision at this read; a watch from the next one misses nothing.
    const headers: Record<string, string> = {
      etag: String(record.revision),
      "content-type": "application/octet-stream",
      "x-meshlet-revision": String(revision),
    };
    if (release !== undefined) headers["x-meshlet-config-release"] = storedText(release.value);
    return { status: 200, headers, body: storedBytes(record.value) };
  });
  router.route("DELETE", "/v1/config/{key*}", (req) => write(req, { type: "config.delete", key: keyParam(req) }));
  router.route("GET", "/v1/config", async (req) => {
    const prefix = req.query.get("prefix") ?? "";
    if (isWatch(req.query)) return watchReply(req, node, prefix, true);
    const { list, revision } = await node.read(
      (kv) => ({
        list: kv
          .range(CONFIG_PREFIX + prefix)
          .map((e) => ({ key: e.key.slice(CONFIG_PREFIX.length), revision: e.record.revision })),
        revision: kv.revision,
      }),
      { consistency: consistency(req), deadlineMs: req.remainingMs() },
    );
    return json(200, list, { "x-meshlet-revision": String(revision) });
  });
};
