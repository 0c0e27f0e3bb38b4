import { MeshletError } from "../../common/errors.ts";
import type { Command, StateMachine } from "../state/machine.ts";
import { storedFromBytes } from "../state/value.ts";

/** App-config keys live under this prefix in the KV. */
export const CONFIG_PREFIX = "config/";
export const MAX_VALUE_BYTES = 1024 * 1024;
const KEY = /^[A-Za-z0-9._/-]{1,256}$/;

/** Why `key` is not a valid config key, or undefined when it is. */
export function invalidKeyReason(key: string): string | undefined {
  if (key.length === 0 || key.length > 256) return `key must be 1-256 characters, got ${key.length}`;
  if (!KEY.test(key)) return "key may contain only A-Z a-z 0-9 . _ / -";
  return undefined;
}

/** A compare-and-set failed; `current` is the key's revision (0 = absent). */
export class ConfigRevisionError extends MeshletError {
  readonly current: number;
  constructor(key: string, expected: number, current: number) {
    super("ERR_REVISION_MISMATCH", `config/${key} is at revision ${current}, not ${expected}`);
    this.name = "ConfigRevisionError";
    this.current = current;
  }
}

export class ConfigNotFoundError extends MeshletError {
  constructor(key: string) {
    super("ERR_NOT_FOUND", `config key "${key}" not found`);
    this.name = "ConfigNotFoundError";
  }
}

/** `value` is base64 so any bytes survive the JSON entry; `ifRevision` 0 = only if absent. */
export interface ConfigPut extends Command {
  type: "config.put";
  key: string;
  value: string;
  ifRevision?: number;
}

export interface ConfigDelete extends Command {
  type: "config.delete";
  key: string;
  ifRevision?: number;
}

export function registerConfigCommands(sm: StateMachine): void {
  sm.register("config.put", (command, { kv }) => {
    const c = command as ConfigPut;
    const k = CONFIG_PREFIX + c.key;
    const current = kv.get(k)?.revision ?? 0;
    if (c.ifRevision !== undefined && c.ifRevision !== current)
      throw new ConfigRevisionError(c.key, c.ifRevision, current);
    kv.put(k, storedFromBytes(Buffer.from(c.value, "base64")));
    return undefined;
  });
  sm.register("config.delete", (command, { kv }) => {
    const c = command as ConfigDelete;
    const k = CONFIG_PREFIX + c.key;
    const current = kv.get(k)?.revision;
    if (current === undefined) throw new ConfigNotFoundError(c.key);
    if (c.ifRevision !== undefined && c.ifRevision !== current)
      throw new ConfigRevisionError(c.key, c.ifRevision, current);
    kv.delete(k);
    return undefined;
  });
}
