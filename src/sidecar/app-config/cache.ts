import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { invalidKeyReason } from "../../config/config-key.ts";
import type { StoredConfig } from "./store.ts";

const FILE = "sidecar-config.json";

/**
 * The app config kept in --data-dir, beside the snapshot cache, so a
 * sidecar that restarts while the control plane is unreachable still serves
 * its app the last values it had. Written by rename (never half a file), one
 * write at a time, the newest state last.
 */
export class ConfigCache {
  readonly #dir: string;
  #writing: Promise<void> = Promise.resolve();
  #next: StoredConfig | undefined;

  constructor(dir: string) {
    this.#dir = dir;
  }

  get path(): string {
    return join(this.#dir, FILE);
  }

  /** Queues a write of `state`; writes that have not started yet are replaced by it. A failed write rejects. */
  save(state: StoredConfig): Promise<void> {
    const pending = this.#next !== undefined;
    this.#next = state;
    if (!pending) {
      // A failed write is reported to its caller and does not stop the next ones.
      this.#writing = this.#writing
        .catch(() => {})
        .then(() => {
          const s = this.#next;
          this.#next = undefined;
          return s === undefined ? undefined : this.#write(s);
        });
    }
    return this.#writing;
  }

  async #write(s: StoredConfig): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
    const tmp = `${this.path}.tmp`;
    const entries = s.entries.map((e) => ({ ...e, value: e.value.toString("base64") }));
    await writeFile(tmp, JSON.stringify({ ...s, entries }));
    await rename(tmp, this.path);
  }

  /** The kept config, checked field by field; undefined when there is none or it is not what we wrote. */
  async load(): Promise<StoredConfig | undefined> {
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(this.path, "utf8"));
    } catch {
      return undefined;
    }
    const r = raw as Partial<Record<keyof StoredConfig, unknown>>;
    const strings = (x: unknown): x is string[] => Array.isArray(x) && x.every((k) => typeof k === "string");
    if (
      typeof r.revision !== "number" ||
      typeof r.confirmedAt !== "number" ||
      !strings(r.keys) ||
      !strings(r.prefixes) ||
      !Array.isArray(r.entries)
    )
      return undefined;
    const entries: StoredConfig["entries"] = [];
    for (const e of r.entries as Record<string, unknown>[]) {
      if (
        typeof e.key !== "string" ||
        invalidKeyReason(e.key) !== undefined ||
        typeof e.value !== "string" ||
        typeof e.revision !== "number" ||
        typeof e.release !== "string"
      )
        return undefined;
      entries.push({ key: e.key, value: Buffer.from(e.value, "base64"), revision: e.revision, release: e.release });
    }
    return { revision: r.revision, confirmedAt: r.confirmedAt, keys: r.keys, prefixes: r.prefixes, entries };
  }
}
