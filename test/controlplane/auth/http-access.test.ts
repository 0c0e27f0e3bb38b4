import assert from "node:assert/strict";
import { test } from "node:test";
import { accessFor } from "../../../src/controlplane/auth/http-access.ts";

test("every route needs what docs/security.md says; an unlisted write needs admin", () => {
  const cases: [string, string, Record<string, string>, string][] = [
    ["GET", "/healthz", {}, "open"],
    ["GET", "/readyz", {}, "open"],
    ["GET", "/metrics", {}, "open"],
    ["GET", "/", {}, "open"],
    ["GET", "/dashboard/{file}", { file: "app.js" }, "open"],
    ["GET", "/v1/dashboard", {}, "read"],
    ["GET", "/v1/config/{key*}", { key: "a" }, "read"],
    ["GET", "/v1/tokens", {}, "admin"],
    ["POST", "/v1/analyze", {}, "read"],
    ["POST", "/v1/apply", {}, "resources"],
    ["PUT", "/v1/resources/{kind}/{name}", {}, "resources"],
    ["DELETE", "/v1/resources/{kind}/{name}", {}, "resources"],
    ["POST", "/v1/chaos/experiments", {}, "resources"],
    ["DELETE", "/v1/chaos/experiments", {}, "resources"],
    ["DELETE", "/v1/chaos/experiments/{name}", {}, "resources"],
    ["GET", "/v1/chaos/experiments", {}, "read"],
    ["PUT", "/v1/config/{key*}", { key: "a%2Fb" }, "config:a/b"],
    ["POST", "/v1/config/{key*}:rollback", { key: "a" }, "config:a"],
    ["PUT", "/v1/config/{key*}", { key: "%E0%A4%A" }, "config:\u0000%E0%A4%A"],
    ["POST", "/v1/cluster/members", {}, "admin"],
    ["POST", "/v1/tokens", {}, "admin"],
    ["DELETE", "/v1/tokens/{name}", {}, "admin"],
    ["POST", "/v1/some-future-write", {}, "admin"],
  ];
  for (const [method, route, params, want] of cases) {
    const a = accessFor(method, route, params);
    assert.equal(a.kind === "config" ? `config:${a.key}` : a.kind, want, `${method} ${route}`);
  }
});
