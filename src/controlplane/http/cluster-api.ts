import { HttpError } from "../../common/errors.ts";
import type { RaftControlNode } from "../raft-control-node.ts";
import { type HttpRequest, json, jsonBody, type RouteModule } from "./router.ts";

const ID = /^[A-Za-z0-9._-]{1,64}$/;
const ADDRESS = /^[A-Za-z0-9.-]+:\d{1,5}$/;

function field(body: unknown, name: string): unknown {
  if (body === null || typeof body !== "object" || Array.isArray(body))
    throw new HttpError(400, "ERR_BAD_REQUEST", "body must be a JSON object");
  return (body as Record<string, unknown>)[name];
}

function memberId(value: unknown, what = "id"): string {
  if (typeof value !== "string" || !ID.test(value))
    throw new HttpError(400, "ERR_BAD_REQUEST", `${what}: expected 1-64 characters of [A-Za-z0-9._-]`);
  return value;
}

function pathId(req: HttpRequest): string {
  let id: string;
  try {
    id = decodeURIComponent(req.params.id ?? "");
  } catch {
    throw new HttpError(400, "ERR_BAD_REQUEST", "member id is not valid percent-encoding");
  }
  return memberId(id, "member id");
}

/** GET /v1/cluster and the membership/leadership operations of DESIGN.md. */
export function clusterApi(node: RaftControlNode, clusterId: string, tickMs: number): RouteModule {
  // The leader sends a heartbeat every tick: a follower that missed a few no longer knows its leader is alive.
  const staleAfterMs = Math.max(3 * tickMs, 300);
  return (router) => {
    router.route("GET", "/v1/cluster", () => {
      const leader = node.leader();
      const leaderContactMs = node.leaderContactTicks() * tickMs;
      const status = {
        id: node.id,
        leader,
        term: node.term,
        // Answered from this node's view, never by asking the others: a follower may name a leader that died.
        leaderContactMs,
        stale: leader === "" || leaderContactMs > staleAfterMs,
      };
      const raft = node.raftStatus();
      const storage = node.storageHealth();
      return json(200, {
        ...status,
        clusterId,
        commitIndex: raft.commit,
        appliedIndex: raft.applied,
        members: node.members(),
        health: storage.ok ? "ok" : "degraded",
        storage: storage.ok
          ? { writable: true }
          : {
              writable: false,
              code: storage.code,
              error: storage.message,
              since: new Date(storage.since).toISOString(),
              probes: storage.probes,
              nextProbeInMs: Math.max(0, storage.nextProbeAt - Date.now()),
            },
      });
    });
    router.route("POST", "/v1/cluster/members", async (req) => {
      const body = jsonBody(req);
      const id = memberId(field(body, "id"));
      const address = field(body, "address");
      if (typeof address !== "string" || !ADDRESS.test(address))
        throw new HttpError(400, "ERR_BAD_REQUEST", "address: expected host:port");
      const learner = field(body, "learner") ?? false;
      if (typeof learner !== "boolean") throw new HttpError(400, "ERR_BAD_REQUEST", "learner: expected a boolean");
      const { revision } = await node.addMember(id, address, learner, req.remainingMs());
      return json(200, { id, address, role: learner ? "learner" : "voter", revision });
    });
    router.route("POST", "/v1/cluster/members/{id}/promote", async (req) => {
      const id = pathId(req);
      const { revision } = await node.promote(id, req.remainingMs());
      return json(200, { id, role: "voter", revision });
    });
    router.route("DELETE", "/v1/cluster/members/{id}", async (req) => {
      const id = pathId(req);
      const { revision } = await node.removeMember(id, req.remainingMs());
      return json(200, { id, removed: true, revision });
    });
    router.route("POST", "/v1/cluster/leader", async (req) => {
      const id = memberId(field(jsonBody(req), "id"));
      await node.transferLeader(id, req.remainingMs());
      return json(200, { leader: id });
    });
  };
}
