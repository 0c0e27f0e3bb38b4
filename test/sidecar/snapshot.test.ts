import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import { describe, test } from "node:test";
import { FakeClock } from "../../src/common/clock.ts";
import { silentLogger } from "../../src/common/logger.ts";
import { createRegistry } from "../../src/common/metrics.ts";
import { parseResources } from "../../src/config/load.ts";
import { PolicyCompiler } from "../../src/sidecar/resilience/compile.ts";
import { ResilienceMetrics } from "../../src/sidecar/resilience/metrics.ts";
import { hostOf, pathOf } from "../../src/sidecar/routing.ts";
import { compileSnapshot, matchRoute, SnapshotRejectedError, splitDestination } from "../../src/sidecar/snapshot.ts";

function fakeRequest(method: string, headers: Record<string, string>): IncomingMessage {
  return { method, headers, socket: { remoteAddress: "127.0.0.1" } } as unknown as IncomingMessage;
}

function compiler(): PolicyCompiler {
  return new PolicyCompiler({
    clock: new FakeClock(),
    logger: silentLogger(),
    metrics: new ResilienceMetrics(createRegistry({ processMetrics: false })),
    localService: "web",
  });
}

const EXAMPLE = new URL("../../examples/static/mesh.yaml", import.meta.url);

describe("compiled snapshots", () => {
  test("the static example compiles: first match wins, subsets, weights, policy resolved per destination", async () => {
    const resources = parseResources(await readFile(EXAMPLE, "utf8"), "mesh.yaml");
    const snap = compileSnapshot({ version: "1", source: "file:mesh.yaml", resources }, compiler());
    const canary = matchRoute(snap, "reviews", fakeRequest("GET", { "x-canary": "true" }), "/api/x");
    assert.equal(canary?.name, "canary");
    assert.deepEqual(
      canary?.destinations[0]?.balancer.endpoints.map((e) => e.port),
      [9083],
    );
    const main = matchRoute(snap, "reviews", fakeRequest("GET", {}), "/api/x");
    assert.equal(main?.name, "reviews#1");
    assert.equal(main?.timeoutMs, 2000);
    assert.equal(main?.retry?.attempts, 2);
    assert.ok(main?.destinations.every((d) => d.policy?.breaker !== undefined && d.usable !== undefined));
    assert.equal(matchRoute(snap, "reviews", fakeRequest("GET", {}), "/other"), undefined);
    assert.equal(matchRoute(snap, "unknown", fakeRequest("GET", {}), "/api"), undefined);
    let v2 = 0;
    for (let i = 0; i < 10_000; i++)
      if (main !== undefined && splitDestination(main)?.balancer.endpoints[0]?.port === 9083) v2++;
    assert.ok(Math.abs(v2 / 10_000 - 0.1) < 0.02, `v2 share ${v2 / 10_000}`);
    // Same subset, same balancer object: built once per snapshot.
    assert.equal(canary?.destinations[0]?.balancer, main?.destinations[1]?.balancer);
  });

  test("a Route to a missing Service is rejected with the reason", () => {
    const resources = parseResources(
      "apiVersion: meshlet.dev/v1\nkind: Route\nmetadata: {name: r}\nspec: {hosts: [a], http: [{destinations: [{service: ghost}]}]}\n",
      "bad.yaml",
    );
    assert.throws(
      () => compileSnapshot({ version: "2", source: "file:bad.yaml", resources }, compiler()),
      (err: unknown) => err instanceof SnapshotRejectedError && /missing Service\/ghost/.test(err.message),
    );
  });

  test("a ConfigRelease in a static config is refused: it would do nothing there", () => {
    const resources = parseResources(
      "apiVersion: meshlet.dev/v1\nkind: ConfigRelease\nmetadata: {name: c}\nspec: {key: app/flag, value: x, selector: {percent: 5}}\n",
      "mesh.yaml",
    );
    assert.throws(
      () => compileSnapshot({ version: "3", source: "file:mesh.yaml", resources }, compiler()),
      (err: unknown) =>
        err instanceof SnapshotRejectedError && /ConfigRelease\/c: config releases are made/.test(err.message),
    );
  });

  test("host and path normalisation", () => {
    assert.equal(hostOf("Reviews:8080"), "reviews");
    assert.equal(hostOf("[::1]"), "[::1]");
    assert.equal(pathOf("/a/b?x=1"), "/a/b");
    assert.equal(pathOf("http://reviews:80/a?q"), "/a");
    assert.equal(pathOf("http://reviews"), "/");
  });
});
