/**
 * Test helper: re-encodes our own valid DER with one element changed into a
 * BER-only form of the same value, for tests that a DER check refuses every
 * such variant.
 */
import { octetString } from "../../src/security/der.ts";

/** A TLV tree of our own valid DER, with each extension value's OCTET STRING opened, for re-encoding with one change. */
export interface Node {
  tag: Buffer;
  constructed: boolean;
  content: Buffer;
  children?: Node[];
  /** An OCTET STRING whose content is DER: its children are that content. */
  wraps?: boolean;
}

export function readTree(b: Buffer): Node[] {
  const nodes: Node[] = [];
  for (let at = 0; at < b.length; ) {
    let p = at + 1;
    // A high tag number continues while the top bit is set.
    if (((b[at] as number) & 0x1f) === 0x1f) while (((b[p++] as number) & 0x80) !== 0);
    const tag = b.subarray(at, p);
    const first = b[p] as number;
    const lengthBytes = first < 0x80 ? 0 : first & 0x7f;
    const length = lengthBytes === 0 ? first : b.readUIntBE(p + 1, lengthBytes);
    const start = p + 1 + lengthBytes;
    const content = b.subarray(start, start + length);
    const node: Node = { tag, constructed: ((tag[0] as number) & 0x20) !== 0, content };
    if (node.constructed) node.children = readTree(content);
    else if (tag[0] === 0x04 && content[0] === 0x30) {
      node.children = readTree(content);
      node.wraps = true;
    }
    nodes.push(node);
    at = start + length;
  }
  return nodes;
}

export type Change = "long length" | "indefinite length" | "padded INTEGER" | "BOOLEAN TRUE as 0x01";

export function changesFor(node: Node): Change[] {
  const changes: Change[] = ["long length"];
  if (node.constructed) changes.push("indefinite length");
  if (node.tag[0] === 0x02) changes.push("padded INTEGER");
  if (node.tag[0] === 0x01 && node.content[0] === 0xff) changes.push("BOOLEAN TRUE as 0x01");
  return changes;
}

/** Encodes `nodes` again, minimally, except `target` gets `change`: the same abstract value in BER, not DER. */
export function write(nodes: Node[], target: Node, change: Change): Buffer {
  return Buffer.concat(
    nodes.map((n) => {
      let content = n.children === undefined ? n.content : write(n.children, target, change);
      if (n !== target) return n.wraps ? octetString(content) : tlvMinimal(n.tag, content);
      if (change === "indefinite length")
        return Buffer.concat([n.tag, Buffer.from([0x80]), content, Buffer.from([0, 0])]);
      if (change === "padded INTEGER")
        content = Buffer.concat([Buffer.from([(content[0] as number) < 0x80 ? 0 : 0xff]), content]);
      if (change === "BOOLEAN TRUE as 0x01") content = Buffer.from([1]);
      if (change !== "long length") return tlvMinimal(n.tag, content);
      const size = content.length;
      return Buffer.concat([
        n.tag,
        Buffer.from(size < 0x80 ? [0x81, size] : size < 0x100 ? [0x82, 0, size] : [0x83, 0, size >> 8, size & 0xff]),
        content,
      ]);
    }),
  );
}

function tlvMinimal(tag: Buffer, content: Buffer): Buffer {
  const n = content.length;
  const length = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return Buffer.concat([tag, Buffer.from(length), content]);
}

export function preorder(nodes: Node[], out: Node[] = []): Node[] {
  for (const n of nodes) {
    out.push(n);
    if (n.children !== undefined) preorder(n.children, out);
  }
  return out;
}
