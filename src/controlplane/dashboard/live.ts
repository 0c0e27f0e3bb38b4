import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { type WebSocket, WebSocketServer } from "ws";
import { errorMessage } from "../../common/errors.ts";
import type { Logger } from "../../common/logger.ts";
import type { DashboardView } from "./view.ts";

/** Where the page opens its WebSocket. */
export const LIVE_PATH = "/v1/dashboard/live";
/** Rates move between changes: while a page is open the view is rebuilt this often, and sent when it differs. */
const TICK_MS = 1_000;
/** A burst of applied entries is one rebuild. */
const CHANGE_DELAY_MS = 50;
/** A page that stopped reading is skipped rather than buffered for without end. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

export interface LiveSource {
  view(): Promise<DashboardView>;
  /** Calls `listener` when something the view shows may have changed (an applied entry, a new leader). */
  onChange(listener: () => void): () => void;
}

/**
 * The dashboard's live feed: every open page gets the whole view as one JSON message when it connects and
 * whenever it changes (within CHANGE_DELAY_MS of an applied change, within TICK_MS for rates and sidecars).
 * Views are built only while a page is open, one build at a time, and sent only when they differ.
 */
export class DashboardLive {
  readonly #source: LiveSource;
  readonly #log: Logger;
  readonly #wss = new WebSocketServer({ noServer: true, maxPayload: 1024 });
  readonly #clients = new Set<WebSocket>();
  readonly #unsubscribe: () => void;
  #tick: NodeJS.Timeout | undefined;
  #timer: NodeJS.Timeout | undefined;
  #building = false;
  #again = false;
  #last: string | undefined;
  #closed = false;

  constructor(source: LiveSource, logger: Logger) {
    this.#source = source;
    this.#log = logger.child({ subsystem: "dashboard" });
    this.#unsubscribe = source.onChange(() => {
      if (this.#clients.size > 0) this.#schedule(CHANGE_DELAY_MS);
    });
  }

  /** Takes an HTTP upgrade for LIVE_PATH; false for any other path (the caller answers those). */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    if ((req.url ?? "").split("?")[0] !== LIVE_PATH || this.#closed) return false;
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#add(ws));
    return true;
  }

  close(): void {
    this.#closed = true;
    this.#unsubscribe();
    clearInterval(this.#tick);
    clearTimeout(this.#timer);
    for (const ws of this.#clients) ws.terminate();
    this.#clients.clear();
    this.#wss.close();
  }

  #add(ws: WebSocket): void {
    this.#clients.add(ws);
    ws.on("error", () => ws.terminate());
    ws.on("close", () => {
      this.#clients.delete(ws);
      if (this.#clients.size === 0) {
        clearInterval(this.#tick);
        this.#tick = undefined;
        this.#last = undefined;
      }
    });
    if (this.#last !== undefined) ws.send(this.#last);
    this.#tick ??= setInterval(() => this.#schedule(0), TICK_MS);
    this.#schedule(0);
  }

  #schedule(delayMs: number): void {
    if (this.#closed) return;
    if (this.#building) {
      this.#again = true;
      return;
    }
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#build();
    }, delayMs);
  }

  async #build(): Promise<void> {
    this.#building = true;
    try {
      const json = JSON.stringify(await this.#source.view());
      if (json !== this.#last) {
        this.#last = json;
        for (const ws of this.#clients) if (ws.bufferedAmount < MAX_BUFFERED_BYTES) ws.send(json);
      }
    } catch (err) {
      this.#log.warn({ err: errorMessage(err) }, "dashboard view failed");
    } finally {
      this.#building = false;
      if (this.#again) {
        this.#again = false;
        this.#schedule(CHANGE_DELAY_MS);
      }
    }
  }
}
