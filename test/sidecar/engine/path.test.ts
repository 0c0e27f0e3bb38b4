import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { type EscapedSlashes, normalizePath } from "../../../src/sidecar/engine/path.ts";

const CASES: [string, { merge?: boolean; slashes?: EscapedSlashes }, string | undefined][] = [
  ["/a/b", {}, "/a/b"],
  ["/public/../secret", {}, "/secret"],
  ["/public/%2e%2e/secret", {}, "/secret"],
  ["/public/%2E%2E/secret", {}, "/secret"],
  ["/public/.%2e/secret", {}, "/secret"],
  ["/a/./b/.", {}, "/a/b/"],
  ["/a/b/..", {}, "/a/"],
  ["/../../x", {}, "/x"],
  ["/..", {}, "/"],
  ["/a/%7Euser", {}, "/a/~user"],
  ["/a/%41%5a", {}, "/a/AZ"],
  ["/a%3a%3F", {}, "/a%3A%3F"],
  ["/a//b", {}, "/a//b"],
  ["/a//b///c", { merge: true }, "/a/b/c"],
  ["/a%2fb", {}, "/a%2Fb"],
  ["/a%2fb", { slashes: "reject" }, undefined],
  ["/a%5Cb", { slashes: "reject" }, undefined],
  ["/a%2fb", { slashes: "decode" }, "/a/b"],
  ["/public%2f..%2fsecret", { slashes: "decode" }, "/secret"],
  ["/a%2f%2fb", { slashes: "decode", merge: true }, "/a/b"],
  ["/a%zz", {}, undefined],
  ["/a%2", {}, undefined],
  ["a/b", {}, undefined],
];

test("path normalization table (dot segments, unreserved escapes, merge slashes, escaped slashes)", () => {
  for (const [input, o, want] of CASES) {
    const got = normalizePath(input, { mergeSlashes: o.merge === true, escapedSlashes: o.slashes ?? "keep" });
    assert.equal(got, want, `${input} ${JSON.stringify(o)}`);
  }
});

test("property: a normalized path has no dot segment, and normalizing it again changes nothing", () => {
  fc.assert(
    fc.property(
      fc.stringMatching(/^\/(?:[a-z./]|%2[eE]|%2[fF]|%41)*$/),
      fc.boolean(),
      fc.constantFrom<EscapedSlashes>("keep", "decode"),
      (p, merge, slashes) => {
        const o = { mergeSlashes: merge, escapedSlashes: slashes };
        const n = normalizePath(p, o);
        assert.ok(n !== undefined);
        assert.ok(!/\/\.\.?(\/|$)/.test(n), n);
        assert.equal(normalizePath(n, o), n);
      },
    ),
    { numRuns: 2_000 },
  );
});
