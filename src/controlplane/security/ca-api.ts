import { Counter, type Registry } from "prom-client";
import { errorCode, errorMessage, HttpError, MeshletError } from "../../common/errors.ts";
import type { Logger } from "../../common/logger.ts";
import { parseDuration } from "../../config/duration.ts";
import { json, jsonBody, type RouteModule } from "../http/router.ts";
import { defaultOverlapMs, MAX_OVERLAP_MS, type MeshSecurity } from "./mesh-ca.ts";

/** Refusals of a rotation, by code: the request was understood and is not the thing to do now (409). */
const STATUS_BY_CODE: Record<string, number> = {
  ERR_CA_OPERATOR: 409,
  ERR_CA_ROTATION_IN_PROGRESS: 409,
  ERR_CA_CHANGED: 409,
  ERR_CA_UNAVAILABLE: 503,
};

/** The overlap asked for (body `{"overlap": "48h"}`), or the default of twice --cert-ttl. */
export function overlapOf(body: unknown, certTtlMs: number): number {
  if (body === null || typeof body !== "object" || Array.isArray(body))
    throw new HttpError(400, "ERR_BAD_REQUEST", 'expected a JSON object, e.g. {"overlap": "48h"} or {}');
  const { overlap, ...rest } = body as { overlap?: unknown };
  const unknown = Object.keys(rest);
  if (unknown.length > 0)
    throw new HttpError(400, "ERR_BAD_REQUEST", `unknown field ${unknown.join(", ")}: only "overlap" is taken`);
  if (overlap === undefined) return defaultOverlapMs(certTtlMs);
  const ms = typeof overlap === "string" ? parseDuration(overlap) : undefined;
  if (ms === undefined || ms > MAX_OVERLAP_MS)
    throw new HttpError(
      400,
      "ERR_BAD_REQUEST",
      `overlap: expected a duration like 48h or 90m, at most 8760h (a year), got ${JSON.stringify(overlap)}`,
    );
  return Math.round(ms);
}

/**
 * `GET /v1/ca` (read): the mesh CA's root, the replaced roots still trusted and until when. `POST /v1/ca/rotate`
 * (admin, like every write not opened in auth/http-access.ts): a new generated root with overlap
 * (MeshSecurity.rotate). Rotations counted in meshlet_ca_rotations_total{result, code}, each refusal logged once
 * here with its code.
 */
export function caApi(security: MeshSecurity, registry: Registry, logger: Logger): RouteModule {
  const rotations = new Counter({
    name: "meshlet_ca_rotations_total",
    help: "Root rotations asked of POST /v1/ca/rotate on this node, by result (rotated, refused) and error code",
    labelNames: ["result", "code"],
    registers: [registry],
  });
  return (router) => {
    router.route("GET", "/v1/ca", async () => {
      const view = security.describe();
      if (view === undefined)
        throw new HttpError(503, "ERR_CA_UNAVAILABLE", "the mesh CA is not ready on this node yet");
      return json(200, view);
    });
    router.route("POST", "/v1/ca/rotate", async (req) => {
      try {
        const body = req.body.length === 0 ? {} : jsonBody(req);
        const view = await security.rotate(overlapOf(body, security.options.certTtlMs));
        rotations.inc({ result: "rotated", code: "" });
        return json(200, view);
      } catch (err) {
        const code = errorCode(err);
        rotations.inc({ result: "refused", code });
        logger.warn({ code, err: errorMessage(err) }, "root rotation refused");
        const status = STATUS_BY_CODE[code];
        if (status !== undefined && err instanceof MeshletError && !(err instanceof HttpError))
          throw new HttpError(status, code, err.message);
        throw err;
      }
    });
  };
}
