import { HttpError, MeshletError } from "../../common/errors.ts";
import { type Finding, formatFinding } from "../../config/finding.ts";
import { DEFAULT_MAX_APPLY_BYTES, DEFAULT_RESOURCE_LIMITS, type ResourceLimits } from "../../config/limits.ts";
import { ConfigError, parseResources } from "../../config/load.ts";
import { checkMesh } from "../../config/mesh-check.ts";
import { kindFromPath, type Resource, type ResourceKind } from "../../config/resources.ts";
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
import { ConfigRejectedError, type ResourceCommand, storedResources } from "../resources/commands.ts";
import { resourceKey } from "../resources/keys.ts";
import { newErrors, planApply, withChanges } from "../resources/plan.ts";
import type { ResourceParser } from "../resources/resource-parser.ts";
import { type Command, kvView } from "../state/machine.ts";
import { decimal } from "./headers.ts";
import type { HttpReply, HttpRequest, Query, RouteModule } from "./router.ts";

/** The largest apply body accepted by default (--max-apply-bytes); larger ones get 413 and nothing is applied. */
export const MAX_APPLY_BYTES = DEFAULT_MAX_APPLY_BYTES;

/** Parses and validates a request body within `deadlineMs`; throws a ConfigError for bad or oversized input. */
export type BodyParser = (text: string, limits: ResourceLimits, deadlineMs: number) => Promise<Resource[]>;

const parseInline: BodyParser = async (text, limits) => parseResources(text, "request", limits);

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
  sidecars(): Promise<Omit<SidecarsResponse, "stale">>;
  /** Size limits of an apply or PUT body (default: DEFAULT_RESOURCE_LIMITS). */
  limits?: ResourceLimits;
  /** How bodies are parsed (default: on the calling thread; the node uses a worker, see ResourceParser). */
  parse?: BodyParser;
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

/** A decimal revision only (headers.ts): "1e3", "0x10" or "3" in quotes would name another revision. */
function parseIfMatch(value: string | undefined): number | undefined | ApiResponse {
  if (value === undefined) return undefined;
  return (
    decimal(value) ?? fail(400, "ERR_BAD_REQUEST", `If-Match: expected a revision in decimal digits, got "${value}"`)
  );
}

/** A path segment, percent-decoded; undefined when it is not valid percent-encoding. */
function segment(raw: string | undefined): string | undefined {
  try {
    return decodeURIComponent(raw ?? "");
  } catch {
    return undefined;
  }
}

const BAD_SEGMENT = fail(400, "ERR_BAD_REQUEST", "a path segment is not valid percent-encoding");

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
    return {
      status: 200,
      body: { sidecars, unreachable, stale: unreachable.length > 0 } satisfies SidecarsResponse,
    };
  }
  const ep = ENDPOINTS.exec(req.path);
  if (ep !== null) {
    if (req.method !== "GET") return fail(405, "ERR_METHOD", "use GET");
    const service = segment(ep[1]);
    return service === undefined ? BAD_SEGMENT : endpoints(service, req, deps, consistency);
  }
  const m = RESOURCE.exec(req.path);
  if (m === null) return undefined;
  const kindSegment = segment(m[1]);
  const name = m[2] === undefined ? undefined : segment(m[2]);
  if (kindSegment === undefined || (m[2] !== undefined && name === undefined)) return BAD_SEGMENT;
  const kind = kindFromPath(kindSegment);
  if (kind === undefined)
    return fail(
      404,
      "ERR_UNKNOWN_KIND",
      `unknown kind "${m[1]}" (expected services, routes, policies, configreleases, faultexperiments, authorizationpolicies or peerauthentications)`,
    );
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
      if (typeof ifRevision === "object") return ifRevision;
      const refused = await precheck(req, deps, [], [resourceKey(kind, name)]);
      if (refused !== undefined) return refused;
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

/**
 * The body's resources: the text within the apply limit, then each resource and all of them together within
 * the limits once expanded and encoded (413), or valid (400), as load.ts checks them.
 */
export async function parseResourceBody(
  body: string,
  deadlineMs: number,
  limits: ResourceLimits,
  parse: BodyParser = parseInline,
): Promise<ApiResponse | Resource[]> {
  if (Buffer.byteLength(body) > limits.maxTotalBytes) {
    return fail(413, "ERR_TOO_LARGE", `body larger than ${limits.maxTotalBytes} bytes; split the apply`);
  }
  try {
    const resources = await parse(body, limits, deadlineMs);
    const tooLarge = oversizedRelease(resources, maxValueBytes());
    return tooLarge === undefined ? resources : fail(413, "ERR_TOO_LARGE", tooLarge);
  } catch (err) {
    if (err instanceof ConfigError)
      return fail(err.code === "ERR_TOO_LARGE" ? 413 : 400, err.code, err.message, { issues: err.issues });
    throw err;
  }
}

/** Experiments get their deadline when started (POST /v1/chaos/experiments): an apply would give them none. */
async function parseBody(req: ApiRequest, deps: MeshApiDeps): Promise<ApiResponse | Resource[]> {
  const out = await parseResourceBody(req.body, req.deadlineMs, deps.limits ?? DEFAULT_RESOURCE_LIMITS, deps.parse);
  if (!Array.isArray(out)) return out;
  const experiment = out.find((r) => r.kind === "FaultExperiment");
  if (experiment === undefined) return out;
  return fail(
    400,
    "ERR_BAD_REQUEST",
    `FaultExperiment/${experiment.metadata.name}: start experiments with \`meshlet chaos start -f FILE\` (POST /v1/chaos/experiments), which sets their deadline`,
  );
}

