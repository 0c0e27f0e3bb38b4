import type { Clock } from "../common/clock.ts";
import type { CompiledSnapshot } from "./snapshot.ts";
import type { UpstreamEndpoint } from "./upstream/balancer.ts";

export interface WarmUpOptions {
  clock: Clock;
  /** Readiness never waits longer than this: then the sidecar is ready anyway (and says so in the log). */
  capMs: number;
  /** At most this many endpoints get a connection opened (a large mesh must not stall a start). */
  maxEndpoints: number;
  /** How often the config and certificate are looked at while waiting for them. */
  pollMs: number;
  snapshot(): CompiledSnapshot | undefined;
  /** True once the sidecar can open the connections it will use: with mTLS, when its certificate has arrived. */
  identityReady(): boolean;
  /** Opens one pooled connection to the endpoint (kept idle for the first request); false when it failed. */
  connect(e: UpstreamEndpoint): Promise<boolean>;
}

export interface WarmUpResult {
  /** Everything done within the cap. */
  complete: boolean;
  /** What was still missing at the cap: `config`, `certificate`, or `connections`. */
  missing?: "config" | "certificate" | "connections";
  endpoints: number;
  warmed: number;
  tookMs: number;
}

/**
 * The HTTP/1.1 endpoints of the services this sidecar's routes reach, once
 * each, in route order, at most `max`: what its first requests will use.
 * HTTP/2 destinations are left out (their sessions are opened on first use).
 */
export function warmTargets(snap: CompiledSnapshot, max: number): UpstreamEndpoint[] {
  const out = new Map<string, UpstreamEndpoint>();
  for (const routes of snap.routesByHost.values())
    for (const route of routes)
      for (const d of route.destinations) {
        if (d.h2 === true) continue;
        for (const e of d.balancer.endpoints) {
          if (out.size >= max) return [...out.values()];
          if (!out.has(e.key)) out.set(e.key, e);
        }
      }
  return [...out.values()];
}

/**
 * Cold start (issue 25, 5 f): before the sidecar says ready, wait for its
 * config and (with mTLS) its certificate, then open one connection to each
 * endpoint its routes reach, so the first requests neither pay connect and
 * handshake nor go out without an identity. Failures are ignored (the
 * endpoint may be down; the data path handles that), and the whole warm-up is
 * bounded by `capMs`: readiness is delayed, never withheld.
 */
export async function warmUp(o: WarmUpOptions): Promise<WarmUpResult> {
  const start = o.clock.now();
  const deadline = start + o.capMs;
  const sleep = (ms: number) => new Promise<void>((resolve) => o.clock.setTimeout(resolve, ms));
  const result = (missing: WarmUpResult["missing"], endpoints = 0, warmed = 0): WarmUpResult => ({
    complete: missing === undefined,
    ...(missing === undefined ? {} : { missing }),
    endpoints,
    warmed,
    tookMs: Math.round(o.clock.now() - start),
  });
  while (o.snapshot() === undefined || !o.identityReady()) {
    const left = deadline - o.clock.now();
    if (left <= 0) return result(o.snapshot() === undefined ? "config" : "certificate");
    await sleep(Math.min(o.pollMs, left));
  }
  const snap = o.snapshot();
  const targets = snap === undefined ? [] : warmTargets(snap, o.maxEndpoints);
  if (targets.length === 0) return result(undefined);
  let warmed = 0;
  let timer: ReturnType<Clock["setTimeout"]> | undefined;
  const capped = new Promise<false>((resolve) => {
    timer = o.clock.setTimeout(() => resolve(false), Math.max(0, deadline - o.clock.now()));
  });
  const all = Promise.all(
    targets.map((e) =>
      o.connect(e).then(
        (ok) => {
          if (ok) warmed++;
        },
        () => undefined,
      ),
    ),
  ).then(() => true as const);
  const done = await Promise.race([all, capped]);
  if (timer !== undefined) o.clock.clearTimeout(timer);
  return result(done ? undefined : "connections", targets.length, warmed);
}
