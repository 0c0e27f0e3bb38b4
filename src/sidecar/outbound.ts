import { admission } from "./stages/admission.ts";
import { attempt, type Completion } from "./stages/attempt.ts";
import type { StageEnv } from "./stages/env.ts";
import { fault } from "./stages/fault.ts";
import { routeByAuthority } from "./stages/route.ts";
import { split } from "./stages/split.ts";
import type { Stage } from "./stages/stage.ts";

/** The app's outgoing calls: routed by authority and path, split, faults injected (unless refused), rate limited, then attempted. */
export function outboundStages(env: StageEnv, complete: Completion, faults: boolean): Stage[] {
  const injected = faults ? [fault(env, complete)] : [];
  return [routeByAuthority(env), split(env), ...injected, admission(env), attempt(env, complete)];
}
