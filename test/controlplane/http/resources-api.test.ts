import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseResources } from "../../../src/config/load.ts";
import type { Resource } from "../../../src/config/resources.ts";
import {
  type ApiRequest,
  handleMeshRequest,
  MAX_APPLY_BYTES,
  type MeshApiDeps,
} from "../../../src/controlplane/http/resources-api.ts";
import { applyResourceCommand } from "../../../src/controlplane/resources/commands.ts";
import { MemoryKv } from "../registry/memory-kv.ts";

const SVC =
  "apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: reviews}\nspec: {ports: [{port: 9080}], endpoints: [{address: 10.0.0.1, port: 9080}]}\n";
const ROUTE =
  "apiVersion: meshlet.dev/v1\nkind: Route\nmetadata: {name: reviews}\nspec: {hosts: [reviews], http: [{destinations: [{service: reviews}]}]}\n";

/** The fields these tests read, across the API's response shapes. */
interface Body {
  dryRun: boolean;
  results: { action: string }[];
  error: { code: string; message: string; findings?: { code: string; resource: string; path: string }[] };
  warnings: { code: string }[];
  resource: { metadata: { name: string } };
  items: unknown[];
  endpoints: { instance: string; source: string }[];
}

function harness() {
  const kv = new MemoryKv();
  const proposed: unknown[] = [];
  const deps: MeshApiDeps = {
    async propose(command) {
      proposed.push(command);
      const { ops, result } = applyResourceCommand(kv, command);
      kv.apply(ops);
      return { revision: kv.revision, result };
    },
    async read(fn) {
      return { value: fn(kv), revision: kv.revision };
    },
    sidecars: async () => ({ sidecars: [], unreachable: [] }),
  };
  const call = async (method: string, url: string, body = "", ifMatch?: string) => {
    const u = new URL(url, "http://x");
    const req: ApiRequest = { method, path: u.pathname, query: u.searchParams, ifMatch, body, deadlineMs: 5000 };
    const res = await handleMeshRequest(req, deps);
    assert.ok(res !== undefined, `${url} not handled`);
    return res as { status: number; body: Body; headers?: Record<string, string> };
  };
  return { kv, call, proposed };
}

const policy = (name: string, extra = "") =>
  `apiVersion: meshlet.dev/v1\nkind: Policy\nmetadata: {name: ${name}}\nspec: {target: {service: reviews}${extra}}\n`;

