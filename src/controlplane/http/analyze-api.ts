import { type AnalyzeOptions, analyzeMesh, type EndpointLabels } from "../../config/analyze.ts";
import { DEFAULT_RESOURCE_LIMITS, type ResourceLimits } from "../../config/limits.ts";
import type { Resource } from "../../config/resources.ts";
import { readMeshState } from "../discovery/mesh-state.ts";
import type { KvView } from "../registry/kv-ops.ts";
import type { AnalyzeResponse } from "../resources/api-types.ts";
import { withChanges } from "../resources/plan.ts";
import type { ResourceParser } from "../resources/resource-parser.ts";
import { kvView } from "../state/machine.ts";
import { bodyParser, bodyText, parseResourceBody } from "./resources-api.ts";
import type { HttpReply, HttpRequest, RouteModule } from "./router.ts";

/**
 * GET /v1/analyze: what `meshlet analyze` reports about the stored resources,
 * with the endpoints registered now. POST /v1/analyze with resources in the
 * body (YAML or JSON, as POST /v1/apply takes): the same, on the state an
 * apply of them would produce; nothing is written. Bodies are bounded and
 * parsed as an apply's are (the same limits, off the event loop).
 */
export function analyzeApi(options: { limits?: ResourceLimits; parser?: ResourceParser } = {}): RouteModule {
  const limits = options.limits ?? DEFAULT_RESOURCE_LIMITS;
  const parse = bodyParser(options.parser);
  return (router, node) => {
    const handler = async (req: HttpRequest): Promise<HttpReply> => {
      let incoming: Resource[] = [];
      if (req.method === "POST") {
        const parsed = await parseResourceBody(bodyText(req), req.remainingMs(), limits, parse);
        if (!Array.isArray(parsed)) return { status: parsed.status, body: parsed.body };
        incoming = parsed;
      }
      const consistency = req.query.get("consistency") === "stale" ? "stale" : "linearizable";
      const body = await node.read((kv) => analyzeState(kvView(kv), kv.revision, incoming), {
        consistency,
        deadlineMs: req.remainingMs(),
      });
      return { status: 200, body: body satisfies AnalyzeResponse };
    };
    router.route("GET", "/v1/analyze", handler);
    router.route("POST", "/v1/analyze", handler, { maxBodyBytes: limits.maxTotalBytes });
  };
}

function analyzeState(kv: KvView, revision: number, incoming: readonly Resource[]): AnalyzeResponse {
  const state = readMeshState(kv, revision);
  const resources = withChanges(
    state.resources.map((r) => r.resource),
    incoming,
    [],
  );
  const endpoints = new Map<string, Readonly<Record<string, string>>[]>();
  const add = (service: string, labels: Readonly<Record<string, string>>) => {
    const list = endpoints.get(service);
    if (list === undefined) endpoints.set(service, [labels]);
    else list.push(labels);
  };
  for (const r of resources)
    if (r.kind === "Service") for (const e of r.spec.endpoints) add(r.metadata.name, e.labels ?? {});
  for (const e of state.endpoints) add(e.service, e.labels);
  const options: AnalyzeOptions = { endpoints: endpoints satisfies EndpointLabels };
  return { revision, findings: analyzeMesh(resources, options) };
}
