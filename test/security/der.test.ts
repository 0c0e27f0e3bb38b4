import assert from "node:assert/strict";
import { describe, it } from "node:test";
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

const hex = (b: Buffer) => b.toString("hex");

describe("DER encoder", () => {
  it("encodes each value as X.690's DER examples and OpenSSL do", () => {
    const cases: [string, Buffer, string][] = [
      ["INTEGER 0", integer(0), "020100"],
      ["INTEGER 127", integer(127), "02017f"],
      ["INTEGER 128 (a zero byte keeps it positive)", integer(128), "02020080"],
      ["INTEGER 256", integer(256), "02020100"],
      ["OID rsadsi", objectIdentifier("1.2.840.113549"), "06062a864886f70d"],
      ["OID subjectAltName", objectIdentifier("2.5.29.17"), "0603551d11"],
      ["OID extensionRequest", objectIdentifier("1.2.840.113549.1.9.14"), "06092a864886f70d01090e"],
      ["OID ecdsa-with-SHA256", objectIdentifier("1.2.840.10045.4.3.2"), "06082a8648ce3d040302"],
      ["OID with a first arc of 2 and a large second", objectIdentifier("2.999.3"), "0603883703"],
      ["empty SEQUENCE", sequence(), "3000"],
      ["BIT STRING", bitString(Buffer.from([0xab])), "030200ab"],
      ["OCTET STRING", octetString(Buffer.from([1, 2])), "04020102"],
      ["[0] constructed", contextConstructed(0, integer(1)), "a003020101"],
      ["[6] primitive", contextPrimitive(6, Buffer.from("a")), "860161"],
      ["SET OF sorted by encoding", setOf(integer(2), integer(1)), "3106020101020102"],
    ];
    for (const [name, got, want] of cases) assert.equal(hex(got), want, name);
  });

  it("uses the shortest length form at each boundary", () => {
    const cases: [number, string][] = [
      [0, "0400"],
      [127, "047f"],
      [128, "048180"],
      [255, "0481ff"],
      [256, "04820100"],
      [65_536, "0483010000"],
    ];
    for (const [n, head] of cases)
      assert.equal(hex(octetString(Buffer.alloc(n))).slice(0, head.length), head, `length ${n}`);
  });

  it("refuses what it cannot encode", () => {
    for (const bad of ["", "1", "3.1", "1.40", "1.2.a", "1.02", "1..2"])
      assert.throws(() => objectIdentifier(bad), RangeError, bad);
    assert.throws(() => integer(-1), RangeError);
    assert.throws(() => integer(1.5), RangeError);
    assert.throws(() => contextPrimitive(31, Buffer.alloc(0)), RangeError);
  });
});
