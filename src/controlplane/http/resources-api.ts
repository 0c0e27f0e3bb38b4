import { HttpError, MeshletError } from "../../common/errors.ts";
import { ConfigError, parseResources } from "../../config/load.ts";
import { kindFromPath, type ResourceKind } from "../../config/resources.ts";
import { maxValueBytes } from "../config/limits.ts";
import { oversizedRelease } from "../config/release-rules.ts";
import { sidecarsOf } from "../discovery/attach.ts";
import { readMeshState } from "../discovery/mesh-state.ts";
import type { KvView } from "../registry/kv-ops.ts";
import type {
  ApplyResponse,
  EndpointsResponse,
  EndpointView,
  ErrorBody,
  ResourceListResponse,
  SidecarsResponse,
  StoredResourceView,
} from "../resources/api-types.ts";
import { type ResourceCommand, storedResources } from "../resources/commands.ts";
import { resourceKey } from "../resources/keys.ts";
import { planApply } from "../resources/plan.ts";
import { type Command, kvView } from "../state/machine.ts";
import type { HttpReply, HttpRequest, Query, RouteModule } from "./router.ts";

/** The largest apply body accepted; larger ones get 413 and nothing is applied. */
export const MAX_APPLY_BYTES = 4 * 1024 * 1024;

/** What the mesh API needs from the node; the node's router adapts its own request/response types to these. */
export interface MeshApiDeps {
  /** Proposes through Raft; resolves with the applied entry's revision and the handler's result. */
  propose(command: ResourceCommand, deadlineMs: number): Promise<{ revision: number; result: unknown }>;
  /** Runs `fn` on the applied state (after a ReadIndex unless stale). */
  read<T>(
    fn: (kv: KvView) => T,
    options: { consistency: "linearizable" | "stale"; deadlineMs: number },
  ): Promise<{ value: T; revision: number }>;
  /** Sidecars with a stream open on this node. */
  sidecars(): Promise<SidecarsResponse>;
}

export interface ApiRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  query: Query;
  ifMatch: string | undefined;
  body: string;
  deadlineMs: number;
}

