import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { DEFAULT_HEAD_LIMITS, HttpError, headEnd, parseRequestHead } from "../../../src/sidecar/engine/head.ts";

function parse(fields: string): ReturnType<typeof parseRequestHead> {
  const buf = Buffer.from(`GET / HTTP/1.1\r\nHost: up\r\n${fields}\r\n`, "latin1");
  return parseRequestHead(buf, 0, headEnd(buf, 0), DEFAULT_HEAD_LIMITS);
}

const TCHAR = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

describe("engine head field names", () => {
  it("lower-cases every name (any upper-case letter, A and Z included) and keeps the sender's case aside", () => {
    const head = parse("A: 1\r\nZ: 2\r\nX-A: 3\r\naZ: 4\r\nMiXeD-CaSe: 5\r\n");
    assert.deepEqual(head.names, ["host", "a", "z", "x-a", "az", "mixed-case"]);
    assert.deepEqual(head.rawNames, ["Host", "A", "Z", "X-A", "aZ", "MiXeD-CaSe"]);
  });

  it("any token name parses to its lower-case form with its value intact (property)", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom(...TCHAR), minLength: 1, maxLength: 40 }),
        fc.string({ unit: fc.constantFrom(..."abc XYZ09-"), maxLength: 30 }),
        (name, value) => {
          const head = parse(`${name}: ${value}\r\n`);
          assert.equal(head.names[1], name.toLowerCase());
          assert.equal(head.rawNames[1], name);
          assert.equal(head.values[1], value.trim());
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("refuses obs-fold as such (400 ERR_OBS_FOLD), whether folded with a space or a tab", () => {
    for (const fold of [" ", "\t"]) {
      assert.throws(
        () => parse(`X-A: 1\r\n${fold}folded\r\n`),
        (e: unknown) => e instanceof HttpError && e.status === 400 && e.code === "ERR_OBS_FOLD",
      );
    }
  });
});