async function apply(req: ApiRequest, deps: MeshApiDeps, consistency: "linearizable" | "stale"): Promise<ApiResponse> {
  const resources = await parseBody(req, deps);
  if (!Array.isArray(resources)) return resources;
  if (resources.length === 0) return fail(400, "ERR_CONFIG_INVALID", "no resources in the request body");
  const { value: plan, revision } = await deps.read((kv) => planApply(storedResources(kv), resources), {
    consistency,
    deadlineMs: req.deadlineMs,
  });
  if (plan.errors.length > 0) return rejected(plan.errors);
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
  const resources = await parseBody(req, deps);
  if (!Array.isArray(resources)) return resources;
  const [resource, extra] = resources;
  if (resource === undefined || extra !== undefined)
    return fail(400, "ERR_BAD_REQUEST", "PUT takes exactly one resource");
  if (resource.kind !== kind || resource.metadata.name !== name) {
    return fail(400, "ERR_BAD_REQUEST", `body is ${resource.kind}/${resource.metadata.name}, path is ${kind}/${name}`);
  }
  const ifRevision = parseIfMatch(req.ifMatch);
  if (typeof ifRevision === "object") return ifRevision;
  const refused = await precheck(req, deps, [resource], []);
  if (refused !== undefined) return refused;
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

/**
 * The shared check on the state a PUT or DELETE would produce, before it is
 * proposed, so a refused change never becomes a log entry. (The handler
 * checks again at its index: a change may have been ordered in between.)
 */
async function precheck(
  req: ApiRequest,
  deps: MeshApiDeps,
  put: readonly Resource[],
  deleted: readonly string[],
): Promise<ApiResponse | undefined> {
  const { value: errors } = await deps.read(
    (kv) => {
      const before = [...storedResources(kv).values()].map((s) => s.resource);
      return newErrors(before, checkMesh(withChanges(before, put, deleted)));
    },
    { consistency: "linearizable", deadlineMs: req.deadlineMs },
  );
  return errors.length > 0 ? rejected(errors) : undefined;
}

/** 422: the change would give sidecars a resource they refuse; the body carries their words. */
function rejected(findings: readonly Finding[]): ApiResponse {
  return fail(422, "ERR_CONFIG_REJECTED", findings.map(formatFinding).join("\n"), { findings: [...findings] });
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
    if (err instanceof ConfigRejectedError) return rejected(err.findings);
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
          ...(e.namespace === undefined ? {} : { namespace: e.namespace }),
        });
      }
      return out;
    },
    { consistency, deadlineMs: req.deadlineMs },
  );
  return { status: 200, body: { service, revision, endpoints: value } satisfies EndpointsResponse };
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** A request body as text: refused (400), never repaired, when it is not valid UTF-8. */
export function bodyText(req: HttpRequest): string {
  try {
    return utf8.decode(req.body);
  } catch {
    throw new HttpError(400, "ERR_BAD_REQUEST", "the body is not valid UTF-8");
  }
}

/** The parser of request bodies: `parser` (off the event loop) when the node has one, else inline. */
export function bodyParser(parser: ResourceParser | undefined): BodyParser {
  return parser === undefined ? parseInline : (text, l, deadlineMs) => parser.parse(text, "request", l, deadlineMs);
}

/**
 * Mounts the mesh API on the node's router. /v1/sidecars lists the sidecars
 * of the whole cluster: this node's streams and every other node's (sidecarsOf).
 * Bodies are parsed by `parser` (off the event loop) within `limits`.
 */
export function resourcesApi(options: { limits?: ResourceLimits; parser?: ResourceParser } = {}): RouteModule {
  const limits = options.limits ?? DEFAULT_RESOURCE_LIMITS;
  const { parser } = options;
  return (router, node) => {
    const deps: MeshApiDeps = {
      propose: (command, deadlineMs) => node.propose(command as unknown as Command, { deadlineMs }),
      read: (fn, options) => node.read((kv) => ({ value: fn(kvView(kv)), revision: kv.revision }), options),
      sidecars: () => sidecarsOf(node),
      limits,
      parse: bodyParser(parser),
    };
    const handler = async (req: HttpRequest): Promise<HttpReply> => {
      const body = bodyText(req);
      const ifMatch = req.headers["if-match"];
      const reply = await handleMeshRequest(
        {
          method: req.method,
          path: req.path,
          query: req.query,
          ifMatch: Array.isArray(ifMatch) ? ifMatch.join(", ") : ifMatch,
          body,
          deadlineMs: req.remainingMs(),
        },
        deps,
      );
      if (reply === undefined) throw new HttpError(404, "ERR_NOT_FOUND", `no route for ${req.method} ${req.path}`);
      return { status: reply.status, body: reply.body, headers: reply.headers ?? {} };
    };
    const big = { maxBodyBytes: limits.maxTotalBytes };
    router.route("POST", "/v1/apply", handler, big);
    router.route("GET", "/v1/sidecars", handler);
    router.route("GET", "/v1/endpoints/{service}", handler);
    router.route("GET", "/v1/resources/{kind}", handler);
    router.route("GET", "/v1/resources/{kind}/{name}", handler);
    router.route("PUT", "/v1/resources/{kind}/{name}", handler, big);
    router.route("DELETE", "/v1/resources/{kind}/{name}", handler);
  };
}
