import { request } from "node:http";
import type { Clock, TimerHandle } from "../../common/clock.ts";
import { type Connector, tcpConnector } from "../engine/connect.ts";
import { grpcHealthProbe } from "./grpc-health.ts";

export interface HealthCheckSpec {
  /** An HTTP check's path; unset for a gRPC check. */
  path?: string | undefined;
  /** A grpc.health.v1 check of this service ("" = the server); unset for an HTTP check. */
  grpc?: { service: string } | undefined;
  intervalMs: number;
  timeoutMs: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
}

export interface CheckTarget {
  key: string;
  host: string;
  port: number;
}

/**
 * One probe of `what` (an HTTP check's path, a gRPC check's service name) over `connect`: resolves true when it
 * passed within the timeout. Injected so tests need no sockets.
 */
export type Probe = (target: CheckTarget, what: string, timeoutMs: number, connect: Connector) => Promise<boolean>;

/** The transport to an endpoint, as its pool dials it (mTLS to a peer sidecar's STRICT inbound port). */
export type TransportFor = (key: string) => Connector;

interface TargetState {
  target: CheckTarget;
  healthy: boolean;
  passes: number;
  fails: number;
  timer: TimerHandle | undefined;
}

/**
 * Active health checks, HTTP or grpc.health.v1 (off unless a policy asks): each endpoint is
 * probed every interval; unhealthyThreshold failures in a row take it out of
 * the balancer, healthyThreshold passes in a row bring it back. Endpoints
 * start healthy, so turning checks on never drops traffic before the first
 * verdict.
 */
export class HealthChecker {
  readonly spec: HealthCheckSpec;
  readonly #clock: Clock;
  readonly #probe: Probe;
  readonly #what: string;
  readonly #targets = new Map<string, TargetState>();
  readonly #onChange: (key: string, healthy: boolean) => void;
  readonly #transport: TransportFor;
  #stopped = false;

  constructor(
    spec: HealthCheckSpec,
    clock: Clock,
    probe?: Probe,
    onChange?: (key: string, healthy: boolean) => void,
    transport: TransportFor = () => tcpConnector,
  ) {
    this.spec = spec;
    this.#clock = clock;
    this.#transport = transport;
    this.#probe = probe ?? (spec.grpc === undefined ? httpProbe : grpcHealthProbe);
    this.#what = spec.grpc === undefined ? (spec.path ?? "/") : spec.grpc.service;
    this.#onChange = onChange ?? (() => {});
  }

  setTargets(targets: Iterable<CheckTarget>): void {
    const next = new Map<string, CheckTarget>();
    for (const t of targets) next.set(t.key, t);
    for (const [key, state] of this.#targets) {
      if (next.has(key)) continue;
      if (state.timer !== undefined) this.#clock.clearTimeout(state.timer);
      this.#targets.delete(key);
    }
    for (const [key, target] of next) {
      const existing = this.#targets.get(key);
      if (existing !== undefined) {
        existing.target = target;
        continue;
      }
      const state: TargetState = { target, healthy: true, passes: 0, fails: 0, timer: undefined };
      this.#targets.set(key, state);
      this.#schedule(state);
    }
  }

  isHealthy(key: string): boolean {
    return this.#targets.get(key)?.healthy ?? true;
  }

  stop(): void {
    this.#stopped = true;
    for (const state of this.#targets.values()) if (state.timer !== undefined) this.#clock.clearTimeout(state.timer);
  }

  #schedule(state: TargetState): void {
    if (this.#stopped) return;
    state.timer = this.#clock.setTimeout(() => void this.#check(state), this.spec.intervalMs);
  }

  async #check(state: TargetState): Promise<void> {
    let ok = false;
    try {
      ok = await this.#probe(state.target, this.#what, this.spec.timeoutMs, this.#transport(state.target.key));
    } catch {
      ok = false;
    }
    if (this.#stopped || this.#targets.get(state.target.key) !== state) return;
    if (ok) {
      state.fails = 0;
      state.passes++;
      if (!state.healthy && state.passes >= this.spec.healthyThreshold) this.#set(state, true);
    } else {
      state.passes = 0;
      state.fails++;
      if (state.healthy && state.fails >= this.spec.unhealthyThreshold) this.#set(state, false);
    }
    this.#schedule(state);
  }

  #set(state: TargetState, healthy: boolean): void {
    state.healthy = healthy;
    this.#onChange(state.target.key, healthy);
  }
}

/**
 * GET path on a fresh connection made by the transport (a pooled one could hide a dead listener; no agent, as
 * an agent would dial by itself); 2xx within the timeout passes.
 */
export const httpProbe: Probe = (target, path, timeoutMs, connect) =>
  new Promise<boolean>((resolve) => {
    const req = request(
      {
        host: target.host,
        port: target.port,
        path,
        method: "GET",
        createConnection: () => connect(target.host, target.port).socket,
        timeout: timeoutMs,
        headers: { "user-agent": "meshlet-health-check" },
      },
      (res) => {
        res.resume();
        const status = res.statusCode ?? 0;
        res.on("end", () => resolve(status >= 200 && status <= 299));
        res.on("error", () => resolve(false));
      },
    );
    const timer = setTimeout(() => req.destroy(new Error("health check timed out")), timeoutMs);
    timer.unref();
    req.on("timeout", () => req.destroy(new Error("health check timed out")));
    req.on("error", () => resolve(false));
    req.on("close", () => clearTimeout(timer));
    req.end();
  });
