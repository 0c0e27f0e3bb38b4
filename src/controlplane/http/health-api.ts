import type { RaftControlNode } from "../raft-control-node.ts";
import { json, RETRY_AFTER_S, type RouteModule } from "./router.ts";

/**
 * Probes for Kubernetes, as etcd's /health and the API server's /livez and /readyz: GET /healthz answers 200
 * while the process serves HTTP (a liveness probe: restarting would not bring a leader or a disk back);
 * GET /readyz answers 200 only when this node knows a leader and its storage is writable, 503 with the
 * reason otherwise, so a Service sends clients only to nodes that can serve them.
 */
export function healthApi(node: RaftControlNode): RouteModule {
  return (router) => {
    router.route("GET", "/healthz", () => json(200, { status: "ok", node: node.id }));
    router.route("GET", "/readyz", () => {
      const leader = node.leader();
      const storage = node.storageHealth();
      const reasons: string[] = [];
      if (leader === "") reasons.push("no leader is known");
      if (!storage.ok) reasons.push(`storage is not writable (${storage.code})`);
      if (reasons.length === 0) return json(200, { status: "ready", node: node.id, leader });
      return json(503, { status: "not ready", node: node.id, reasons }, { "retry-after": String(RETRY_AFTER_S) });
    });
  };
}
