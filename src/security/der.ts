/**
 * A DER encoder for the few types of the sidecar's certificate request
 * (csr-request.ts): SEQUENCE, SET, OBJECT IDENTIFIER, INTEGER, BIT STRING,
 * OCTET STRING and context-specific tags. Encoding only, never parsing: what
 * arrives from elsewhere is read by @peculiar/x509 on the control plane.
 * It exists so that a sidecar need not load @peculiar/x509 (and its
 * dependency-injection and ASN.1 schema packages) to ask for a certificate.
 */

/** X.690 §8.1.3: short form below 128, else the byte count then the big-endian length, minimal. */
function lengthBytes(n: number): number[] {
  if (n < 0x80) return [n];
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return [0x80 | bytes.length, ...bytes];
}

function tlv(tag: number, content: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([tag, ...lengthBytes(content.length)]), content]);
}

export function sequence(...items: Uint8Array[]): Buffer {
  return tlv(0x30, Buffer.concat(items));
}

/** A SET OF in DER sorts its elements by their encodings (X.690 §11.6). */
export function setOf(...items: Uint8Array[]): Buffer {
  return tlv(0x31, Buffer.concat([...items].sort(Buffer.compare)));
}

/** A non-negative INTEGER small enough for a JavaScript number (the CSR's version). */
export function integer(n: number): Buffer {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`DER integer out of range: ${n}`);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  // A leading 1 bit would read as negative: pad with a zero byte.
  if (bytes.length === 0 || (bytes[0] as number) & 0x80) bytes.unshift(0);
  return tlv(0x02, Buffer.from(bytes));
}

/** Dotted notation to X.690 §8.19: the first two arcs in one value, then base-128 with continuation bits. */
export function objectIdentifier(dotted: string): Buffer {
  const arcs = dotted.split(".").map((a) => {
    if (!/^(0|[1-9][0-9]*)$/.test(a)) throw new RangeError(`not an OID: ${dotted}`);
    return Number(a);
  });
  const [first, second, ...rest] = arcs;
  if (first === undefined || second === undefined || first > 2 || (first < 2 && second > 39))
    throw new RangeError(`not an OID: ${dotted}`);
  const bytes: number[] = [];
  for (const arc of [first * 40 + second, ...rest]) {
    if (!Number.isSafeInteger(arc)) throw new RangeError(`OID arc too large: ${dotted}`);
    const group = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) group.unshift((v & 0x7f) | 0x80);
    bytes.push(...group);
  }
  return tlv(0x06, Buffer.from(bytes));
}

/** A BIT STRING of whole bytes: the unused-bits count is 0. */
export function bitString(bytes: Uint8Array): Buffer {
  return tlv(0x03, Buffer.concat([Buffer.from([0]), bytes]));
}

export function octetString(bytes: Uint8Array): Buffer {
  return tlv(0x04, bytes);
}

/** [n] IMPLICIT over a constructed type (the CSR's attributes). */
export function contextConstructed(n: number, ...items: Uint8Array[]): Buffer {
  if (n < 0 || n > 30) throw new RangeError(`context tag out of range: ${n}`);
  return tlv(0xa0 | n, Buffer.concat(items));
}

/** [n] IMPLICIT over a primitive type (a GeneralName's uniformResourceIdentifier is [6] IA5String). */
export function contextPrimitive(n: number, bytes: Uint8Array): Buffer {
  if (n < 0 || n > 30) throw new RangeError(`context tag out of range: ${n}`);
  return tlv(0x80 | n, bytes);
}
