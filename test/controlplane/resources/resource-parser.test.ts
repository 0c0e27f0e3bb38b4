import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DEFAULT_RESOURCE_LIMITS, NO_SIZE_LIMITS } from "../../../src/config/limits.ts";
import { ConfigError } from "../../../src/config/load.ts";
import { ResourceParser } from "../../../src/controlplane/resources/resource-parser.ts";

const SERVICE = "apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: web}\n";
/** Many small documents: slow enough to outlive a short deadline. */
const MANY = Array.from({ length: 9_000 }, (_, i) => SERVICE.replace("web", `web-${i}`)).join("---\n");

describe("ResourceParser (bodies parsed on a worker thread)", () => {
  it("returns the resources, or the ConfigError with its code and issues", async (t) => {
    const parser = new ResourceParser();
    t.after(() => parser.close());
    const [svc] = await parser.parse(SERVICE, "request", DEFAULT_RESOURCE_LIMITS, 10_000);
    assert.equal(svc?.metadata.name, "web");
    await assert.rejects(parser.parse(`${"[".repeat(100)}`, "request", DEFAULT_RESOURCE_LIMITS, 10_000), (err) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.code, "ERR_CONFIG_INVALID");
      assert.match(err.issues[0]?.message ?? "", /nested deeper than 64 levels/);
      return true;
    });
  });

  it("stops a parse at its deadline, and the next one still gets a thread", async (t) => {
    const parser = new ResourceParser();
    t.after(() => parser.close());
    const t0 = Date.now();
    await assert.rejects(parser.parse(MANY, "request", NO_SIZE_LIMITS, 50), { code: "ERR_TIMEOUT" });
    assert.ok(Date.now() - t0 < 2_000, `${Date.now() - t0} ms`);
    assert.equal((await parser.parse(SERVICE, "request", DEFAULT_RESOURCE_LIMITS, 10_000)).length, 1);
  });

  it("a parse that needs more than the thread's heap is refused as too large, the node's heap untouched", async (t) => {
    const parser = new ResourceParser({ heapMb: 8 });
    t.after(() => parser.close());
    await assert.rejects(parser.parse(MANY, "request", NO_SIZE_LIMITS, 60_000), {
      code: "ERR_TOO_LARGE",
      message: "parsing the request body needed more than 8 MB",
    });
  });
});
