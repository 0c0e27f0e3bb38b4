import { HttpError } from "../../common/errors.ts";

/**
 * The config center's refusals. Each carries its HTTP status with its code,
 * because most of them are decided by a state-machine handler on every node
 * and reach the proposer as the entry's error, far from any HTTP route.
 */
export class ConfigCenterError extends HttpError {
  constructor(status: number, code: string, message: string) {
    super(status, code, message);
    this.name = "ConfigCenterError";
  }
}

/** A release for a key that has no base value: there would be nothing to roll back to. */
export function keyMissing(key: string): ConfigCenterError {
  return new ConfigCenterError(
    404,
    "ERR_NOT_FOUND",
    `config key "${key}" does not exist; a release needs a base value (meshlet config put ${key} VALUE)`,
  );
}

export function releaseExists(key: string, existing: string, name: string): ConfigCenterError {
  return new ConfigCenterError(
    409,
    "ERR_RELEASE_EXISTS",
    `config key "${key}" already has release "${existing}"; promote or roll it back before releasing "${name}"`,
  );
}

export function noRelease(key: string): ConfigCenterError {
  return new ConfigCenterError(404, "ERR_NO_RELEASE", `config key "${key}" has no release`);
}

export function releaseActive(key: string, name: string, what: string): ConfigCenterError {
  return new ConfigCenterError(
    409,
    "ERR_RELEASE_ACTIVE",
    `config key "${key}" has release "${name}"; promote or roll it back before you ${what}`,
  );
}

/** The history the request needs is gone: an etcd client would re-read and start over from the given revision. */
export class HistoryCompactedError extends ConfigCenterError {
  readonly compactedRevision: number;
  constructor(message: string, compactedRevision: number) {
    super(410, "ERR_COMPACTED", message);
    this.name = "HistoryCompactedError";
    this.compactedRevision = compactedRevision;
  }
}
