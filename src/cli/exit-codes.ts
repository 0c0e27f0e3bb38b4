import { errorCode } from "../common/errors.ts";

/**
 * The exit codes every `meshlet` subcommand keeps, for scripts: a usage error
 * is never confused with a failed operation, and "the server is not there"
 * (retry later, check the address) with either.
 */
export const EXIT = {
  OK: 0,
  /** The operation was tried and failed (refused, not found, a check that failed). */
  FAILED: 1,
  /** Bad flags or arguments: nothing was tried. */
  USAGE: 2,
  /** The control plane or sidecar admin API could not be reached. */
  UNREACHABLE: 3,
} as const;

const BY_CODE: Record<string, number> = {
  ERR_USAGE: EXIT.USAGE,
  ERR_UNREACHABLE: EXIT.UNREACHABLE,
};

export function exitCodeFor(err: unknown): number {
  return BY_CODE[errorCode(err)] ?? EXIT.FAILED;
}
