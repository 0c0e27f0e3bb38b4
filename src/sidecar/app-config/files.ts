import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { errorMessage } from "../../common/errors.ts";
import type { Logger } from "../../common/logger.ts";
import type { AppConfigStore } from "./store.ts";

/** The files this sidecar wrote, so a restart removes those of keys that went away meanwhile. */
const MANIFEST = "meshlet@manifest.json";
/** `@` cannot occur in a key, so neither the manifest nor a temporary file ever has a key's name. */
const TMP = "@meshlet-tmp";

/** Why a key cannot be a path under the directory (`..` would leave it), or undefined. */
export function unsafePath(key: string): string | undefined {
  const parts = key.split("/");
  if (parts.some((p) => p === "" || p === "." || p === "..")) return "has an empty, . or .. path segment";
  return undefined;
}

/**
 * --config-dir: every key the app has, as a file named like the key (`/`
 * makes directories), for apps that read files rather than call the admin
 * port. Each file is replaced by a rename, so a reader sees the old value or
 * the new one, never half of one (as kubelet does for ConfigMap volumes,
 * per file). A key that cannot be a path, or whose path collides with a
 * directory another key needs, is skipped and logged.
 */
export class ConfigFiles {
  readonly #dir: string;
  readonly #log: Logger;
  /** key → revision written; undefined until the manifest of a previous run was read. */
  #written: Map<string, number> | undefined;
  #chain: Promise<void> = Promise.resolve();

  constructor(dir: string, log: Logger) {
    this.#dir = dir;
    this.#log = log;
  }

  /** Brings the directory to the store's current state (serialized: calls never overlap). */
  sync(store: AppConfigStore): Promise<void> {
    this.#chain = this.#chain.catch(() => {}).then(() => this.#sync(store));
    return this.#chain;
  }

  async #sync(store: AppConfigStore): Promise<void> {
    const written = this.#written ?? (await this.#manifest());
    this.#written = written;
    const want = new Map(store.entries());
    for (const [key, e] of want) {
      if (written.get(key) === e.revision) continue;
      const unsafe = unsafePath(key);
      if (unsafe !== undefined) {
        this.#log.warn({ key, reason: unsafe }, "config key not written to --config-dir");
        continue;
      }
      const path = join(this.#dir, key);
      const tmp = join(dirname(path), `.${key.slice(key.lastIndexOf("/") + 1)}${TMP}`);
      try {
        await mkdir(dirname(path), { recursive: true });
        await writeFile(tmp, e.value);
        await rename(tmp, path);
        written.set(key, e.revision);
      } catch (err) {
        await rm(tmp, { force: true }).catch(() => {});
        this.#log.warn({ key, err: errorMessage(err) }, "config key not written to --config-dir");
      }
    }
    for (const key of [...written.keys()]) {
      if (want.has(key)) continue;
      await rm(join(this.#dir, key), { force: true });
      written.delete(key);
    }
    await mkdir(this.#dir, { recursive: true });
    await writeFile(join(this.#dir, `${MANIFEST}${TMP}`), JSON.stringify([...written.keys()]));
    await rename(join(this.#dir, `${MANIFEST}${TMP}`), join(this.#dir, MANIFEST));
  }

  /** The keys a previous run wrote: listed as written at revision -1, so they are rewritten or removed. */
  async #manifest(): Promise<Map<string, number>> {
    try {
      const keys = JSON.parse(await readFile(join(this.#dir, MANIFEST), "utf8")) as unknown;
      if (Array.isArray(keys))
        return new Map(
          keys.filter((k): k is string => typeof k === "string" && unsafePath(k) === undefined).map((k) => [k, -1]),
        );
    } catch {
      // No manifest: nothing of ours to clean up.
    }
    return new Map();
  }
}
