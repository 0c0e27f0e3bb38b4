import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { httpRequest, rawRequest, setDefaultAuthorization } from "../../helpers/raw-http.ts";
import { type RealNode, startRealNode } from "../real-node.ts";
import { HOSTILE_CASES, type HostileCase } from "./hostile/cases.ts";

const isSlow = (c: HostileCase) => c.request().some((p) => typeof p === "object" && !Buffer.isBuffer(p));

async function check(port: number, c: HostileCase): Promise<void> {
  const res = await rawRequest(port, c.request());
  const where = `${c.name}: got ${res.status} ${res.body.slice(0, 300)}`;
  assert.equal(res.status, c.status, where);
  if (c.code !== undefined || c.message !== undefined) {
    const body = JSON.parse(res.body) as { error: { code: string; message: string } };
    if (c.code !== undefined) assert.equal(body.error.code, c.code, where);
    if (c.message !== undefined) assert.match(body.error.message, c.message, where);
  }
  if (c.withinMs !== undefined) assert.ok(res.ms <= c.withinMs, `${c.name}: answered after ${res.ms} ms`);
  if (c.closes === true) assert.ok(res.closed, `${c.name}: connection left open`);
}

describe("hostile input against the real HTTP API", () => {
  let node: RealNode;
  let before0 = 0;
  after(() => node.stop());
  before(async () => {
    node = await startRealNode(undefined);
    setDefaultAuthorization(`Bearer ${node.token()}`);
    before0 = node.running.node.kv.revision;
  });
  // Slow cases measure the server's deadlines: they run last, apart from the ones that load the event loop.
  for (const c of [...HOSTILE_CASES.filter((c) => !isSlow(c)), ...HOSTILE_CASES.filter(isSlow)]) {
    it(c.name, () => check(node.httpPort, c));
  }
  it("parses a large body off the event loop: the node answers meanwhile", async () => {
    const big = HOSTILE_CASES.find((c) => c.name.startsWith("3.5 MB anchor"));
    assert.ok(big !== undefined);
    const parsing = rawRequest(node.httpPort, big.request());
    const latencies: number[] = [];
    let done = false;
    void parsing.then(() => {
      done = true;
    });
    while (!done) {
      const t0 = Date.now();
      assert.equal((await fetch(`${node.base}/v1/cluster`)).status, 200);
      latencies.push(Date.now() - t0);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal((await parsing).status, 413);
    assert.ok(latencies.length >= 3, `only ${latencies.length} requests while parsing`);
    assert.ok(Math.max(...latencies) < 500, `a read waited ${Math.max(...latencies)} ms during the parse`);
  });
  it("stored nothing it refused and still answers", async () => {
    const list = (await (await fetch(`${node.base}/v1/resources/services`)).json()) as {
      items: { resource: { metadata: { name: string } } }[];
    };
    assert.deepEqual(list.items.map((i) => i.resource.metadata.name).sort(), ["from-json", "with-bom"]);
    assert.equal(node.running.node.kv.revision, before0 + 2, "two accepted applies, nothing else written");
    assert.equal(({} as Record<string, unknown>).polluted, undefined, "Object.prototype untouched");
    assert.equal((await fetch(`${node.base}/v1/cluster`)).status, 200);
  });
});

describe("hostile input, generated", () => {
  it("If-Match: only a decimal revision is read as one (property)", async (t) => {
    const node = await startRealNode(t);
    setDefaultAuthorization(`Bearer ${node.token()}`);
    const printable = fc.constantFrom(..."0123456789 +-.,eExX\"'W/*abc\t".split(""));
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: printable, maxLength: 24 }), async (value) => {
        const res = await rawRequest(node.httpPort, [httpRequest("PUT", "/v1/config/p", { "if-match": value }, "v")]);
        // The parser drops leading and trailing whitespace of a header value, as RFC 9110 says.
        const decimal = /^\d{1,15}$/.test(value.trim());
        if (decimal) assert.ok(res.status === 200 || res.status === 412, `${JSON.stringify(value)}: ${res.status}`);
        else assert.equal(res.status, 400, `${JSON.stringify(value)}: ${res.status} ${res.body}`);
      }),
      { numRuns: 300 },
    );
  });

  it("any text posted to /v1/apply gets 200, 400 or 413 within a second, never a 5xx (property)", async (t) => {
    const node = await startRealNode(t);
    setDefaultAuthorization(`Bearer ${node.token()}`);
    const valid = "apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: fuzz}\nspec: {ports: [{port: 80}]}\n";
    const yamlish = fc.constantFrom(..."&*!|>-?:,[]{}#%@`'\"\n \t0aZ.\\\u0000\u00e9".split(""));
    const body = fc.oneof(
      fc.string({ unit: yamlish, maxLength: 200 }),
      fc
        .tuple(fc.nat(valid.length), fc.string({ unit: yamlish, maxLength: 20 }))
        .map(([at, insert]) => valid.slice(0, at) + insert + valid.slice(at)),
    );
    // The parser thread starts with the first apply (yaml and the schemas load there): that start is not what this
    // property times, so one valid apply comes first.
    assert.equal((await rawRequest(node.httpPort, [httpRequest("POST", "/v1/apply", {}, valid)])).status, 200);
    await fc.assert(
      fc.asyncProperty(body, async (text) => {
        const res = await rawRequest(node.httpPort, [httpRequest("POST", "/v1/apply", {}, text)]);
        assert.ok([200, 400, 413].includes(res.status), `${JSON.stringify(text)}: ${res.status} ${res.body}`);
        assert.ok(res.ms < 1_000, `${JSON.stringify(text)}: ${res.ms} ms`);
      }),
      { numRuns: 300 },
    );
    assert.equal((await fetch(`${node.base}/v1/cluster`)).status, 200);
  });
});
