import type { LocalReply } from "./resilience/fallback.ts";
import { FLAGS_HEADER } from "./resilience/replies.ts";
import type { ResponseFlag } from "./stages/stage.ts";

/** The status of a local answer with a flag, and its reason phrase. */
export const FLAG_STATUS: Record<ResponseFlag, number> = {
  NR: 404,
  UH: 503,
  UF: 503,
  UT: 504,
  UR: 502,
  UO: 503,
  CB: 503,
  RL: 429,
  FB: 200,
  FI: 500,
  AZ: 403,
};
export const FLAG_REASON: Record<ResponseFlag, string> = {
  NR: "no route",
  UH: "no healthy upstream",
  UF: "upstream connect failure",
  UT: "upstream timeout",
  UR: "upstream reset",
  UO: "overflow",
  CB: "circuit breaker open",
  RL: "rate limited",
  FB: "fallback",
  FI: "fault injected",
  AZ: "denied by an AuthorizationPolicy",
};

export function flagReply(flag: ResponseFlag, service: string): LocalReply {
  return {
    status: FLAG_STATUS[flag],
    headers: { "content-type": "application/json", [FLAGS_HEADER]: flag },
    body: Buffer.from(JSON.stringify({ error: FLAG_REASON[flag], service, flag })),
  };
}
