import { MeshletError } from "../../common/errors.ts";
import type { Endpoint__Output } from "../../gen/meshlet/discovery/v1/Endpoint.ts";
import type { ConfigSource } from "../config-source.ts";
import type { ConfigSnapshot } from "../snapshot.ts";
import { type DiscoveryClientOptions, DiscoveryStreamClient, type MeshSnapshot } from "./client.ts";

/** A pushed snapshot in the sidecar's terms, with the endpoints the control plane knows. */
export interface DiscoveredSnapshot extends ConfigSnapshot {
  endpoints: Endpoint__Output[];
}

export interface DiscoverySourceOptions extends Omit<DiscoveryClientOptions, "apply"> {
  /**
   * Compiles and swaps in a pushed snapshot. Throwing (e.g. SnapshotRejectedError)
   * NACKs it with the error's message and keeps the running config.
   */
  accept: (snapshot: DiscoveredSnapshot) => void;
}

export class NoSnapshotYetError extends MeshletError {
  constructor(ms: number) {
    super("ERR_NO_SNAPSHOT", `no snapshot from the control plane within ${ms} ms`);
    this.name = "NoSnapshotYetError";
  }
}

/**
 * The discovery stream as a ConfigSource: snapshots are pushed to `accept`
 * as they arrive; load() returns the last accepted one (waiting for the first
 * up to a deadline), for code that pulls, such as startup and /config_dump.
 */
export class DiscoverySource implements ConfigSource {
  readonly name: string;
  readonly #client: DiscoveryStreamClient;
  #latest: DiscoveredSnapshot | undefined;
  #waiters: ((s: DiscoveredSnapshot) => void)[] = [];

  constructor(options: DiscoverySourceOptions) {
    this.name = `control:${options.controls.join(",")}`;
    const { accept, ...clientOptions } = options;
    this.#client = new DiscoveryStreamClient({
      ...clientOptions,
      apply: (s: MeshSnapshot) => {
        const snapshot: DiscoveredSnapshot = {
          version: String(s.version),
          source: `control:${this.#client.connectedTo ?? "?"}`,
          resources: s.resources,
          endpoints: s.endpoints,
        };
        accept(snapshot);
        this.#latest = snapshot;
        const waiters = this.#waiters;
        this.#waiters = [];
        for (const w of waiters) w(snapshot);
      },
    });
  }

  start(): void {
    this.#client.start();
  }

  /** Graceful drain: deregisters the instance at once, then closes the stream. */
  stop(): void {
    this.#client.stop();
  }

  load(timeoutMs = 10_000): Promise<ConfigSnapshot> {
    if (this.#latest !== undefined) return Promise.resolve(this.#latest);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new NoSnapshotYetError(timeoutMs));
      }, timeoutMs);
      const waiter = (s: DiscoveredSnapshot) => {
        clearTimeout(timer);
        resolve(s);
      };
      this.#waiters.push(waiter);
    });
  }
}
