import type { Answer, RequestContext, Stage } from "./stage.ts";

/**
 * Runs stages in order: each continues (undefined) or answers, and an
 * answer stops the chain and goes to `answered`. A synchronous stage costs
 * a call; only a stage that returns a promise (a queued rate limit, the
 * attempt) makes the rest wait for it.
 */
export function chain(
  stages: readonly Stage[],
  answered: (ctx: RequestContext, a: Answer) => void,
  failed: (ctx: RequestContext, err: unknown) => void,
): (ctx: RequestContext) => void {
  const run = (ctx: RequestContext, from: number): void => {
    for (let i = from; i < stages.length; i++) {
      let r: ReturnType<Stage>;
      try {
        r = (stages[i] as Stage)(ctx);
      } catch (err) {
        failed(ctx, err);
        return;
      }
      if (r === undefined) continue;
      if (r instanceof Promise) {
        const next = i + 1;
        r.then(
          (a) => (a === undefined ? run(ctx, next) : answered(ctx, a)),
          (err: unknown) => failed(ctx, err),
        );
        return;
      }
      answered(ctx, r);
      return;
    }
  };
  return (ctx) => run(ctx, 0);
}
