/**
 * Stored values are the UTF-8 bytes of their text, one latin1 char per byte; ASCII text skips the conversion
 * (value.ts). Whatever the path, the stored form must be exactly those bytes, and reading it back the text.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { storedBytes, storedFromText, storedText } from "../../../src/controlplane/state/value.ts";

/** The definition: the UTF-8 bytes as latin1 chars. */
const reference = (text: string) => Buffer.from(text, "utf8").toString("latin1");

test("stored values: ASCII and non-ASCII text store as their UTF-8 bytes and read back", () => {
  for (const text of [
    "",
    '{"a":1}',
    "\u0000\u007f",
    "\u0080",
    "é",
    "ÿ",
    "名前",
    "😀",
    "a\ud800b", // a lone surrogate: UTF-8 has no form for it, Node writes U+FFFD
    `${"x".repeat(5000)}é`,
  ]) {
    const stored = storedFromText(text);
    assert.equal(stored, reference(text), JSON.stringify(text));
    assert.deepEqual(storedBytes(stored), Buffer.from(text, "utf8"));
    assert.equal(storedText(stored), Buffer.from(text, "utf8").toString("utf8"));
  }
});

test("stored values: any string, stored and read back, as the Buffer round trip does", () => {
  fc.assert(
    fc.property(fc.string({ unit: "binary", maxLength: 64 }), (text) => {
      const stored = storedFromText(text);
      assert.equal(stored, reference(text));
      assert.equal(storedText(stored), Buffer.from(reference(text), "latin1").toString("utf8"));
    }),
    { numRuns: 2000 },
  );
});
