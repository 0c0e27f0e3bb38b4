import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DEFAULT_RESOURCE_LIMITS, type ResourceLimits, YAML_LIMITS } from "../../src/config/limits.ts";
import { ConfigError, parseResources } from "../../src/config/load.ts";

const service = (name: string, extra = "") =>
  `apiVersion: meshlet.dev/v1\nkind: Service\nmetadata:\n  name: ${name}\n${extra}`;

/** The ConfigError `text` is refused with (fails when the text is accepted). */
function refusal(text: string, limits: ResourceLimits = DEFAULT_RESOURCE_LIMITS): ConfigError {
  try {
    parseResources(text, "in.yaml", limits);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err;
  }
  assert.fail("accepted");
}

/** Encoded size of the Service `service(name, extra)` parses to. */
const encoded = (text: string) => Buffer.byteLength(JSON.stringify(parseResources(text, "x")[0]));

describe("resource and YAML limits", () => {
  const cases: { name: string; text: string; limits?: ResourceLimits; code: string; message: RegExp }[] = [
    {
      name: "nesting past the depth limit, while parsing",
      text: `${"[".repeat(YAML_LIMITS.maxDepth + 1)}`,
      code: "ERR_CONFIG_INVALID",
      message: /^in\.yaml:1:\d+ nested deeper than 64 levels$/,
    },
    {
      name: "block nesting past the depth limit",
      text: `${"- ".repeat(YAML_LIMITS.maxDepth + 1)}x\n`,
      code: "ERR_CONFIG_INVALID",
      message: /nested deeper than 64 levels/,
    },
    {
      name: "nesting built from aliases past the depth limit",
      text: `a: &a ${"[".repeat(40)}1${"]".repeat(40)}\nb: [*a, [*a]]\nc: [[[[[[[[[[[[[[[[[[[[[[[[[[[*a]]]]]]]]]]]]]]]]]]]]]]]]]]]\n`,
      code: "ERR_CONFIG_INVALID",
      message: /c(\[0\])+: nested deeper than 64 levels/,
    },
    {
      name: "more documents than the limit",
      text: "---\n{}\n".repeat(YAML_LIMITS.maxDocuments + 1),
      code: "ERR_TOO_LARGE",
      message: /more than 10000 documents/,
    },
    {
      name: "more tokens than the limit",
      text: `a: [${"1,".repeat(YAML_LIMITS.maxTokens / 2)}1]\n`,
      code: "ERR_TOO_LARGE",
      message: /more than 1000000 YAML tokens/,
    },
    {
      name: "an anchor whose aliases expand past the resource limit",
      text: service("a", `  annotations:\n    a: &x "${"y".repeat(300)}"\n    b: *x\n    c: *x\n    d: *x\n`),
      limits: { maxResourceBytes: 1_000, maxTotalBytes: 10_000 },
      code: "ERR_TOO_LARGE",
      message: /Service\/a metadata\.annotations\.c: expands to more than 1000 bytes \(aliases included\)/,
    },
    {
      name: "resources over the apply limit together",
      text: [1, 2, 3].map((i) => service(`s${i}`, `  annotations: {a: "${"y".repeat(500)}"}\n`)).join("---\n"),
      limits: { maxResourceBytes: 1_000, maxTotalBytes: 1_500 },
      code: "ERR_TOO_LARGE",
      message: /Service\/s3: brings the resources to more than 1500 bytes encoded/,
    },
    {
      name: "a billion laughs",
      text: service(
        "a",
        `  annotations:\n    l0: &a0 [x, x, x, x, x, x, x, x, x, x]\n${Array.from({ length: 6 }, (_, i) => `    l${i + 1}: &a${i + 1} [${Array(10).fill(`*a${i}`).join(", ")}]`).join("\n")}\n`,
      ),
      code: "ERR_CONFIG_INVALID",
      message: /Excessive alias count/,
    },
    {
      name: "more anchors and aliases than the limit",
      text: service(
        "a",
        `  annotations:\n${Array.from({ length: 60 }, (_, i) => `    k${i}: &k${i} v\n    r${i}: *k${i}`).join("\n")}\n`,
      ),
      code: "ERR_CONFIG_INVALID",
      message: /more than 100 anchors and aliases in one document/,
    },
    {
      name: "an alias inside the node it names",
      text: service("a", "  labels: &l {x: *l}\n"),
      code: "ERR_CONFIG_INVALID",
      message: /metadata\.labels\.x: an alias refers to a node that contains it/,
    },
    {
      name: "a duplicate key in a block map",
      text: service("a", "  labels: {}\n  labels: {}\n"),
      code: "ERR_CONFIG_INVALID",
      message: /in\.yaml:6:3 duplicate key "labels": map keys must be unique/,
    },
    {
      name: "keys that collide as JS object keys (1 and '1')",
      text: service("a", "  annotations: {1: a, '1': b}\n"),
      code: "ERR_CONFIG_INVALID",
      message: /duplicate key "1"/,
    },
    {
      name: "a collection as a map key",
      text: service("a", "  annotations: {[a]: b}\n"),
      code: "ERR_CONFIG_INVALID",
      message: /a map key must be a scalar/,
    },
    {
      name: "a __proto__ key",
      text: service("a", "  labels: {__proto__: {x: y}}\n"),
      code: "ERR_CONFIG_INVALID",
      message: /metadata\.labels\.__proto__: __proto__ is not allowed as a key/,
    },
  ];
  for (const c of cases) {
    it(`refuses ${c.name}`, () => {
      const err = refusal(c.text, c.limits);
      assert.equal(err.code, c.code, err.message);
      assert.match(err.message, c.message);
    });
  }

  it("accepts what is exactly at each limit", () => {
    const text = service("a", `  annotations: {a: "${"y".repeat(900)}"}\n`);
    const size = encoded(text);
    assert.equal(parseResources(text, "x", { maxResourceBytes: size, maxTotalBytes: size }).length, 1);
    // One byte under: refused on the encoded resource (defaults included), not on what the YAML expanded to.
    const over = refusal(text, { maxResourceBytes: size - 1, maxTotalBytes: size });
    assert.equal(over.code, "ERR_TOO_LARGE");
    assert.match(
      over.message,
      new RegExp(`Service/a: is ${size} bytes encoded; the limit per resource is ${size - 1}`),
    );
    assert.equal(refusal(text, { maxResourceBytes: size, maxTotalBytes: size - 1 }).code, "ERR_TOO_LARGE");
    const deep = `${"[".repeat(YAML_LIMITS.maxDepth - 1)}${"]".repeat(YAML_LIMITS.maxDepth - 1)}`;
    assert.doesNotMatch(refusal(deep).message, /nested/, "63 levels are within the limit");
    const aliases = service(
      "a",
      `  annotations:\n${Array.from({ length: 50 }, (_, i) => `    k${i}: &k${i} v\n    r${i}: *k${i}`).join("\n")}\n`,
    );
    assert.equal(parseResources(aliases, "x").length, 1);
    assert.equal(parseResources("---\n".repeat(YAML_LIMITS.maxDocuments), "x").length, 0);
  });

  it("refuses a YAML bomb in little time and memory", () => {
    const before = process.memoryUsage().rss;
    const t0 = performance.now();
    const text = service("a", `  annotations:\n    a0: &x "${"y".repeat(3_500_000)}"\n`).concat(
      Array.from({ length: 90 }, (_, i) => `    a${i + 1}: *x`).join("\n"),
    );
    assert.equal(refusal(text).code, "ERR_TOO_LARGE");
    assert.ok(performance.now() - t0 < 10_000, `${performance.now() - t0} ms`);
    assert.ok(process.memoryUsage().rss - before < 300 * 1024 * 1024, "RSS grew by more than 300 MB");
  });
});
