import assert from "node:assert/strict";
import { test } from "node:test";
import type { HistoryResponse, StatusResponse } from "../../../src/controlplane/config/api-types.ts";
import { maxValueBytes, setMaxValueBytes } from "../../../src/controlplane/config/limits.ts";
import { storedText } from "../../../src/controlplane/state/value.ts";
import { configNode, releaseYaml, type Served, serveConfig } from "../config/config-node.ts";
import type { SingleNode } from "../discovery/single-node.ts";

function dump(node: SingleNode): string {
  const out: string[] = [];
  node.kv.forEachRecord((k, r) => out.push(`${k}@${r.revision}=${storedText(r.value)}`));
  return out.sort().join("\n");
}

const apply = (s: Served, yaml: string) => s.req("/v1/apply", { method: "POST", body: yaml });

test("bad input: every case is a clear error with a stable code, and the store is exactly as before", async (t) => {
  // The limit comes from `meshlet control --max-value-size`; routes take it when they are mounted.
  const before = maxValueBytes();
  setMaxValueBytes(1024);
  t.after(() => setMaxValueBytes(before));
  const s = await serveConfig(t, configNode());
  assert.equal((await s.req("/v1/config/app/a", { method: "PUT", body: "1" })).status, 200);
  assert.equal((await s.req("/v1/config/app/b", { method: "PUT", body: "1" })).status, 200);
  assert.equal((await apply(s, releaseYaml("a-canary", "app/a", "2", "{percent: 10}"))).status, 200);
  const table: [string, string, RequestInit, number, string][] = [
    ["value over the limit", "/v1/config/app/a", { method: "PUT", body: "x".repeat(1025) }, 413, "ERR_TOO_LARGE"],
    [
      "release value over the limit",
      "/v1/apply",
      { method: "POST", body: releaseYaml("big", "app/b", "x".repeat(1025), "{percent: 1}") },
      413,
      "ERR_TOO_LARGE",
    ],
    ["key with a space", "/v1/config/bad%20key", { method: "PUT", body: "v" }, 400, "ERR_BAD_KEY"],
    ["key with a colon", "/v1/config/a%3Ab", { method: "PUT", body: "v" }, 400, "ERR_BAD_KEY"],
    [
      "key with non-ASCII",
      `/v1/config/${encodeURIComponent("café")}`,
      { method: "PUT", body: "v" },
      400,
      "ERR_BAD_KEY",
    ],
    ["key of 257 characters", `/v1/config/${"k".repeat(257)}`, { method: "PUT", body: "v" }, 400, "ERR_BAD_KEY"],
    ["bad percent-encoding", "/v1/config/%E0%A4%A", { method: "PUT", body: "v" }, 400, "ERR_BAD_KEY"],
    [
      "release key outside the charset",
      "/v1/apply",
      { method: "POST", body: releaseYaml("x", "bad key", "v", "{percent: 1}") },
      400,
      "ERR_CONFIG_INVALID",
    ],
    [
      "release with two selectors",
      "/v1/apply",
      { method: "POST", body: releaseYaml("x", "app/b", "v", "{percent: 1, instances: [a]}") },
      400,
      "ERR_CONFIG_INVALID",
    ],
    [
      "release percentage over 100",
      "/v1/apply",
      { method: "POST", body: releaseYaml("x", "app/b", "v", "{percent: 101}") },
      400,
      "ERR_CONFIG_INVALID",
    ],
    [
      "release for a key that does not exist",
      "/v1/apply",
      { method: "POST", body: releaseYaml("x", "app/none", "v", "{percent: 1}") },
      404,
      "ERR_NOT_FOUND",
    ],
    [
      "a second release on one key",
      "/v1/apply",
      { method: "POST", body: releaseYaml("other", "app/a", "3", "{percent: 50}") },
      409,
      "ERR_RELEASE_EXISTS",
    ],
    [
      "a good resource beside a second release: all or nothing",
      "/v1/apply",
      {
        method: "POST",
        body: `apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: fine}\n---\n${releaseYaml("other", "app/a", "3", "{percent: 50}")}`,
      },
      409,
      "ERR_RELEASE_EXISTS",
    ],
    ["delete of a key under a release", "/v1/config/app/a", { method: "DELETE" }, 409, "ERR_RELEASE_ACTIVE"],
    ["promote without a release", "/v1/config/app/b:promote", { method: "POST" }, 404, "ERR_NO_RELEASE"],
    ["rollback without a release", "/v1/config/app/b:rollback", { method: "POST" }, 404, "ERR_NO_RELEASE"],
    ["rollback --to 1e3", "/v1/config/app/b:rollback?to=1e3", { method: "POST" }, 400, "ERR_BAD_REQUEST"],
    ["rollback --to -1", "/v1/config/app/b:rollback?to=-1", { method: "POST" }, 400, "ERR_BAD_REQUEST"],
    [
      "rollback --to a revision never set",
      "/v1/config/app/b:rollback?to=999",
      { method: "POST" },
      404,
      "ERR_NOT_FOUND",
    ],
    ["rollback --to under a release", "/v1/config/app/a:rollback?to=1", { method: "POST" }, 409, "ERR_RELEASE_ACTIVE"],
    ["a watch from the future", "/v1/config/app/a?watch=1&revision=999", {}, 400, "ERR_FUTURE_REVISION"],
    ["a watch of a bad key", "/v1/config/a%3Ab?watch=1", {}, 400, "ERR_BAD_KEY"],
    ["status of a key that does not exist", "/v1/config/app/none:status", {}, 404, "ERR_NOT_FOUND"],
    ["history of a key that never existed", "/v1/config/app/none:history", {}, 404, "ERR_NOT_FOUND"],
    ["an unknown custom method", "/v1/config/app/a:explode", { method: "POST" }, 405, "ERR_METHOD"],
  ];
  for (const [what, path, init, status, code] of table) {
    const stored = dump(s.node);
    // A refusal is an answer, not a stream: a request that would hang fails here, not at the test's timeout.
    const res = await s.req(path, { ...init, signal: AbortSignal.timeout(5_000) });
    const body = (await res.json()) as { error?: { code: string; message: string } };
    assert.equal(res.status, status, `${what}: ${JSON.stringify(body)}`);
    assert.equal(body.error?.code, code, what);
    assert.ok((body.error?.message ?? "").length > 10, `${what}: a message that says why`);
    assert.equal(dump(s.node), stored, `${what}: nothing changed`);
  }
});

