import { format } from "node:util";
import { setLogger } from "@grpc/grpc-js";
import type { Logger } from "./logger.ts";

/**
 * grpc-js writes its own error lines to stderr ("E No address added ..."), next to the one meshlet logs for the
 * same failure: its lines go to the process's logger at debug level instead, so each error is reported once.
 */
export function routeGrpcLogs(logger: Logger): void {
  setLogger({ error: (...args: unknown[]) => logger.debug({ grpc: format(...args) }, "grpc-js") });
}
