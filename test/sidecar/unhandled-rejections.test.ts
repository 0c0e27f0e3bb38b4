import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { test } from "node:test";
import { Registry } from "prom-client";
import { type Logger, silentLogger } from "../../src/common/logger.ts";
import { survivesUnhandledRejections } from "../../src/sidecar/unhandled-rejections.ts";

test("an unhandled rejection is counted every time and logged once per message, and nothing throws", async () => {
  const registry = new Registry();
  const logged: unknown[] = [];
  const logger: Logger = Object.assign(silentLogger(), {
    error: (obj: unknown) => {
      logged.push(obj);
    },
  }) as Logger;
  const proc = new EventEmitter();
  survivesUnhandledRejections(logger, registry, proc);
  proc.emit("unhandledRejection", new Error("Connection is closed."));
  proc.emit("unhandledRejection", new Error("Connection is closed."));
  proc.emit("unhandledRejection", "a bare string");
  const metrics = await registry.metrics();
  assert.match(metrics, /meshlet_sidecar_unhandled_rejections_total 3/);
  assert.deepEqual(
    logged.map((l) => (l as { err: string }).err),
    ["Connection is closed.", "a bare string"],
  );
  assert.match((logged[0] as { stack: string }).stack, /Connection is closed\./);
});
