/**
 * How soon a follower of this control plane gives up on a silent leader (RaftConfig.leaderLossTick): after half
 * the election timeout, but never under 400 ms, so a leader's event loop held up by a long GC pause or a busy
 * machine for a few heartbeats is not taken for a dead one; then a jitter of up to half that again, capped at
 * the election timeout, so two followers that lost the leader together ask at different ticks. A kill -9 is
 * seen sooner (the transport reports the broken connection); this is for a leader that went silent with its
 * connections open (a frozen process, a host that stopped answering).
 */
export const LEADER_LOSS_FLOOR_MS = 400;

export interface LeaderLossTicks {
  leaderLossTick: number;
  leaderLossJitterTick: number;
}

/** The ticks for a node ticking every `tickMs` with an election timeout of `electionTicks`; off (zeros) when they do not fit. */
export function leaderLossTicks(tickMs: number, electionTicks: number, heartbeatTicks = 1): LeaderLossTicks {
  const tick = Math.ceil(Math.max((tickMs * electionTicks) / 2, LEADER_LOSS_FLOOR_MS) / tickMs);
  if (tick <= heartbeatTicks || tick >= electionTicks) return { leaderLossTick: 0, leaderLossJitterTick: 0 };
  return { leaderLossTick: tick, leaderLossJitterTick: Math.min(Math.ceil(tick / 2), electionTicks - tick) };
}
