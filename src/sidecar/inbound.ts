import { admission } from "./stages/admission.ts";
import { attempt, type Completion } from "./stages/attempt.ts";
import { authorize } from "./stages/authorize.ts";
import type { StageEnv } from "./stages/env.ts";
import { fault } from "./stages/fault.ts";
import { routeToApp } from "./stages/route.ts";
import { split } from "./stages/split.ts";
import type { Stage } from "./stages/stage.ts";

/**
 * Calls to this app: one route to the local app, the service's AuthorizationPolicies (before anything spends
 * on the request), inbound experiments (unless refused), the local service's inbound rate limit, then attempted.
 */
export function inboundStages(env: StageEnv, complete: Completion, faults: boolean): Stage[] {
  const injected = faults ? [fault(env, complete)] : [];
  return [routeToApp(env), split(env), authorize(env), ...injected, admission(env), attempt(env, complete)];
}
