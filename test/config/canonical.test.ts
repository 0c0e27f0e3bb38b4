import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { isCanonicalPolicySpec, isCanonicalResource } from "../../src/config/canonical.ts";
import { parseResources } from "../../src/config/load.ts";
import { policySpecSchema, type Resource, resourceSchema } from "../../src/config/resources.ts";
import { REPO_ROOT } from "../helpers/cli.ts";

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? yamlFiles(join(dir, e.name)) : /\.ya?ml$/.test(e.name) ? [join(dir, e.name)] : [],
  );
}

/** Written as a user would; the schema fills the defaults. Together they set every field the schema knows. */
const WRITTEN: unknown[] = [
  {
    apiVersion: "meshlet.dev/v1",
    kind: "Service",
    metadata: { name: "web", labels: { team: "a" }, annotations: { note: "x" } },
    spec: {
      ports: [{ port: 8080, protocol: "grpc", name: "api" }],
      loadBalancer: {
        consistentHash: { cookie: { name: "s", ttl: "1h", path: "/" }, algorithm: "maglev", tableSize: 131 },
      },
      endpoints: [
        { address: "10.0.0.1", port: 80, labels: { v: "1" }, weight: 3 },
        { address: "h", port: 81 },
      ],
      config: { keys: ["a/b"], prefixes: ["feature."] },
      accessLog: { mode: "sampled", sampleRate: 0.5 },
    },
  },
  { apiVersion: "meshlet.dev/v1", kind: "Service", metadata: { name: "bare" } },
  {
    apiVersion: "meshlet.dev/v1",
    kind: "Service",
    metadata: { name: "lr" },
    spec: { loadBalancer: { leastRequest: {} }, accessLog: { mode: "off" } },
  },
  {
    apiVersion: "meshlet.dev/v1",
    kind: "Service",
    metadata: { name: "hash" },
    spec: { loadBalancer: { consistentHash: { header: "x-user", ringSize: 1024 } } },
  },
  {
    apiVersion: "meshlet.dev/v1",
    kind: "Route",
    metadata: { name: "r" },
    spec: {
      hosts: ["web", "web.local"],
      http: [
        {
          name: "api",
          match: [
            { pathPrefix: "/api", methods: ["GET"], headers: { "x-a": "1", "x-b": { regex: "^a+$" } } },
            { path: "/x", headers: { "x-c": { exact: "e" }, "x-d": { prefix: "p" }, "x-e": { present: true } } },
            { pathRegex: "^/v[0-9]+/" },
          ],
          destinations: [{ service: "web", port: 8080, subset: { v: "1" }, weight: 90 }, { service: "bare" }],
          timeout: "2s",
          retries: {
            attempts: 2,
            retryOn: ["5xx", "reset"],
            perTryTimeout: "500ms",
            retryNonIdempotent: true,
            idempotent: true,
            backoff: { baseInterval: "25ms", maxInterval: "250ms" },
          },
        },
        { destinations: [{ service: "web" }], retries: { attempts: 1 } },
        {
          match: [{ headers: { "x-chaos": "on" } }],
          destinations: [{ service: "web" }],
          fault: { delay: { fixed: "100ms", percent: 10 }, abort: { status: 503, percent: 5 } },
        },
        { destinations: [{ service: "web" }], fault: { abort: { grpcStatus: 14 } } },
        { destinations: [{ service: "web" }], fault: { delay: { fixed: "1s" } } },
      ],
    },
  },
  {
    apiVersion: "meshlet.dev/v1",
    kind: "Policy",
    metadata: { name: "p" },
    spec: {
      target: { service: "web" },
      circuitBreaker: { errorThresholdPercentage: 50, failureStatuses: [502, 503] },
      limits: { maxConnections: 10, maxPendingRequests: 5, maxRequests: 20, maxRetries: 3 },
      rateLimit: { requestsPerSecond: 100, burst: 10, key: { header: "x-user" }, maxWait: "100ms" },
      fallback: { on: ["circuitOpen", "timeout"], static: { status: 503, headers: { "x-f": "1" }, body: "no" } },
      outlierDetection: { consecutiveErrors: 3, successRateMinimumHosts: 2 },
      healthCheck: { path: "/healthz" },
    },
  },
  {
    apiVersion: "meshlet.dev/v1",
    kind: "Policy",
    metadata: { name: "q" },
    spec: {
      target: { route: "r" },
      rateLimit: { requestsPerSecond: 0.5, scope: "global" },
      fallback: { on: ["rateLimited"], staleCache: { maxAge: "1m", vary: ["accept"] } },
    },
  },
  {
    apiVersion: "meshlet.dev/v1",
    kind: "Policy",
    metadata: { name: "s" },
    spec: {
      target: { service: "web" },
      rateLimit: { requestsPerSecond: 5, key: { sourceService: true } },
      fallback: { on: ["overflow"], service: "bare" },
    },
  },
  {
    apiVersion: "meshlet.dev/v1",
    kind: "AuthorizationPolicy",
    metadata: { name: "az" },
    spec: {
      targetService: "reviews",
      rules: [
        {
          from: { identities: ["spiffe://td/service/web", "spiffe://td/*", "*/ops", "*"], services: ["web", "*"] },
          to: {
            methods: ["GET"],
            paths: [{ exact: "/a" }, { prefix: "/b" }],
            headers: [
              { name: "x-a", exact: "1" },
              { name: "x-b", prefix: "p" },
            ],
          },
        },
        {},
      ],
    },
  },
  {
    apiVersion: "meshlet.dev/v1",
    kind: "AuthorizationPolicy",
    metadata: { name: "none" },
    spec: { targetService: "s", rules: [] },
  },
];