export interface ApiResponse {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

const RESOURCE = /^\/v1\/resources\/([^/]+)(?:\/([^/]+))?$/;
const ENDPOINTS = /^\/v1\/endpoints\/([^/]+)$/;

function fail(status: number, code: string, message: string, extra: Partial<ErrorBody["error"]> = {}): ApiResponse {
  return { status, body: { error: { code, message, ...extra } } satisfies ErrorBody };
}

function parseIfMatch(value: string | undefined): number | undefined | "invalid" {
  if (value === undefined) return undefined;
  const n = Number(value.replaceAll('"', ""));
  return Number.isInteger(n) && n >= 0 ? n : "invalid";
}

/**
 * POST /v1/apply, GET /v1/resources/{kind}[/{name}], PUT|DELETE
 * /v1/resources/{kind}/{name}, GET /v1/endpoints/{service}, GET /v1/sidecars.
 * Returns undefined for paths that are not the mesh API's. Node errors
 * (no leader, timeout) propagate to the router, which maps them to 503.
 */
export async function handleMeshRequest(req: ApiRequest, deps: MeshApiDeps): Promise<ApiResponse | undefined> {
  const consistency = req.query.get("consistency") === "stale" ? "stale" : "linearizable";
  if (req.path === "/v1/apply") {
    if (req.method !== "POST") return fail(405, "ERR_METHOD", "use POST");
    return apply(req, deps, consistency);
  }
  if (req.path === "/v1/sidecars") {
    if (req.method !== "GET") return fail(405, "ERR_METHOD", "use GET");
    const { sidecars, unreachable } = await deps.sidecars();
    return { status: 200, body: { sidecars, unreachable } satisfies SidecarsResponse };
  }
  const ep = ENDPOINTS.exec(req.path);
  if (ep !== null) {
    if (req.method !== "GET") return fail(405, "ERR_METHOD", "use GET");
    return endpoints(decodeURIComponent(ep[1] ?? ""), req, deps, consistency);
  }
  const m = RESOURCE.exec(req.path);
  if (m === null) return undefined;
  const kind = kindFromPath(decodeURIComponent(m[1] ?? ""));
  if (kind === undefined)
    return fail(
      404,
      "ERR_UNKNOWN_KIND",
      `unknown kind "${m[1]}" (expected services, routes, policies or configreleases)`,
    );
  const name = m[2] === undefined ? undefined : decodeURIComponent(m[2]);
  if (name === undefined) {
    if (req.method !== "GET") return fail(405, "ERR_METHOD", "use GET");
    const { value, revision } = await deps.read((kv) => listKind(kv, kind), {
      consistency,
      deadlineMs: req.deadlineMs,
    });
    return { status: 200, body: { revision, items: value } satisfies ResourceListResponse };
  }
  switch (req.method) {
    case "GET": {
      const { value } = await deps.read((kv) => storedResources(kv).get(resourceKey(kind, name)), {
        consistency,
        deadlineMs: req.deadlineMs,
      });
      if (value === undefined) return fail(404, "ERR_NOT_FOUND", `${kind.toLowerCase()}/${name} not found`);
      return {
        status: 200,
        body: value satisfies StoredResourceView,
        headers: { etag: String(value.revision) },
      };
    }
    case "PUT":
      return put(kind, name, req, deps);
    case "DELETE": {
      const ifRevision = parseIfMatch(req.ifMatch);
      if (ifRevision === "invalid") return fail(400, "ERR_BAD_REQUEST", "If-Match must be a revision number");
      const command: ResourceCommand = { type: "mesh.resource.delete", kind, name };
      if (ifRevision !== undefined) command.ifRevision = ifRevision;
      const out = await proposeOrFail(command, req, deps);
      if ("status" in out) return out;
      return { status: 200, body: { revision: out.revision, deleted: true } };
    }
    default:
      return fail(405, "ERR_METHOD", "use GET, PUT or DELETE");
  }
}

function listKind(kv: KvView, kind: ResourceKind): StoredResourceView[] {
  return [...storedResources(kv).values()].filter((r) => r.resource.kind === kind);
}

function parseBody(req: ApiRequest): ApiResponse | ReturnType<typeof parseResources> {
  if (Buffer.byteLength(req.body) > MAX_APPLY_BYTES) {
    return fail(413, "ERR_TOO_LARGE", `body larger than ${MAX_APPLY_BYTES} bytes; split the apply`);
  }
  try {
    const resources = parseResources(req.body, "request");
    const tooLarge = oversizedRelease(resources, maxValueBytes());
    return tooLarge === undefined ? resources : fail(413, "ERR_TOO_LARGE", tooLarge);
  } catch (err) {
    if (err instanceof ConfigError) return fail(400, err.code, err.message, { issues: err.issues });
    throw err;
  }
}

async function apply(req: ApiRequest, deps: MeshApiDeps, consistency: "linearizable" | "stale"): Promise<ApiResponse> {
  const resources = parseBody(req);
  if (!Array.isArray(resources)) return resources;
  if (resources.length === 0) return fail(400, "ERR_CONFIG_INVALID", "no resources in the request body");
  const { value: plan, revision } = await deps.read((kv) => planApply(storedResources(kv), resources), {
    consistency,
    deadlineMs: req.deadlineMs,
  });
  const dryRun = req.query.get("dryRun") === "true";
  if (dryRun || plan.writes.length === 0) {
    return {
      status: 200,
      body: { revision, dryRun, results: plan.results, warnings: plan.warnings } satisfies ApplyResponse,
    };
  }
  const out = await proposeOrFail({ type: "mesh.apply", resources }, req, deps);
  if ("status" in out) return out;
  return {
    status: 200,
    body: {
      revision: out.revision,
      dryRun: false,
      results: out.result as ApplyResponse["results"],
      warnings: plan.warnings,
    } satisfies ApplyResponse,
  };
}

async function put(kind: ResourceKind, name: string, req: ApiRequest, deps: MeshApiDeps): Promise<ApiResponse> {
  const resources = parseBody(req);
  if (!Array.isArray(resources)) return resources;
  const [resource, extra] = resources;
  if (resource === undefined || extra !== undefined)
    return fail(400, "ERR_BAD_REQUEST", "PUT takes exactly one resource");
  if (resource.kind !== kind || resource.metadata.name !== name) {
    return fail(400, "ERR_BAD_REQUEST", `body is ${resource.kind}/${resource.metadata.name}, path is ${kind}/${name}`);
  }
  const ifRevision = parseIfMatch(req.ifMatch);
  if (ifRevision === "invalid") return fail(400, "ERR_BAD_REQUEST", "If-Match must be a revision number");
  const command: ResourceCommand = { type: "mesh.resource.put", resource };
  if (ifRevision !== undefined) command.ifRevision = ifRevision;
  const out = await proposeOrFail(command, req, deps);
  if ("status" in out) return out;
  return {
    status: 200,
    body: { revision: out.revision, results: out.result },
    headers: { etag: String(out.revision) },
  };
}

async function proposeOrFail(
  command: ResourceCommand,
  req: ApiRequest,
  deps: MeshApiDeps,
): Promise<{ revision: number; result: unknown } | ApiResponse> {
  try {
    return await deps.propose({ ...command, at: Date.now() }, req.deadlineMs);
  } catch (err) {
    if (err instanceof MeshletError && err.code === "ERR_REVISION_MISMATCH") return fail(412, err.code, err.message);
    if (err instanceof MeshletError && err.code === "ERR_NOT_FOUND") return fail(404, err.code, err.message);
    throw err;
  }
}

async function endpoints(
  service: string,
  req: ApiRequest,
  deps: MeshApiDeps,
  consistency: "linearizable" | "stale",
): Promise<ApiResponse> {
  const { value, revision } = await deps.read(
    (kv) => {
      const state = readMeshState(kv, 0);
      const out: EndpointView[] = [];
      for (const { resource } of state.resources) {
        if (resource.kind !== "Service" || resource.metadata.name !== service) continue;
        resource.spec.endpoints.forEach((e, i) => {
          out.push({
            service,
            instance: `static-${i}`,
            address: e.address,
            port: e.port,
            labels: e.labels ?? {},
            weight: e.weight,
            source: "static",
          });
        });
      }
      for (const e of state.endpoints) {
        if (e.service !== service) continue;
        out.push({
          service,
          instance: e.instance,
          address: e.address,
          port: e.port,
          labels: e.labels,
          weight: e.weight,
          source: "registered",
        });
      }
      return out;
    },
    { consistency, deadlineMs: req.deadlineMs },
  );
  return { status: 200, body: { service, revision, endpoints: value } satisfies EndpointsResponse };
}

/**
 * Mounts the mesh API on the node's router. /v1/sidecars lists the sidecars
 * of the whole cluster: this node's streams and every other node's (sidecarsOf).
 */
export const resourcesApi: RouteModule = (router, node) => {
  const deps: MeshApiDeps = {
    propose: (command, deadlineMs) => node.propose(command as unknown as Command, { deadlineMs }),
    read: (fn, options) => node.read((kv) => ({ value: fn(kvView(kv)), revision: kv.revision }), options),
    sidecars: () => sidecarsOf(node),
  };
  const handler = async (req: HttpRequest): Promise<HttpReply> => {
    const ifMatch = req.headers["if-match"];
    const reply = await handleMeshRequest(
      {
        method: req.method,
        path: req.path,
        query: req.query,
        ifMatch: Array.isArray(ifMatch) ? ifMatch[0] : ifMatch,
        body: req.body.toString("utf8"),
        deadlineMs: req.remainingMs(),
      },
      deps,
    );
    if (reply === undefined) throw new HttpError(404, "ERR_NOT_FOUND", `no route for ${req.method} ${req.path}`);
    return { status: reply.status, body: reply.body, headers: reply.headers ?? {} };
  };
  const big = { maxBodyBytes: MAX_APPLY_BYTES };
  router.route("POST", "/v1/apply", handler, big);
  router.route("GET", "/v1/sidecars", handler);
  router.route("GET", "/v1/endpoints/{service}", handler);
  router.route("GET", "/v1/resources/{kind}", handler);
  router.route("GET", "/v1/resources/{kind}/{name}", handler);
  router.route("PUT", "/v1/resources/{kind}/{name}", handler, big);
  router.route("DELETE", "/v1/resources/{kind}/{name}", handler);
};