test("release, status, promote, rollback --to and history through the API", async (t) => {
  const s = await serveConfig(t);
  const v1 = (await (await s.req("/v1/config/app/flag", { method: "PUT", body: "off" })).json()) as {
    revision: number;
  };
  assert.equal((await apply(s, releaseYaml("flag-on", "app/flag", "on", "{percent: 25}"))).status, 200);
  const read = await s.req("/v1/config/app/flag");
  assert.equal(await read.text(), "off");
  assert.equal(read.headers.get("x-meshlet-config-release"), "flag-on");
  const status = (await (await s.req("/v1/config/app/flag:status")).json()) as StatusResponse;
  assert.deepEqual(status.base, { revision: v1.revision, bytes: 3 });
  assert.equal(status.release?.name, "flag-on");
  assert.equal(status.release?.selector, "25%");
  const promoted = (await (await s.req("/v1/config/app/flag:promote", { method: "POST" })).json()) as {
    revision: number;
    release: string;
  };
  assert.equal(promoted.release, "flag-on");
  assert.equal(await (await s.req("/v1/config/app/flag")).text(), "on");
  const back = await s.req(`/v1/config/app/flag:rollback?to=${v1.revision}`, { method: "POST" });
  assert.equal(back.status, 200);
  assert.deepEqual(((await back.json()) as { to: number }).to, v1.revision);
  assert.equal(await (await s.req("/v1/config/app/flag")).text(), "off");
  const history = (await (await s.req("/v1/config/app/flag:history")).json()) as HistoryResponse;
  assert.deepEqual(
    history.entries.map((e) => [e.action, e.release ?? e.to ?? null, e.restorable ?? null]),
    [
      ["rollback", v1.revision, true],
      ["promote", "flag-on", true],
      ["release", "flag-on", null],
      ["put", null, true],
    ],
  );
  assert.ok(history.entries.every((e) => typeof e.at === "number" && e.by === null));
});
