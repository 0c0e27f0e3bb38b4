import assert from "node:assert/strict";
import { it } from "node:test";
import { FakeClock } from "../../../src/common/clock.ts";
import type { Logger } from "../../../src/common/logger.ts";
import { authorizationPolicySchema } from "../../../src/config/resources.ts";
import { type Authorizer, compileAuthorizer } from "../../../src/sidecar/authz/compile.ts";
import type { EngineRequest } from "../../../src/sidecar/engine/request.ts";
import type { EngineResponse } from "../../../src/sidecar/engine/response.ts";
import { IdentityTable } from "../../../src/sidecar/identity-table.ts";
import { authorize } from "../../../src/sidecar/stages/authorize.ts";
import type { StageEnv } from "../../../src/sidecar/stages/env.ts";
import { RequestContext } from "../../../src/sidecar/stages/stage.ts";
import type { RequestRecord } from "../../../src/sidecar/telemetry/record.ts";

const RATINGS = "spiffe://cluster.local/service/ratings";

function request(peer: string | undefined, path = "/x"): RequestContext {
  const req = {
    method: "GET",
    path,
    head: { names: [], values: [] },
    socket: { peerIdentity: peer },
  } as unknown as EngineRequest;
  return new RequestContext(
    "inbound",
    req,
    {} as EngineResponse,
    0,
    { sourceService: "unknown" } as RequestRecord,
    "reviews",
  );
}

it("authorize stage: AZ for a denied peer, nothing for an allowed one; one warning a second naming the peer", () => {
  const clock = new FakeClock();
  const lines: Record<string, unknown>[] = [];
  const logger = { warn: (fields: Record<string, unknown>) => lines.push(fields) } as unknown as Logger;
  const policy = authorizationPolicySchema.parse({
    apiVersion: "meshlet.dev/v1",
    kind: "AuthorizationPolicy",
    metadata: { name: "no-ratings" },
    spec: { targetService: "reviews", action: "DENY", rules: [{ from: { services: ["ratings"] } }] },
  });
  let authorizer: Authorizer | undefined;
  const env = { clock, logger, authorizer: () => authorizer } as unknown as StageEnv;
  const stage = authorize(env);

  assert.equal(stage(request(RATINGS)), undefined, "no policy: allowed");
  authorizer = compileAuthorizer([policy], "reviews", {
    table: new IdentityTable([{ name: "ratings" }, { name: "web" }], "cluster.local"),
  });
  assert.equal(stage(request("spiffe://cluster.local/service/web")), undefined);
  assert.deepEqual(stage(request(RATINGS)), { flag: "AZ", reply: undefined });
  clock.advance(500);
  assert.deepEqual(stage(request(RATINGS, "/y")), { flag: "AZ", reply: undefined });
  assert.deepEqual(stage(request(RATINGS, "/z")), { flag: "AZ", reply: undefined });
  assert.equal(lines.length, 1, "denials within a second share one line");
  assert.equal(lines[0]?.peer, RATINGS);
  assert.equal(lines[0]?.policy, "no-ratings");
  clock.advance(500);
  stage(request(RATINGS));
  assert.equal(lines.length, 2);
  assert.equal(lines[1]?.suppressed, 2, "the next line counts the ones it held back");
});
