import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isCanonicalResource } from "../config/canonical.ts";
import type { Resource } from "../config/resources.ts";
import { resourceSchemas } from "../config/schemas-on-demand.ts";
import type { ConfigSnapshot } from "./snapshot.ts";

/**
 * Where snapshots come from. The static file source loads on start and on
 * `reload()` (SIGHUP); the discovery stream will push them as they arrive.
 */
export interface ConfigSource {
  readonly name: string;
  /** Loads the current snapshot; throws a coded error when it cannot. */
  load(): Promise<ConfigSnapshot>;
}

const CACHE_FILE = "sidecar-snapshot.json";

/** The last good snapshot, kept in --data-dir so the sidecar can start without its source. */
export class SnapshotCache {
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
  }

  get path(): string {
    return join(this.#dir, CACHE_FILE);
  }

  async save(snap: ConfigSnapshot): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
    const tmp = `${this.path}.tmp`;
    await writeFile(
      tmp,
      JSON.stringify({ version: snap.version, source: snap.source, savedAt: Date.now(), resources: snap.resources }),
    );
    await rename(tmp, this.path);
  }

  /** The cached snapshot, re-validated; undefined when there is none or it is unreadable. */
  async load(): Promise<(ConfigSnapshot & { savedAt: number }) | undefined> {
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(this.path, "utf8"));
    } catch {
      return undefined;
    }
    if (raw === null || typeof raw !== "object") return undefined;
    const r = raw as { version?: unknown; savedAt?: unknown; resources?: unknown };
    if (typeof r.version !== "string" || !Array.isArray(r.resources)) return undefined;
    const resources: Resource[] = [];
    for (const item of r.resources) {
      if (isCanonicalResource(item)) {
        resources.push(item);
        continue;
      }
      const parsed = resourceSchemas().resourceSchema.safeParse(item);
      if (!parsed.success) return undefined;
      resources.push(parsed.data);
    }
    return {
      version: r.version,
      source: `cache:${this.path}`,
      resources,
      savedAt: typeof r.savedAt === "number" ? r.savedAt : 0,
    };
  }
}
