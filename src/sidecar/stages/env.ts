import type { Clock } from "../../common/clock.ts";
import type { Logger } from "../../common/logger.ts";
import type { Authorizer } from "../authz/compile.ts";
import type { Upstreams } from "../engine/upstreams.ts";
import type { FaultPlan } from "../faults/plan.ts";
import type { SidecarMetrics } from "../metrics.ts";
import type { ResilienceMetrics } from "../resilience/metrics.ts";
import type { CompiledHttpRoute, CompiledSnapshot } from "../snapshot.ts";
import type { Telemetry } from "../telemetry/telemetry.ts";
import type { RetryBudget } from "./retry.ts";

/** What the stages share: injected time and randomness, metrics, upstream pools and the running snapshot. */
export interface StageEnv {
  readonly clock: Clock;
  /** [0, 1), as Math.random: weighted splits, retry jitter, fault draws. */
  readonly random: () => number;
  /** Wall-clock ms (epoch), as Date.now: experiments' deadlines are wall-clock. */
  readonly wallNow: () => number;
  readonly logger: Logger;
  readonly metrics: SidecarMetrics;
  readonly resilience: ResilienceMetrics;
  /** Request metrics, access log and spans: fed at the completion point, and the upstream head's trace fields. */
  readonly telemetry: Telemetry;
  readonly upstreams: Upstreams;
  readonly budget: RetryBudget;
  readonly localService: string;
  snapshot(): CompiledSnapshot | undefined;
  /** The experiments of the running snapshot that concern this sidecar. */
  faults(): FaultPlan;
  /** The running snapshot's AuthorizationPolicies for this sidecar's service; undefined when none (allow all). */
  authorizer(): Authorizer | undefined;
  /** The inbound side's single route to the local app. */
  inboundRoute(): CompiledHttpRoute | undefined;
}
