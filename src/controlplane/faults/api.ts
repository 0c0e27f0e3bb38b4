import { HttpError, MeshletError } from "../../common/errors.ts";
import type { Logger } from "../../common/logger.ts";
import { parseDuration } from "../../config/duration.ts";
import { ConfigError, parseResources } from "../../config/load.ts";
import type { FaultExperiment } from "../../config/resources.ts";
import { bodyText } from "../http/resources-api.ts";
import type { HttpReply, HttpRequest, RouteModule } from "../http/router.ts";
import type { ControlNode } from "../node.ts";
import type { ResourceCommand } from "../resources/commands.ts";
import { type Command, kvView } from "../state/machine.ts";
import { type FaultCommand, storedExperiments } from "./commands.ts";

/** Who asked, until API tokens name the caller: what the client says (the CLI sends the OS user), else "unknown". */
export const USER_HEADER = "x-meshlet-user";

const MAX_WHO = 256;
const MAX_REASON = 1024;

/** `POST /v1/chaos/experiments` body. */
export interface StartRequest {
  /** A FaultExperiment resource; `status` is set here, whatever the body says. */
  experiment: unknown;
  reason?: string;
}

/** One running experiment, as `GET /v1/chaos/experiments` lists it. */
export interface ExperimentView {
  experiment: FaultExperiment;
  revision: number;
  /** Milliseconds until the deadline on the answering node's clock (0 once passed: the leader is removing it). */
  remainingMs: number;
}

export interface ExperimentListResponse {
  /** The answering node's wall clock (epoch ms). */
  now: number;
  items: ExperimentView[];
}

/** The token's name is who acted; the user the CLI names (its OS user) is only a hint, as it can say anything. */
function who(req: HttpRequest): string {
  const v = req.headers[USER_HEADER];
  const s = (Array.isArray(v) ? v[0] : v)?.trim() ?? "";
  const hint = s === "" ? "" : s.slice(0, MAX_WHO);
  if (req.caller === undefined) return hint === "" ? "unknown" : hint;
  return hint === "" ? `token ${req.caller}` : `token ${req.caller} (user ${hint})`;
}

function reasonOf(v: unknown): string | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string") throw new HttpError(400, "ERR_BAD_REQUEST", "reason: expected a string");
  if (v.length > MAX_REASON) throw new HttpError(400, "ERR_BAD_REQUEST", `reason: at most ${MAX_REASON} characters`);
  return v;
}

function parseJson(req: HttpRequest): Record<string, unknown> {
  let body: unknown;
  try {
    body = JSON.parse(bodyText(req));
  } catch (err) {
    if (err instanceof HttpError) throw err;
    throw new HttpError(400, "ERR_BAD_REQUEST", "the body is not JSON");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw new HttpError(400, "ERR_BAD_REQUEST", "expected a JSON object {experiment, reason}");
  return body as Record<string, unknown>;
}

/** The experiment in the body, checked by the resource schema. */
function experimentOf(body: Record<string, unknown>): FaultExperiment {
  if (body.experiment === undefined)
    throw new HttpError(400, "ERR_BAD_REQUEST", "experiment: expected a FaultExperiment resource");
  let parsed: ReturnType<typeof parseResources>;
  try {
    parsed = parseResources(JSON.stringify(body.experiment), "experiment");
  } catch (err) {
    if (err instanceof ConfigError) throw new HttpError(400, err.code, err.message);
    throw err;
  }
  const [r] = parsed;
  if (r === undefined || parsed.length !== 1 || r.kind !== "FaultExperiment")
    throw new HttpError(400, "ERR_BAD_REQUEST", "experiment: expected one resource of kind FaultExperiment");
  return r;
}

/**
 * The chaos API (docs/faults.md): start an experiment (its deadline stamped
 * here, from this node's wall clock, then held in the Raft state), list the
 * running ones, stop one or all. Every start and stop is logged with who
 * asked and why. Writes need the operator role once API tokens exist.
 */
export function chaosApi(options: { logger: Logger; wallNow?: () => number }): RouteModule {
  const wallNow = options.wallNow ?? Date.now;
  const log = options.logger.child({ subsystem: "chaos" });
  return (router, node) => {
    router.route("POST", "/v1/chaos/experiments", (req) => start(node, req, wallNow, log));
    router.route("GET", "/v1/chaos/experiments", (req) => list(node, req, wallNow));
    router.route("DELETE", "/v1/chaos/experiments", (req) => stop(node, req, undefined, log));
    router.route("DELETE", "/v1/chaos/experiments/{name}", (req) =>
      stop(node, req, decodeName(req.params.name ?? ""), log),
    );
  };
}

function decodeName(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, "ERR_BAD_REQUEST", "a path segment is not valid percent-encoding");
  }
}

