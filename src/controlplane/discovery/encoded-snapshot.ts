import type { DiscoveryResponse } from "../../gen/meshlet/discovery/v1/DiscoveryResponse.ts";
import type { Snapshot } from "../../gen/meshlet/discovery/v1/Snapshot.ts";

/** Field 1 of DiscoveryResponse (`snapshot`) and field 2 of Snapshot (`nonce`), both length-delimited. */
const RESPONSE_SNAPSHOT_TAG = (1 << 3) | 2;
const SNAPSHOT_NONCE_TAG = (2 << 3) | 2;

function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    len++;
  }
  return len;
}

function writeVarint(buf: Buffer, at: number, n: number): number {
  while (n >= 0x80) {
    buf[at++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 0x80);
  }
  buf[at++] = n;
  return at;
}

function readVarint(buf: Uint8Array, at: number): { value: number; next: number } {
  let value = 0;
  let scale = 1;
  for (let i = at; i < buf.length; i++) {
    const byte = buf[i] ?? 0;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return { value, next: i + 1 };
    scale *= 0x80;
  }
  throw new Error("truncated varint in an encoded snapshot");
}

/**
 * A DiscoveryResponse carrying one scope's snapshot, encoded once per change and shared by every stream
 * with that scope: a stream adds only its nonce (a field may come after the others in protobuf), so a push
 * costs a copy of the bytes instead of a protobuf encoding of every resource for every sidecar.
 */
export class EncodedSnapshot {
  /** The Snapshot message's fields, without the nonce. */
  readonly #body: Uint8Array;

  /** `serialize` is the Stream method's response serializer (a DiscoveryResponse to its bytes). */
  constructor(snapshot: Omit<Snapshot, "nonce">, serialize: (response: DiscoveryResponse) => Uint8Array) {
    const bytes = serialize({ snapshot: { ...snapshot, nonce: "" } });
    if (bytes[0] !== RESPONSE_SNAPSHOT_TAG) throw new Error("a DiscoveryResponse without its snapshot field first");
    const { value: length, next } = readVarint(bytes, 1);
    if (next + length !== bytes.length) throw new Error("a DiscoveryResponse with more than its snapshot");
    this.#body = bytes.subarray(next);
  }

  /** The whole DiscoveryResponse for one stream. */
  withNonce(nonce: string): Buffer {
    const nonceBytes = Buffer.byteLength(nonce);
    const snapshotLength = this.#body.length + 1 + varintLength(nonceBytes) + nonceBytes;
    const out = Buffer.allocUnsafe(1 + varintLength(snapshotLength) + snapshotLength);
    out[0] = RESPONSE_SNAPSHOT_TAG;
    let at = writeVarint(out, 1, snapshotLength);
    out.set(this.#body, at);
    at += this.#body.length;
    out[at++] = SNAPSHOT_NONCE_TAG;
    at = writeVarint(out, at, nonceBytes);
    out.write(nonce, at, "utf8");
    return out;
  }
}
