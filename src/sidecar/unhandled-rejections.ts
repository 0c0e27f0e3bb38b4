import type { EventEmitter } from "node:events";
import { errorMessage } from "../common/errors.ts";
import type { Logger } from "../common/logger.ts";
import { METRIC_PREFIX } from "../common/metrics.ts";
import { Counter, type Registry } from "../common/prom.ts";

/** Distinct messages logged; past this many, rejections are only counted. */
const MAX_LOGGED = 100;

/**
 * Keeps the data path up when a promise rejects with nobody listening (a
 * client library's, such as a Redis command cut off when Redis goes away):
 * Node would end the process, and every request in flight with it. Each
 * rejection is counted; each distinct message is logged once, with its stack.
 */
export function survivesUnhandledRejections(logger: Logger, registry: Registry, proc: EventEmitter = process): void {
  const count = new Counter({
    name: `${METRIC_PREFIX}sidecar_unhandled_rejections_total`,
    help: "Promises rejected with no handler; the sidecar logged them and kept serving",
    registers: [registry],
  });
  const logged = new Set<string>();
  proc.on("unhandledRejection", (reason: unknown) => {
    count.inc();
    const message = errorMessage(reason);
    if (logged.has(message) || logged.size >= MAX_LOGGED) return;
    logged.add(message);
    logger.error(
      { err: message, stack: reason instanceof Error ? reason.stack : undefined },
      "a promise rejected with no handler; still serving",
    );
  });
}