function canonicalCorpus(): Resource[] {
  const written = WRITTEN.map((r) => resourceSchema.parse(r));
  const dirs = ["resources", "policies"].map((d) => join(REPO_ROOT, "examples", d));
  const examples = dirs.flatMap(yamlFiles).flatMap((f) => parseResources(readFileSync(f, "utf8"), f));
  return [...written, ...examples].filter((r) => r.kind !== "ConfigRelease");
}

/** Values a mutation puts in a field: each near some bound or type of the schema. */
const ODD_VALUES: unknown[] = [
  ...["", "a", "A", "web", "-a", "/x", "x", "(", "1s", "0", "0s", "25h", "400d", "1h", "maglev", "global", "GET"],
  ...["get", "5xx", "http", "sampled", "x y", "a".repeat(64), "a".repeat(254)],
  ...[-1, 0, 0.5, 1, 1.5, 2, 11, 63, 64, 100, 101, 126, 127, 128, 131, 599, 600, 1000, 1001, 65535, 65536],
  ...[1e-4, 1e6 + 1, 1e9, 1e9 + 1, 2 ** 53, true, false, null, [], {}, [""], { a: 1 }, { service: "web" }],
];

type Json = unknown;

/** Paths to every object key and array index in `value`. */
function paths(value: Json, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [prefix];
  if (Array.isArray(value)) for (const [i, v] of value.entries()) out.push(...paths(v, [...prefix, i]));
  else if (typeof value === "object" && value !== null)
    for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...prefix, k]));
  return out;
}

type Mutation = { kind: "set"; value: Json } | { kind: "delete" } | { kind: "add"; key: string; value: Json };

function mutate(value: Json, path: (string | number)[], m: Mutation): Json {
  const copy = structuredClone(value) as Record<string | number, Json>;
  if (path.length === 0) return m.kind === "set" ? m.value : copy;
  let parent = copy;
  for (const seg of path.slice(0, -1)) parent = parent[seg] as Record<string | number, Json>;
  const last = path[path.length - 1] as string | number;
  if (m.kind === "set") parent[last] = m.value;
  else if (m.kind === "delete") {
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete parent[last];
  } else {
    const target = parent[last];
    if (typeof target === "object" && target !== null && !Array.isArray(target))
      (target as Record<string, Json>)[m.key] = m.value;
  }
  return copy;
}

/** The property the sidecar relies on: accepted here means accepted by the schema, and left unchanged by it. */
function assertSound(value: Json): void {
  if (!isCanonicalResource(value)) return;
  const parsed = resourceSchema.safeParse(value);
  assert.ok(parsed.success, `accepted without zod, refused by the schema: ${JSON.stringify(value)}`);
  assert.deepEqual(parsed.data, value, "accepted without zod, but the schema changes it");
}

describe("canonical resources (the zod-free check)", () => {
  const corpus = canonicalCorpus();

  it("accepts every resource the schema outputs, so a sidecar fed by the control plane never needs zod", () => {
    assert.ok(corpus.length > 10);
    for (const r of corpus) assert.ok(isCanonicalResource(r), JSON.stringify(r));
    for (const r of corpus) if (r.kind === "Policy") assert.ok(isCanonicalPolicySpec(r.spec));
  });

  it("refuses what the schema would change or refuse (a written resource without its defaults, unknown fields)", () => {
    for (const w of WRITTEN) assert.equal(isCanonicalResource(w), false, JSON.stringify(w));
    const [service] = corpus;
    assert.equal(isCanonicalResource({ ...service, extra: 1 }), false);
    assert.equal(
      isCanonicalResource(JSON.parse(JSON.stringify(service).replace('"spec":{', '"spec":{"mirror":{},'))),
      false,
    );
    assert.equal(isCanonicalPolicySpec(policySpecSchema.parse({ target: { service: "a" } })), true);
    assert.equal(isCanonicalPolicySpec({ target: { service: "a" }, limits: { maxRequests: 0 } }), false);
  });

  it("never accepts what the schema refuses or changes, over every single mutation of the corpus", () => {
    let mutants = 0;
    for (const r of corpus) {
      for (const path of paths(r)) {
        for (const value of ODD_VALUES) assertSound(mutate(r, path, { kind: "set", value }));
        assertSound(mutate(r, path, { kind: "delete" }));
        assertSound(mutate(r, path, { kind: "add", key: "zz", value: 1 }));
        mutants += ODD_VALUES.length + 2;
      }
    }
    assert.ok(mutants > 10_000, `${mutants} mutants`);
  });

  it("never accepts what the schema refuses or changes, over random sequences of mutations", () => {
    const valueArb = fc.oneof(fc.constantFrom(...ODD_VALUES), fc.jsonValue({ maxDepth: 2 }));
    fc.assert(
      fc.property(
        fc.constantFrom(...corpus),
        fc.array(fc.tuple(fc.nat(), fc.nat(3), valueArb, fc.constantFrom("zz", "name", "spec", "weight")), {
          minLength: 1,
          maxLength: 4,
        }),
        (start, steps) => {
          let value: Json = start;
          for (const [at, kind, v, key] of steps) {
            const all = paths(value);
            const path = all[at % all.length] ?? [];
            const m: Mutation =
              kind === 0 ? { kind: "delete" } : kind === 1 ? { kind: "add", key, value: v } : { kind: "set", value: v };
            value = mutate(value, path, m);
          }
          assertSound(value);
        },
      ),
      { numRuns: 3000 },
    );
  });
});