async function start(node: ControlNode, req: HttpRequest, wallNow: () => number, log: Logger): Promise<HttpReply> {
  const body = parseJson(req);
  const parsed = experimentOf(body);
  const reason = reasonOf(body.reason);
  const by = who(req);
  const startedAt = wallNow();
  const durationMs = parseDuration(parsed.spec.duration) ?? 0;
  const experiment: FaultExperiment = {
    ...parsed,
    status: { deadline: startedAt + durationMs, startedAt, startedBy: by, ...(reason === undefined ? {} : { reason }) },
  };
  const command: ResourceCommand = { type: "mesh.resource.put", resource: experiment, ifRevision: 0, at: startedAt };
  let revision: number;
  try {
    ({ revision } = await node.propose(command as unknown as Command, { deadlineMs: req.remainingMs() }));
  } catch (err) {
    if (err instanceof MeshletError && err.code === "ERR_REVISION_MISMATCH")
      throw new HttpError(
        409,
        "ERR_EXISTS",
        `experiment ${parsed.metadata.name} is already running; stop it first (meshlet chaos stop ${parsed.metadata.name}) or pick another name`,
      );
    throw err;
  }
  const s = experiment.spec;
  log.info(
    {
      experiment: parsed.metadata.name,
      by,
      reason,
      kind: s.kind,
      service: s.target.service,
      side: s.side,
      percent: s.percent,
      duration: s.duration,
      deadline: new Date(experiment.status?.deadline ?? 0).toISOString(),
    },
    "chaos experiment started",
  );
  return { status: 201, body: { revision, experiment } };
}

async function list(node: ControlNode, req: HttpRequest, wallNow: () => number): Promise<HttpReply> {
  const consistency = req.query.get("consistency") === "stale" ? "stale" : "linearizable";
  const stored = await node.read((kv) => storedExperiments(kvView(kv)), {
    consistency,
    deadlineMs: req.remainingMs(),
  });
  const now = wallNow();
  const items = [...stored.values()]
    .map(({ experiment, revision }) => ({
      experiment,
      revision,
      remainingMs: Math.max(0, (experiment.status?.deadline ?? 0) - now),
    }))
    .sort((a, b) => (a.experiment.metadata.name < b.experiment.metadata.name ? -1 : 1));
  return { status: 200, body: { now, items } satisfies ExperimentListResponse };
}

async function stop(node: ControlNode, req: HttpRequest, name: string | undefined, log: Logger): Promise<HttpReply> {
  const reason = reasonOf(req.query.get("reason") ?? undefined);
  const by = who(req);
  let names: string[];
  if (name === undefined) {
    const stored = await node.read((kv) => storedExperiments(kvView(kv)), {
      consistency: "linearizable",
      deadlineMs: req.remainingMs(),
    });
    names = [...stored.keys()].sort();
    if (names.length === 0) return { status: 200, body: { stopped: [] } };
  } else names = [name];
  const command: FaultCommand = { type: "mesh.fault.stop", names };
  const { result } = await node.propose<{ removed: string[] }>(command as unknown as Command, {
    deadlineMs: req.remainingMs(),
  });
  if (name !== undefined && result.removed.length === 0)
    throw new HttpError(404, "ERR_NOT_FOUND", `experiment ${name} not found (it may have expired)`);
  for (const stopped of result.removed) log.info({ experiment: stopped, by, reason }, "chaos experiment stopped");
  return { status: 200, body: { stopped: result.removed } };
}
