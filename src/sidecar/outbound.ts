import { admission } from "./stages/admission.ts";
import { attempt, type Completion } from "./stages/attempt.ts";
import type { StageEnv } from "./stages/env.ts";
import { routeByAuthority } from "./stages/route.ts";
import { split } from "./stages/split.ts";
import type { Stage } from "./stages/stage.ts";

/** The app's outgoing calls: routed by authority and path, split, rate limited, then attempted. */
export function outboundStages(env: StageEnv, complete: Completion): Stage[] {
  return [routeByAuthority(env), split(env), admission(env), attempt(env, complete)];
}
