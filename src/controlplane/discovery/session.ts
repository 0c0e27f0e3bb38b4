import type { ConfigUpdate } from "../../gen/meshlet/discovery/v1/ConfigUpdate.ts";
import type { ConfigDelivery } from "./config-delivery.ts";
import type { PushQueue } from "./push-queue.ts";
import type { ScopeRequest } from "./scope.ts";
import type { ScopedSnapshot } from "./snapshot.ts";

export const DEFAULT_DEBOUNCE_MS = 50;

export interface SessionInfo {
  id: string;
  service: string;
  instance: string;
  lastPushedVersion: number;
  lastAckedVersion: number;
  /** The sidecar's refusal of the latest version it was sent, until it ACKs one: the current state, not history. */
  lastNack: { version: number; error: string } | undefined;
}

export interface SessionDeps {
  /** The node's push queue: coalesces changes within its debounce window. */
  queue: PushQueue;
  /** The sidecar's scoped view of the node's current applied state. */
  current: (request: ScopeRequest) => ScopedSnapshot;
  /** Sends `scoped` with this stream's nonce; `scoped` is shared by every stream with the same scope. */
  send: (scoped: ScopedSnapshot, nonce: string) => void;
  /** The stream's app config, sent apart from snapshots (config-delivery.ts); none without a config center. */
  config?: { delivery: ConfigDelivery; send: (update: ConfigUpdate) => void };
  /** `consecutive` counts NACKs since the last ACK, so callers can flag a sidecar stuck rejecting. */
  onNack?: (info: SessionInfo, consecutive: number) => void;
}

/**
 * One sidecar's stream, without the transport. Changes are coalesced: a
 * change queues the session on the node's PushQueue, whose debounce window is
 * shared by all streams, and the push sends whatever state is current when it
 * comes, so a burst of writes becomes one snapshot. Versions only go forward
 * (a push never sends a version at or below the last one sent), and content
 * already sent (ACKed or NACKed) is never sent again: after a NACK the next
 * push happens only when what this sidecar would see changes, so a rejected
 * snapshot cannot loop.
 */
export class SidecarSession {
  readonly info: SessionInfo;
  readonly #request: ScopeRequest;
  readonly #deps: SessionDeps;
  #lastDigest: string | undefined;
  #consecutiveNacks = 0;
  #pendingNonce: string | undefined;
  #nonceCounter = 0;
  #closed = false;

  constructor(
    identity: { id: string; service: string; instance: string; lastVersion: number },
    request: ScopeRequest,
    deps: SessionDeps,
  ) {
    this.info = {
      id: identity.id,
      service: identity.service,
      instance: identity.instance,
      lastPushedVersion: 0,
      lastAckedVersion: identity.lastVersion,
      lastNack: undefined,
    };
    this.#request = request;
    this.#deps = deps;
  }

  /** First snapshot, at once: a connecting sidecar should not wait a debounce window. */
  start(): void {
    this.flush();
  }

  /** The node applied new state; push within the debounce window. */
  changed(): void {
    if (!this.#closed) this.#deps.queue.schedule(this);
  }

  /** An ACK of the version last sent: whatever the sidecar refused before, it now runs this one whole. */
  ack(version: number, nonce: string): void {
    if (nonce !== this.#pendingNonce) return;
    this.info.lastAckedVersion = Math.max(this.info.lastAckedVersion, version);
    if (this.info.lastNack !== undefined && this.info.lastNack.version <= version) this.info.lastNack = undefined;
    this.#consecutiveNacks = 0;
  }

  nack(version: number, nonce: string, error: string): void {
    if (nonce !== this.#pendingNonce) return;
    this.#consecutiveNacks++;
    this.info.lastNack = { version, error };
    this.#deps.onNack?.(this.info, this.#consecutiveNacks);
  }

  close(): void {
    this.#closed = true;
    this.#deps.queue.remove(this);
  }

  /** What this stream's sidecar was sent of its app config, and acknowledged. */
  get config(): ConfigDelivery | undefined {
    return this.#deps.config?.delivery;
  }

  configAck(revision: number): void {
    this.#deps.config?.delivery.ack(revision);
  }

  /** Sends what the sidecar should see now (its snapshot, its app config), unless that was sent already. */
  flush(): void {
    if (this.#closed) return;
    this.#pushSnapshot();
    const config = this.#deps.config;
    const update = config?.delivery.next();
    if (update !== undefined) config?.send(update);
  }

  #pushSnapshot(): void {
    const scoped = this.#deps.current(this.#request);
    const { snapshot, digest } = scoped;
    const version = Number(snapshot.version);
    if (version <= this.info.lastPushedVersion) return;
    if (digest === this.#lastDigest) return;
    const nonce = `${version}.${++this.#nonceCounter}`;
    this.#pendingNonce = nonce;
    this.#lastDigest = digest;
    this.info.lastPushedVersion = version;
    this.#deps.send(scoped, nonce);
  }
}
