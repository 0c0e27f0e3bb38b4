import { openSync } from "node:fs";
import { type Logger, pino } from "pino";
import { errorMessage, MeshletError } from "./errors.ts";
import type { LogLevel } from "./log-levels.ts";

export type { Logger };

/**
 * One JSON logger per process, written to stderr so that commands which print
 * results (get, config get, status) keep stdout for their output.
 */
export function createLogger(level: LogLevel, bindings: Record<string, string> = {}): Logger {
  return pino({ level, base: { pid: process.pid, ...bindings } }, pino.destination({ fd: 2, sync: false }));
}

/** A logger that drops everything: for unit tests and pure modules under test. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}

/**
 * Where lines of the sidecar's access log go: stdout, or a file (appended
 * to); asynchronous writes, flushed at exit. The file is opened here, at
 * once: one that cannot be opened fails the start with its path and reason.
 */
export function createLineSink(file: string | undefined): { write(line: string): unknown; flushSync(): void } {
  let fd = 1;
  if (file !== undefined && file !== "") {
    try {
      fd = openSync(file, "a");
    } catch (err) {
      throw new MeshletError("ERR_ACCESS_LOG", `--access-log-file: cannot open ${file}: ${errorMessage(err)}`, {
        cause: err,
      });
    }
  }
  return pino.destination({ dest: fd, sync: false });
}