describe("mesh HTTP API", () => {
  it("apply: all or nothing, created/configured/unchanged, dry run stores nothing", async () => {
    const h = harness();
    const dry = await h.call("POST", "/v1/apply?dryRun=true", `${SVC}---\n${ROUTE}`);
    assert.equal(dry.status, 200);
    assert.equal(dry.body.dryRun, true);
    assert.equal(h.kv.revision, 0);
    const first = await h.call("POST", "/v1/apply", `${SVC}---\n${ROUTE}`);
    assert.deepEqual(
      first.body.results.map((r) => r.action),
      ["created", "created"],
    );
    assert.equal(h.kv.revision, 1, "one apply, one entry");
    const again = await h.call("POST", "/v1/apply", `${SVC}---\n${ROUTE.replace("reviews]", "reviews, r2]")}`);
    assert.deepEqual(
      again.body.results.map((r) => r.action),
      ["unchanged", "configured"],
    );
  });

  it("an invalid document is rejected with its path and nothing is applied", async () => {
    const h = harness();
    const res = await h.call(
      "POST",
      "/v1/apply",
      `${SVC}---\n${ROUTE.replace("reviews}]}]", "reviews}], timeout: 2x}]")}`,
    );
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, "ERR_CONFIG_INVALID");
    assert.match(res.body.error.message, /request:9:\d+ Route\/reviews spec\.http\[0\]\.timeout: expected a duration/);
    assert.equal(h.kv.revision, 0);
  });

  it("rejects bodies above the limit with 413 and duplicate names with 400", async () => {
    const h = harness();
    const big = await h.call("POST", "/v1/apply", `${SVC}# ${"x".repeat(MAX_APPLY_BYTES)}\n`);
    assert.equal(big.status, 413);
    const dup = await h.call("POST", "/v1/apply", `${SVC}---\n${SVC}`);
    assert.equal(dup.status, 400);
    assert.match(dup.body.error.message, /duplicate resource/);
    assert.equal(h.kv.revision, 0);
  });

  it("GET, PUT with If-Match (412 on mismatch), DELETE, endpoints", async () => {
    const h = harness();
    await h.call("POST", "/v1/apply", SVC);
    const got = await h.call("GET", "/v1/resources/services/reviews");
    assert.equal(got.headers?.etag, "1");
    assert.equal(got.body.resource.metadata.name, "reviews");
    assert.equal((await h.call("GET", "/v1/resources/routes/reviews")).status, 404);
    assert.equal((await h.call("PUT", "/v1/resources/services/reviews", SVC, "7")).status, 412);
    assert.equal(
      (await h.call("PUT", "/v1/resources/services/reviews", SVC.replace("9080}]", "9081}]"), "1")).status,
      200,
    );
    assert.equal((await h.call("PUT", "/v1/resources/routes/other", ROUTE)).status, 400);
    const list = await h.call("GET", "/v1/resources/services");
    assert.equal(list.body.items.length, 1);
    // Every kind by its plural, "policies" included.
    for (const kind of ["routes", "policies", "Policies", "policy"]) {
      assert.equal((await h.call("GET", `/v1/resources/${kind}`)).status, 200, kind);
    }
    const eps = await h.call("GET", "/v1/endpoints/reviews");
    assert.deepEqual(
      eps.body.endpoints.map((e) => [e.instance, e.source]),
      [["static-0", "static"]],
    );
    assert.equal((await h.call("DELETE", "/v1/resources/services/reviews", "", "1")).status, 412);
    assert.equal((await h.call("DELETE", "/v1/resources/services/reviews")).status, 200);
    assert.equal((await h.call("DELETE", "/v1/resources/services/reviews")).status, 404);
    assert.equal((await h.call("GET", "/v1/resources/widgets")).status, 404);
  });

  it("refuses with 422 and the sidecar's words what sidecars would refuse, proposing nothing", async () => {
    const h = harness();
    assert.equal((await h.call("POST", "/v1/apply", `${SVC}---\n${policy("a")}`)).status, 200);
    const proposals = h.proposed.length;
    const revision = h.kv.revision;
    for (const url of ["/v1/apply", "/v1/apply?dryRun=true"]) {
      const res = await h.call("POST", url, `${ROUTE}---\n${policy("b")}`);
      assert.equal(res.status, 422, url);
      assert.equal(res.body.error.code, "ERR_CONFIG_REJECTED");
      assert.equal(
        res.body.error.message,
        "Policy/b spec.target: service/reviews is also the target of Policy/a, which keeps it (one Policy per target; the name that sorts first wins): merge them, or target a route",
      );
      assert.deepEqual(
        res.body.error.findings?.map((f) => [f.code, f.resource, f.path]),
        [["PolicyConflict", "Policy/b", "spec.target"]],
      );
    }
    // A conflict that lands on the stored Policy (a new one whose name sorts first) is refused too.
    assert.equal((await h.call("POST", "/v1/apply", policy("0p"))).status, 422);
    assert.equal((await h.call("PUT", "/v1/resources/policies/b", policy("b"))).status, 422);
    assert.equal(h.proposed.length, proposals, "nothing reached the log");
    assert.equal(h.kv.revision, revision);
    // Changing the one Policy on the target is fine; so are warnings (a global limit needs sidecars with Redis).
    const global = await h.call("POST", "/v1/apply", policy("a", ", rateLimit: {requestsPerSecond: 5, scope: global}"));
    assert.equal(global.status, 200);
    assert.deepEqual(
      global.body.warnings.map((w) => w.code),
      ["GlobalRateLimitWithoutRedis"],
    );
  });

  it("does not block unrelated changes on an error already stored", async () => {
    const h = harness();
    // Written before this check existed: two Policies on one target.
    h.kv.apply([
      { op: "put", key: "mesh/resources/Policy/a", value: JSON.stringify(parsePolicy("a")) },
      { op: "put", key: "mesh/resources/Policy/b", value: JSON.stringify(parsePolicy("b")) },
    ]);
    assert.equal((await h.call("POST", "/v1/apply", SVC)).status, 200);
    assert.equal((await h.call("DELETE", "/v1/resources/policies/b")).status, 200, "and a change may fix it");
  });
});

function parsePolicy(name: string): Resource {
  const [r] = parseResources(policy(name), "p.yaml");
  assert.ok(r !== undefined);
  return r;
}
