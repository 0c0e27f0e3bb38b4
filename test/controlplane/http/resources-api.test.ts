import assert from "node:assert/strict";
import { describe, it } from "node:test";
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
  error: { code: string; message: string };
  resource: { metadata: { name: string } };
  items: unknown[];
  endpoints: { instance: string; source: string }[];
}

function harness() {
  const kv = new MemoryKv();
  const deps: MeshApiDeps = {
    async propose(command) {
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
  return { kv, call };
}

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
});
