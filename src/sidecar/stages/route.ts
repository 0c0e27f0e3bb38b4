import { staticReply } from "../resilience/fallback.ts";
import { matchRoute } from "../snapshot.ts";
import type { StageEnv } from "./env.ts";
import type { Answer, RequestContext, Stage } from "./stage.ts";

const NO_ROUTE: Answer = { flag: "NR", reply: undefined };

/** TRACE echoes the request (credentials included) back: refused unless a Route lists it in `methods`. */
function traceRefused(): Answer {
  const reply = staticReply(
    405,
    { "content-type": "application/json", allow: "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS" },
    JSON.stringify({ error: "TRACE is not allowed by any route" }),
  );
  return { flag: undefined, reply };
}

function allowTrace(ctx: RequestContext): Answer | undefined {
  if (ctx.req.method === "TRACE" && ctx.route?.allowsTrace !== true) return traceRefused();
  return undefined;
}

/** Outbound: the first Route of the request's authority whose match holds, on the normalized path. */
export function routeByAuthority(env: StageEnv): Stage {
  return (ctx) => {
    const snap = env.snapshot();
    ctx.route = snap === undefined ? undefined : matchRoute(snap, ctx.host, ctx.req, ctx.req.path);
    if (ctx.route === undefined) return NO_ROUTE;
    return allowTrace(ctx);
  };
}

/** Inbound: every request goes to the local app. */
export function routeToApp(env: StageEnv): Stage {
  return (ctx) => {
    ctx.route = env.inboundRoute();
    if (ctx.route === undefined) return NO_ROUTE;
    return allowTrace(ctx);
  };
}
