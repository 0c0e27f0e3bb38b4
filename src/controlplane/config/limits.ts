import { UsageError } from "../../common/errors.ts";
import { DEFAULT_MAX_VALUE_BYTES, MAX_VALUE_BYTES_CEILING } from "../../config/config-key.ts";

/**
 * The largest config value this process accepts (`meshlet control
 * --max-value-size`). Checked where a value enters the node (HTTP bodies,
 * ConfigRelease values), never in a state-machine handler: nodes may be
 * started with different limits and must still apply the same log alike.
 * One control-plane node per process, so one setting per process.
 */
let limit = DEFAULT_MAX_VALUE_BYTES;

export function maxValueBytes(): number {
  return limit;
}

export function setMaxValueBytes(bytes: number): void {
  if (!Number.isInteger(bytes) || bytes < 1 || bytes > MAX_VALUE_BYTES_CEILING)
    throw new UsageError(`--max-value-size: expected 1 to ${MAX_VALUE_BYTES_CEILING} bytes, got ${bytes}`);
  limit = bytes;
}
