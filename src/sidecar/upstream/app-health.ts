import { request } from "node:http";
import { connect } from "node:net";
import type { Clock, TimerHandle } from "../../common/clock.ts";

/** One probe of the local app: true when it answered. Injected so tests need no sockets. */
export type AppProbe = (timeoutMs: number) => Promise<boolean>;

/** A TCP connect to the app's port: it listens, or it is gone (killed, crashed, not started yet). */
export function tcpProbe(host: string, port: number): AppProbe {
  return (timeoutMs) =>
    new Promise((resolve) => {
      const socket = connect({ host, port });
      const done = (ok: boolean) => {
        socket.destroy();
        resolve(ok);
      };
      socket.setTimeout(timeoutMs, () => done(false));
      socket.once("connect", () => done(true));
      socket.once("error", () => done(false));
    });
}

/** A GET of the app's readiness path: a 2xx or 3xx within the timeout, as a Kubernetes httpGet probe. */
export function httpProbe(host: string, port: number, path: string): AppProbe {
  return (timeoutMs) =>
    new Promise((resolve) => {
      const req = request({ host, port, path, method: "GET", timeout: timeoutMs, agent: false }, (res) => {
        res.resume();
        resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 400);
      });
      req.on("timeout", () => req.destroy());
      req.on("error", () => resolve(false));
      req.end();
    });
}

export interface AppHealthOptions {
  probe: AppProbe;
  intervalMs: number;
  timeoutMs: number;
  clock: Clock;
  /** Called on every change of verdict (never for the first, healthy one). */
  onChange: (healthy: boolean) => void;
}

/** A failed probe is confirmed this soon, so one lost SYN does not take an instance out. */
const CONFIRM_MS = 200;

/**
 * The sidecar's check of its own app: a probe every interval; two failures
 * in a row (the second one CONFIRM_MS after the first) mark the app
 * unhealthy, one success healthy again. The app starts healthy: a sidecar
 * started just before its app must not flap its registration at boot, and
 * the first failing probes take it out within about a second anyway.
 */
export class AppHealth {
  readonly #o: AppHealthOptions;
  #healthy = true;
  #fails = 0;
  #timer: TimerHandle | undefined;
  #stopped = false;

  constructor(options: AppHealthOptions) {
    this.#o = options;
  }

  get healthy(): boolean {
    return this.#healthy;
  }

  start(): void {
    this.#schedule(this.#o.intervalMs);
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = this.#o.clock.setTimeout(() => {
      this.#timer = undefined;
      void this.#o.probe(this.#o.timeoutMs).then((ok) => this.#record(ok));
    }, ms);
  }

  #record(ok: boolean): void {
    if (this.#stopped) return;
    if (ok) {
      this.#fails = 0;
      this.#set(true);
      this.#schedule(this.#o.intervalMs);
      return;
    }
    this.#fails++;
    if (this.#fails >= 2) this.#set(false);
    this.#schedule(this.#fails === 1 ? CONFIRM_MS : this.#o.intervalMs);
  }

  #set(healthy: boolean): void {
    if (healthy === this.#healthy) return;
    this.#healthy = healthy;
    this.#o.onChange(healthy);
  }
}
