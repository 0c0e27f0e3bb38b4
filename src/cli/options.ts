import { type Command, Option } from "commander";
import { UsageError } from "../common/errors.ts";
import { isLogLevel, LOG_LEVELS, type LogLevel } from "../common/log-levels.ts";
import { parseDuration } from "../config/duration.ts";

/** `--app-port` -> `MESHLET_APP_PORT`: every flag can also come from the environment. */
export function envName(flag: string): string {
  const long = /--([a-z0-9-]+)/.exec(flag)?.[1];
  if (long === undefined) throw new Error(`flag without a long name: ${flag}`);
  return `MESHLET_${long.replaceAll("-", "_").toUpperCase()}`;
}

/** An option that mirrors its flag in a MESHLET_* environment variable. */
export function envOption(flags: string, description: string, defaultValue?: string): Option {
  const option = new Option(flags, description).env(envName(flags));
  return defaultValue === undefined ? option : option.default(defaultValue);
}

export function logLevelOption(): Option {
  return envOption("--log-level <level>", `log level (${LOG_LEVELS.join(", ")})`, "info").argParser(
    (value: string): LogLevel => {
      if (!isLogLevel(value))
        throw new UsageError(`--log-level: expected one of ${LOG_LEVELS.join(", ")}, got "${value}"`);
      return value;
    },
  );
}

/** The control plane's API serves TLS by default (`meshlet control --insecure` is the exception). */
export const DEFAULT_SERVER = "https://127.0.0.1:15014";

/** A bare HOST:PORT is https; http:// is kept for a control plane started with --insecure. */
export function serverUrl(value: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `https://${value}`;
}

export function serverOption(): Option {
  return envOption("--server <url>", "control-plane HTTPS address (http:// for --insecure)", DEFAULT_SERVER).argParser(
    serverUrl,
  );
}

export function parsePositiveInt(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag}: expected a positive integer, got "${value}"`);
    return n;
  };
}

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
};

/** A size flag: `1048576`, `512KiB`, `2MiB` (binary units, as Kubernetes' Ki/Mi), as bytes > 0. */
export function byteSizeFlag(flag: string) {
  return (value: string): number => {
    const m = /^(\d+)\s*([a-z]*)$/i.exec(value.trim());
    const unit = SIZE_UNITS[(m?.[2] ?? "").toLowerCase()];
    const bytes = m === null || unit === undefined ? 0 : Number(m[1]) * unit;
    if (!Number.isSafeInteger(bytes) || bytes <= 0)
      throw new UsageError(`${flag}: expected a size like 1048576, 512KiB or 2MiB, got "${value}"`);
    return bytes;
  };
}

/** A duration flag in Go syntax ("1m30s", "1.5s", "500us") as milliseconds; "0" only where zero means "off". */
export function durationFlag(flag: string, value: string, allowZero = false): number {
  const ms = parseDuration(value);
  if (ms === undefined) throw new UsageError(`${flag}: expected a duration like 1m30s, 1.5s or 500ms, got "${value}"`);
  if (ms === 0 && !allowZero) throw new UsageError(`${flag}: expected a duration greater than zero, got "${value}"`);
  return ms;
}

/** --token: the control plane's bearer token (meshlet token create); every command takes it. */
export function tokenOption(): Option {
  return envOption("--token <token>", "bearer token for the control plane (see meshlet token create)");
}

/** --ca-file: the mesh CA that signed the control plane's certificate (<data-dir>/ca.pem of a node). */
export function caFileOption(): Option {
  return envOption("--ca-file <file>", "CA certificate to trust for the control plane (PEM, e.g. <data-dir>/ca.pem)");
}

/**
 * The log level of a command that declares its own --log-level beside the program's: its own, unless only the
 * program-level one was given (commander hands a flag after the subcommand's name to the program's option of
 * the same name, leaving the command's at its default).
 */
export function commandLogLevel(cmd: Command): LogLevel {
  const own = cmd.getOptionValueSource("logLevel");
  const parent = cmd.parent;
  if ((own === "default" || own === undefined) && parent !== null) {
    const global = parent.getOptionValueSource("logLevel");
    if (global !== "default" && global !== undefined) return parent.opts<{ logLevel: LogLevel }>().logLevel;
  }
  return cmd.opts<{ logLevel: LogLevel }>().logLevel;
}
