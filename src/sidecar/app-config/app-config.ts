import { type Clock, systemClock } from "../../common/clock.ts";
import { errorMessage } from "../../common/errors.ts";
import type { Logger } from "../../common/logger.ts";
import { METRIC_PREFIX } from "../../common/metrics.ts";
import { Counter, Gauge, type Registry } from "../../common/prom.ts";
import type { ConfigUpdate__Output } from "../../gen/meshlet/discovery/v1/ConfigUpdate.ts";
import { AppConfigApi } from "./admin.ts";
import { ConfigCache } from "./cache.ts";
import { ConfigFiles } from "./files.ts";
import { AppConfigStore } from "./store.ts";

export interface AppConfigOptions {
  service: string;
  /** False without a control plane: nothing is served but a 404 that says why. */
  enabled: boolean;
  /** --data-dir: keeps the last values for a restart without the control plane. */
  dataDir: string | undefined;
  /** --config-dir: each key also as a file, for apps that read files. */
  configDir: string | undefined;
  logger: Logger;
  registry: Registry;
  clock?: Clock;
}

/**
 * A sidecar's share of the config center: the values its app reads (store),
 * served on the admin port (api), kept in --data-dir (cache) and, when
 * asked, written as files (files). Fed by the discovery stream.
 */
export class AppConfig {
  readonly api: AppConfigApi;
  readonly #store: AppConfigStore | undefined;
  readonly #cache: ConfigCache | undefined;
  readonly #files: ConfigFiles | undefined;
  readonly #log: Logger;
  readonly #updates: Counter;
  readonly #diskFailures: Counter;
  #saving: Promise<void> = Promise.resolve();

  constructor(o: AppConfigOptions) {
    this.#log = o.logger.child({ subsystem: "app-config" });
    this.#store = o.enabled ? new AppConfigStore(o.clock ?? systemClock) : undefined;
    this.api = new AppConfigApi(this.#store, {
      service: o.service,
      ...(o.clock === undefined ? {} : { clock: o.clock }),
    });
    this.#cache = this.#store !== undefined && o.dataDir !== undefined ? new ConfigCache(o.dataDir) : undefined;
    this.#files =
      this.#store !== undefined && o.configDir !== undefined ? new ConfigFiles(o.configDir, this.#log) : undefined;
    const registers = [o.registry];
    const store = this.#store;
    const api = this.api;
    this.#updates = new Counter({
      name: `${METRIC_PREFIX}sidecar_app_config_updates_total`,
      help: "Config updates from the control plane that changed what the app reads",
      registers,
    });
    this.#diskFailures = new Counter({
      name: `${METRIC_PREFIX}sidecar_app_config_disk_failures_total`,
      help: "Failed writes of the app's config to --data-dir or --config-dir",
      registers,
    });
    // Read when scraped: nothing to keep up to date on the way.
    new Gauge({
      name: `${METRIC_PREFIX}sidecar_app_config_keys`,
      help: "Config keys the sidecar holds for its app",
      registers,
      collect() {
        this.set(store?.entries().length ?? 0);
      },
    });
    new Gauge({
      name: `${METRIC_PREFIX}sidecar_app_config_stale_seconds`,
      help: "Seconds since the app's config was last known current; 0 while the control plane's stream is up",
      registers,
      collect() {
        this.set(store?.staleSeconds() ?? 0);
      },
    });
    new Gauge({
      name: `${METRIC_PREFIX}sidecar_app_config_watchers`,
      help: "App requests held open on the admin port: ?wait long polls and ?watch streams",
      registers,
      collect() {
        this.set(api.open);
      },
    });
  }

  /** The values kept by a previous run, until the control plane sends current ones. */
  async load(): Promise<void> {
    const store = this.#store;
    const stored = await this.#cache?.load();
    if (store === undefined || stored === undefined) return;
    store.restore(stored);
    this.#log.warn(
      {
        revision: stored.revision,
        keys: stored.entries.length,
        confirmedAt: new Date(stored.confirmedAt).toISOString(),
      },
      "serving app config kept from a previous run until the control plane is reached",
    );
    await this.#files?.sync(store);
  }

  /** What the discovery client needs: the revision held, where updates go, and the stream's state. */
  discovery():
    | {
        config: { revision: () => number; apply: (u: ConfigUpdate__Output) => void };
        onConnection: (up: boolean) => void;
      }
    | undefined {
    const store = this.#store;
    if (store === undefined) return undefined;
    return {
      config: {
        revision: () => store.revision,
        apply: (u) => {
          if (u.reset)
            this.#log.warn(
              { held: store.revision, revision: u.revision },
              "the control plane's history does not reach the config this sidecar held (its data was replaced): starting over",
            );
          const changes = store.apply(u);
          if (changes.length > 0) {
            this.#updates.inc();
            this.#log.info({ revision: u.revision, changed: changes.map((c) => c.key) }, "app config updated");
            this.#persist();
          }
        },
      },
      onConnection: (up) => {
        store.setConnected(up);
        // From now on the values are as old as this moment: keep it for a restart without the control plane.
        if (!up) this.#persist();
      },
    };
  }

  /** Ends the app's open waits and streams, keeps the config one last time, and lets the writes finish. */
  async stop(): Promise<void> {
    this.api.close();
    // Current until now: a restart without the control plane counts its staleness from here.
    if (this.#store?.loaded === true) this.#persist();
    await this.#saving;
  }

  #persist(): void {
    const store = this.#store;
    if (store === undefined) return;
    const cache = this.#cache;
    const files = this.#files;
    const state = store.toStored();
    this.#saving = this.#saving
      .then(() => Promise.all([cache?.save(state), files?.sync(store)]))
      .then(
        () => {},
        (err: unknown) => {
          this.#diskFailures.inc();
          this.#log.warn({ err: errorMessage(err) }, "keeping the app config on disk failed");
        },
      );
  }
}
