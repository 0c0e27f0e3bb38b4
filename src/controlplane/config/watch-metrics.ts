import { METRIC_PREFIX } from "../../common/metrics.ts";
import { Counter, Gauge, type Registry } from "../../common/prom.ts";

/** The config center's watch metrics of one node. */
export class WatchMetrics {
  readonly open: Gauge<"transport">;
  readonly ended: Counter<"code">;
  readonly refused: Counter<"code">;

  constructor(registry: Registry) {
    const registers = [registry];
    this.open = new Gauge({
      name: `${METRIC_PREFIX}config_watches`,
      help: "Config watches streaming from this node, by transport (sse, grpc)",
      labelNames: ["transport"],
      registers,
    });
    this.ended = new Counter({
      name: `${METRIC_PREFIX}config_watches_ended_total`,
      help: "Config watches ended, by why: client (it left), ERR_WATCH_SLOW (cut), ERR_COMPACTED (a snapshot replaced the state)",
      labelNames: ["code"],
      registers,
    });
    this.refused = new Counter({
      name: `${METRIC_PREFIX}config_watches_refused_total`,
      help: "Config watches refused before they started, by error code",
      labelNames: ["code"],
      registers,
    });
  }
}

/** Which node's metrics a watch counts in: route modules and gRPC handlers get the node, not its registry. */
const byNode = new WeakMap<object, WatchMetrics>();

export function attachWatchMetrics(node: object, registry: Registry): void {
  byNode.set(node, new WatchMetrics(registry));
}

export function watchMetricsOf(node: object): WatchMetrics | undefined {
  return byNode.get(node);
}
