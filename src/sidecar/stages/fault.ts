import type { FaultAction } from "../faults/plan.ts";
import type { LocalReply } from "../resilience/fallback.ts";
import { FLAGS_HEADER } from "../resilience/replies.ts";
import type { Completion } from "./attempt.ts";
import type { StageEnv } from "./env.ts";
import type { Answer, RequestContext, Stage, StageResult } from "./stage.ts";

/** A reset leaves nothing to write: the connection is gone. Status 0, as for any request without a response. */
const RESET_REPLY: LocalReply = { status: 0, headers: { [FLAGS_HEADER]: "FI" }, body: Buffer.alloc(0) };
const RESET: Answer = { flag: "FI", reply: RESET_REPLY };
const TIMED_OUT: Answer = { flag: "UT", reply: undefined };
/** The client left while the fault held its request; the stage already reported it (DataPath skips the answer). */
const GONE: Answer = { flag: undefined, reply: undefined };

/** True with probability `chance`; draws only when the outcome is not certain, so 0 % and 100 % cost nothing. */
function hit(chance: number, random: () => number): boolean {
  return chance >= 1 || (chance > 0 && random() < chance);
}

/**
 * Fault injection (docs/faults.md), before admission and the upstream
 * attempt: on outbound, the Route rule's `fault` (delay and/or abort, each
 * with its own percentage, as Istio's), else the first live experiment on
 * the destination service that the draw selects; on inbound, the live
 * experiments that selected this instance. A delay is taken from the route's
 * timeout: one at least as long as the timeout answers UT (and so the
 * policy's fallback) when the timeout would have fired, never later. Every
 * request it touches carries the flag FI. Random draws and timers come from
 * the environment (seedable, FakeClock). The chain holds this stage only
 * when faults are allowed (`--no-faults` leaves it out).
 */
export function fault(env: StageEnv, complete: Completion): Stage {
  const clock = env.clock;
  const random = env.random;

  /** Holds the request `ms`, then `then()`; a client that leaves meanwhile is reported as cancelled at once. */
  const hold = (ctx: RequestContext, ms: number, then: () => Answer | undefined): Promise<Answer | undefined> =>
    new Promise((resolve) => {
      const timer = clock.setTimeout(() => resolve(then()), ms);
      ctx.req.onAbort(() => {
        clock.clearTimeout(timer);
        ctx.ending = "cancelled";
        complete(ctx);
        resolve(GONE);
      });
    });

  const apply = (ctx: RequestContext, delayMs: number, action: FaultAction | undefined): StageResult => {
    const kind = action?.kind ?? "delay";
    ctx.fault = kind;
    env.metrics.faults.labels(ctx.direction, ctx.service, kind).inc();
    const timeoutMs = ctx.route?.timeoutMs ?? 0;
    if (delayMs >= timeoutMs && delayMs > 0) return hold(ctx, timeoutMs, () => TIMED_OUT);
    const after = (): Answer | undefined => {
      if (action === undefined) return undefined;
      switch (action.kind) {
        case "delay":
          return undefined;
        case "abort":
          return { flag: "FI", reply: action.reply };
        case "reset":
          ctx.res.destroy();
          return RESET;
        case "blackhole":
          return undefined;
        case "bandwidth":
          ctx.throttle = action.bytesPerSecond;
          return undefined;
      }
    };
    if (action?.kind === "blackhole") return hold(ctx, Math.max(0, timeoutMs - delayMs), () => TIMED_OUT);
    if (delayMs === 0) return after();
    ctx.faultDelayMs = delayMs;
    return hold(ctx, delayMs, after);
  };

  return (ctx) => {
    const outbound = ctx.direction === "outbound";
    const rf = outbound ? ctx.route?.fault : undefined;
    const plan = env.faults();
    const experiments = outbound ? plan.outbound.get(ctx.service) : plan.inbound;
    if (rf === undefined && experiments === undefined) return undefined;
    if (rf !== undefined) {
      const delayMs = hit(rf.delayChance, random) ? rf.delayMs : 0;
      const abort = rf.abort !== undefined && hit(rf.abortChance, random) ? rf.abort : undefined;
      if (delayMs > 0 || abort !== undefined) return apply(ctx, delayMs, abort);
    }
    if (experiments === undefined) return undefined;
    const now = env.wallNow();
    for (const e of experiments) {
      if (now >= e.deadline || !hit(e.chance, random)) continue;
      return e.action.kind === "delay" ? apply(ctx, e.action.ms, e.action) : apply(ctx, 0, e.action);
    }
    return undefined;
  };
}
