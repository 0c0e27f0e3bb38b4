import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { ConfigError } from "../../src/config/load.ts";
import { MAX_CONFIG_FILE_BYTES, StaticFileSource } from "../../src/sidecar/static-file-source.ts";

function tmpFile(t: { after: (fn: () => void) => void }, content: string | Buffer): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "meshlet-static-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, "mesh.yaml");
  fs.writeFileSync(file, content);
  return file;
}

const SERVICE = "apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: web}\n";

describe("the sidecar's static config file", () => {
  it("is read up to its limit; one byte more is refused with the size and the limit", async (t) => {
    const atLimit = `${SERVICE}#${"x".repeat(200 - SERVICE.length - 2)}\n`;
    assert.equal(Buffer.byteLength(atLimit), 200);
    const ok = await new StaticFileSource(tmpFile(t, atLimit), 200).load();
    assert.equal(ok.resources.length, 1);
    const over = tmpFile(t, `${atLimit} `);
    await assert.rejects(new StaticFileSource(over, 200).load(), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.code, "ERR_TOO_LARGE");
      assert.equal(
        err.message,
        `${over} is 201 bytes; a static config may hold at most 200 bytes (what one apply may)`,
      );
      return true;
    });
  });

  it("a 50 MB file is refused at once, without reading it all", async (t) => {
    const file = tmpFile(t, Buffer.alloc(50 * 1024 * 1024, "#"));
    const before = process.memoryUsage().rss;
    const t0 = performance.now();
    await assert.rejects(
      new StaticFileSource(file).load(),
      /is 52428800 bytes; a static config may hold at most 4194304/,
    );
    assert.ok(performance.now() - t0 < 2_000, `${performance.now() - t0} ms`);
    assert.ok(process.memoryUsage().rss - before < MAX_CONFIG_FILE_BYTES * 4, "read far more than the limit");
  });

  it("bytes that are not UTF-8 are refused, not replaced", async (t) => {
    const file = tmpFile(t, Buffer.concat([Buffer.from(SERVICE.replace("web", "we")), Buffer.from([0xff])]));
    await assert.rejects(new StaticFileSource(file).load(), /is not valid UTF-8/);
  });

  it("a ConfigRelease is refused with its name: releases are made on the control plane, in a file it would do nothing", async (t) => {
    const release =
      "apiVersion: meshlet.dev/v1\nkind: ConfigRelease\nmetadata: {name: c}\nspec: {key: app/flag, value: x, selector: {percent: 5}}\n";
    const file = tmpFile(t, `${SERVICE}---\n${release}`);
    await assert.rejects(new StaticFileSource(file).load(), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /ConfigRelease\/c: config releases are made on the control plane/);
      return true;
    });
  });
});
