import { hash32 } from "../../common/hash.ts";
import { durationMs } from "../../config/duration.ts";
import type { FaultExperiment, FaultKind, Resource, RouteFault } from "../../config/resources.ts";
import type { LocalReply } from "../resilience/fallback.ts";
import { FLAGS_HEADER } from "../resilience/replies.ts";

/**
 * Faults as the data path runs them, compiled once per snapshot
 * (docs/faults.md): a Route rule's `fault`, and the FaultExperiments that
 * concern this sidecar, each with the deadline the control plane stamped so
 * that the sidecar stops applying it on its own when the deadline passes,
 * whether or not the control plane is there to delete it.
 */

/** What one injected fault does to a request. */
export type FaultAction =
  | { readonly kind: "delay"; readonly ms: number }
  | { readonly kind: "abort"; readonly reply: LocalReply }
  | { readonly kind: "reset" | "blackhole" }
  | { readonly kind: "bandwidth"; readonly bytesPerSecond: number };

export interface CompiledRouteFault {
  /** Chance in [0, 1] per request; 0 when the rule has no delay. */
  readonly delayChance: number;
  readonly delayMs: number;
  readonly abortChance: number;
  readonly abort: FaultAction | undefined;
}

export interface CompiledExperiment {
  readonly name: string;
  /** Chance in [0, 1] per request. */
  readonly chance: number;
  /** Wall-clock ms (epoch) after which it no longer applies. */
  readonly deadline: number;
  readonly action: FaultAction;
}

export interface FaultPlan {
  /** Side outbound: experiments by target service, applied to this sidecar's calls to it. */
  readonly outbound: ReadonlyMap<string, readonly CompiledExperiment[]>;
  /** Side inbound: experiments that selected this instance, applied to calls to the local app. */
  readonly inbound: readonly CompiledExperiment[] | undefined;
}

export const EMPTY_PLAN: FaultPlan = { outbound: new Map(), inbound: undefined };

/** This sidecar as an experiment's instance selector sees it. */
export interface FaultSelf {
  readonly service: string;
  readonly instance: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** 1/100 of a percent, as config releases select instances. */
const BUCKETS = 10_000;

/**
 * The instance's bucket for a service's experiments: the same for every
 * experiment on that service, so an instance selected at P % is selected at
 * every larger P, and two experiments at 50 % hit the same half.
 */
export function faultBucket(service: string, instance: string): number {
  return hash32(`fault\n${service}\n${instance}`) % BUCKETS;
}

export function abortReply(a: { status?: number | undefined; grpcStatus?: number | undefined }): LocalReply {
  if (a.grpcStatus !== undefined) {
    // gRPC's Trailers-Only form: status 200, grpc-status in the head, no body (docs/faults.md).
    return {
      status: 200,
      headers: {
        "content-type": "application/grpc",
        "grpc-status": String(a.grpcStatus),
        "grpc-message": "fault injected",
        [FLAGS_HEADER]: "FI",
      },
      body: Buffer.alloc(0),
    };
  }
  const status = a.status ?? 503;
  return {
    status,
    headers: { "content-type": "application/json", [FLAGS_HEADER]: "FI" },
    body: Buffer.from(JSON.stringify({ error: "fault injected", status, flag: "FI" })),
  };
}

export function compileRouteFault(f: RouteFault): CompiledRouteFault {
  return {
    delayChance: (f.delay?.percent ?? 0) / 100,
    delayMs: f.delay === undefined ? 0 : durationMs(f.delay.fixed),
    abortChance: (f.abort?.percent ?? 0) / 100,
    abort: f.abort === undefined ? undefined : { kind: "abort", reply: abortReply(f.abort) },
  };
}

function actionOf(e: FaultExperiment): FaultAction {
  const s = e.spec;
  switch (s.kind) {
    case "delay":
      return { kind: "delay", ms: durationMs(s.delay?.fixed ?? "0s") };
    case "abort":
      return { kind: "abort", reply: abortReply(s.abort ?? {}) };
    case "bandwidth":
      return { kind: "bandwidth", bytesPerSecond: s.bandwidth?.bytesPerSecond ?? 1 };
    case "reset":
    case "blackhole":
      return { kind: s.kind };
  }
}

function selectsSelf(e: FaultExperiment, self: FaultSelf): boolean {
  const t = e.spec.target;
  if (t.service !== self.service) return false;
  for (const [k, v] of Object.entries(t.labels ?? {})) if (self.labels[k] !== v) return false;
  if (t.instancePercent === undefined) return true;
  return faultBucket(t.service, self.instance) < Math.round(t.instancePercent * (BUCKETS / 100));
}

/** The experiments of a snapshot that concern this sidecar. One without a deadline (never started) never applies. */
export function compileFaultPlan(resources: readonly Resource[], self: FaultSelf): FaultPlan {
  const outbound = new Map<string, CompiledExperiment[]>();
  const inbound: CompiledExperiment[] = [];
  for (const r of resources) {
    if (r.kind !== "FaultExperiment" || r.status === undefined) continue;
    const compiled: CompiledExperiment = {
      name: r.metadata.name,
      chance: r.spec.percent / 100,
      deadline: r.status.deadline,
      action: actionOf(r),
    };
    if (r.spec.side === "inbound") {
      if (selectsSelf(r, self)) inbound.push(compiled);
      continue;
    }
    const list = outbound.get(r.spec.target.service) ?? [];
    list.push(compiled);
    outbound.set(r.spec.target.service, list);
  }
  // Name order: with two experiments on one target, which one a request meets does not depend on the source's order.
  const byName = (a: CompiledExperiment, b: CompiledExperiment) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  for (const list of outbound.values()) list.sort(byName);
  inbound.sort(byName);
  return { outbound, inbound: inbound.length === 0 ? undefined : inbound };
}

/** How many faults a snapshot holds (route rules with a fault, experiments): what `--no-faults` refuses. */
export function countFaults(resources: readonly Resource[]): number {
  let n = 0;
  for (const r of resources) {
    if (r.kind === "FaultExperiment") n++;
    else if (r.kind === "Route") for (const h of r.spec.http) if (h.fault !== undefined) n++;
  }
  return n;
}

export type { FaultKind };
