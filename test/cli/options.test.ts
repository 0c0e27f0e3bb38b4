import assert from "node:assert/strict";
import { describe, it, test } from "node:test";
import { byteSizeFlag, DEFAULT_SERVER, serverUrl } from "../../src/cli/options.ts";
import { UsageError } from "../../src/common/errors.ts";

describe("size flags (--max-resource-bytes, --max-apply-bytes, --max-value-size)", () => {
  const size = byteSizeFlag("--max-x");

  it("take bytes or binary units, as Kubernetes' Ki/Mi", () => {
    for (const [text, bytes] of [
      ["1048576", 1_048_576],
      ["512KiB", 512 * 1024],
      ["512k", 512 * 1024],
      ["2MiB", 2 * 1024 * 1024],
      ["2 mb", 2 * 1024 * 1024],
      ["7b", 7],
    ] as const)
      assert.equal(size(text), bytes, text);
  });

  it("refuse what is not a whole positive size, naming the flag", () => {
    for (const text of ["0", "", "-1", "1.5MiB", "1e6", "0x10", "2GiB2", "2TiB", "9".repeat(20)])
      assert.throws(
        () => size(text),
        (err: unknown) => err instanceof UsageError && err.message.startsWith("--max-x: expected a size"),
        text,
      );
  });
});

test("--server: https by default, a bare HOST:PORT means https, an explicit http:// (an --insecure node) is kept", () => {
  assert.equal(DEFAULT_SERVER, "https://127.0.0.1:15014");
  assert.equal(serverUrl("10.0.0.1:15014"), "https://10.0.0.1:15014");
  assert.equal(serverUrl("http://10.0.0.1:15014"), "http://10.0.0.1:15014");
  assert.equal(serverUrl("https://control.example:443"), "https://control.example:443");
});
