import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  bitString,
  contextConstructed,
  contextPrimitive,
  integer,
  objectIdentifier,
  octetString,
  sequence,
  setOf,
} from "../../src/security/der.ts";
import { derProblem } from "../../src/security/der-check.ts";

const bytes = (h: string) => Buffer.from(h.replace(/ /g, ""), "hex");

describe("derProblem", () => {
  it("accepts DER values", () => {
    for (const h of [
      "3000",
      "020100",
      "02017f",
      "02020080",
      "0201ff",
      "02028000",
      "0101ff",
      "010100",
      "0500",
      "0603551d11",
      "030100",
      "030206c0",
      "0400",
      "0c03e282ac",
      "130a41636d6520496e632e2d",
      "160141",
      "170d3236313230333132303030305a",
      "180f32303236313230333132303030305a",
      "181132303236313230333132303030302e355a",
      "31 06 020101 020102",
      "31 06 020101 020101",
      "a0 03 020100",
      "9f1f 00",
      "bf8100 00",
      `30 81 80 ${"0500".repeat(64)}`,
      `04 82 0100 ${"00".repeat(256)}`,
    ])
      assert.equal(derProblem(bytes(h)), undefined, h);
  });

  it("refuses what BER allows and DER does not, and what is not one value", () => {
    const cases: [string, string, RegExp][] = [
      ["empty input", "", /truncated/],
      ["indefinite length", "3080 020100 0000", /indefinite/],
      ["long-form length under 128", "308103 020100", /long form/],
      ["length with a leading zero byte", "30820003 020100", /leading zero/],
      ["length in five bytes", "30850000000003 020100", /5 bytes/],
      ["length past the end", "3005 020100", /past the enclosing/],
      ["inner length past its parent", "3003 020200", /past the enclosing|truncated/],
      ["a byte after the value", "3000 00", /1 bytes after/],
      ["INTEGER with a redundant zero byte", "02020001", /INTEGER not minimal/],
      ["INTEGER with a redundant 0xFF byte", "0202ff80", /INTEGER not minimal/],
      ["empty INTEGER", "0200", /empty INTEGER/],
      ["BOOLEAN TRUE as 0x01", "010101", /BOOLEAN/],
      ["BOOLEAN in two bytes", "01020000", /BOOLEAN/],
      ["NULL with content", "050100", /NULL/],
      ["BIT STRING with 8 unused bits", "030208ff", /unused-bits count/],
      ["empty BIT STRING with unused bits", "030101", /unused-bits count/],
      ["BIT STRING with nonzero unused bits", "030201ff", /unused bits not zero/],
      ["constructed OCTET STRING (BER segments)", "2404 0402 0102", /constructed/],
      ["primitive SEQUENCE", "1000", /primitive/],
      ["OID arc with a leading 0x80", "0603 55 801d", /arc not minimal/],
      ["OID ending mid-arc", "0602 5586", /truncated/],
      ["unsorted SET OF", "31 06 020102 020101", /out of order/],
      ["universal tag 0 (end of contents)", "0000", /tag 0/],
      ["high tag number below 31", "9f05 00", /long form/],
      ["high tag number with a leading zero group", "9f8020 00", /leading zero group/],
      ["UTF8String not UTF-8", "0c02c328", /UTF-8/],
      ["PrintableString with '@'", "130140", /PrintableString/],
      ["IA5String with a high byte", "1601e9", /7-bit/],
      ["UTCTime without seconds", "170b323631323033313230305a", /UTCTime/],
      ["GeneralizedTime with a trailing zero fraction", "181132303236313230333132303030302e305a", /GeneralizedTime/],
      ["BMPString of odd length", "1e0100", /BMPString/],
    ];
    for (const [name, h, why] of cases) assert.match(derProblem(bytes(h)) ?? "accepted", why, name);
  });

  it("bounds the nesting it follows", () => {
    const nested = (n: number): Buffer => {
      let b = Buffer.from([0x05, 0x00]);
      for (let i = 0; i < n; i++) b = Buffer.concat([Buffer.from([0x30, b.length]), b]);
      return b;
    };
    assert.equal(derProblem(nested(32)), undefined);
    assert.match(derProblem(nested(33)) ?? "accepted", /nested deeper/);
  });

  it("property: everything the DER encoder builds is accepted", () => {
    const { tree } = fc.letrec<{ tree: Buffer; leaf: Buffer }>((tie) => ({
      leaf: fc.oneof(
        fc.nat().map(integer),
        fc.uint8Array({ maxLength: 300 }).map((b) => octetString(b)),
        fc.uint8Array({ maxLength: 40 }).map((b) => bitString(b)),
        fc.array(fc.nat(), { minLength: 1, maxLength: 6 }).map((arcs) => objectIdentifier(`1.3.${arcs.join(".")}`)),
        fc.string({ maxLength: 200 }).map((s) => contextPrimitive(6, Buffer.from(s, "latin1"))),
      ),
      tree: fc.oneof(
        { depthSize: "small", withCrossShrink: true },
        tie("leaf"),
        fc.array(tie("tree"), { maxLength: 5 }).map((items) => sequence(...items)),
        fc.array(tie("tree"), { maxLength: 5 }).map((items) => setOf(...items)),
        fc.array(tie("tree"), { maxLength: 3 }).map((items) => contextConstructed(0, ...items)),
      ),
    }));
    fc.assert(
      fc.property(tree, (der) => assert.equal(derProblem(der), undefined, der.toString("hex"))),
      { numRuns: 2000 },
    );
  });

  it("property: arbitrary bytes give an answer, never an exception", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (input) => {
        const problem = derProblem(input);
        assert.ok(problem === undefined || typeof problem === "string");
      }),
      { numRuns: 5000 },
    );
  });
});
