import { randomFillSync } from "node:crypto";

/**
 * Request ids and trace and span ids are made 64 at a time into one string of fixed-width entries, from one
 * getrandom call: a request takes its value as one slice of that string (which V8 keeps as a view, not a
 * copy) instead of a string built from parts per request.
 */
const BATCH = 64;
const HEX = Buffer.from("0123456789abcdef", "latin1");
const VARIANT = Buffer.from("89ab", "latin1");
/** Template characters: a random hex digit, and a random RFC 9562 variant digit. */
const RANDOM_HEX = "x".charCodeAt(0);
const RANDOM_VARIANT = "v".charCodeAt(0);

export class RandomPool {
  readonly #width: number;
  /** Where the random digits go in the batch; the template's fixed characters are written once. */
  readonly #hexAt: Uint32Array;
  readonly #variantAt: Uint32Array;
  /** One random byte gives two hex digits, or one variant digit. */
  readonly #random: Buffer;
  readonly #out: Buffer;
  #values = "";
  #offset = 0;

  constructor(template: string) {
    this.#width = template.length;
    this.#out = Buffer.from(template.repeat(BATCH), "latin1");
    const hexAt: number[] = [];
    const variantAt: number[] = [];
    this.#out.forEach((c, i) => {
      if (c === RANDOM_HEX) hexAt.push(i);
      else if (c === RANDOM_VARIANT) variantAt.push(i);
    });
    this.#hexAt = Uint32Array.from(hexAt);
    this.#variantAt = Uint32Array.from(variantAt);
    this.#random = Buffer.allocUnsafe(Math.ceil(hexAt.length / 2) + variantAt.length);
  }

  next(): string {
    if (this.#offset === this.#values.length) this.#refill();
    const o = this.#offset;
    this.#offset += this.#width;
    return this.#values.slice(o, this.#offset);
  }

  #refill(): void {
    const r = randomFillSync(this.#random);
    const out = this.#out;
    const hexAt = this.#hexAt;
    let k = 0;
    for (let i = 0; i < hexAt.length; i += 2) {
      const b = r[k++] as number;
      out[hexAt[i] as number] = HEX[b >> 4] as number;
      if (i + 1 < hexAt.length) out[hexAt[i + 1] as number] = HEX[b & 15] as number;
    }
    for (const at of this.#variantAt) out[at] = VARIANT[(r[k++] as number) & 3] as number;
    this.#values = out.toString("latin1");
    this.#offset = 0;
  }
}

/** Where new ids come from: request ids, and trace and span ids of the spans the sidecar starts. */
export interface IdSource {
  /** A random (version 4) UUID, as Envoy generates for x-request-id. */
  requestId(): string;
  /** 32 lower-case hex digits. */
  traceId(): string;
  /** 16 lower-case hex digits. */
  spanId(): string;
}

/** Ids from the operating system's random source, batched (RandomPool). */
export function randomIds(): IdSource {
  const requestIds = new RandomPool("xxxxxxxx-xxxx-4xxx-vxxx-xxxxxxxxxxxx");
  const traceIds = new RandomPool("x".repeat(32));
  const spanIds = new RandomPool("x".repeat(16));
  return {
    requestId: () => requestIds.next(),
    traceId: () => nonZero(traceIds),
    spanId: () => nonZero(spanIds),
  };
}

const ZEROS = /^0+$/;

/** All zeros is an invalid W3C id (a chance of 2^-64 at most): drawn again. */
function nonZero(pool: RandomPool): string {
  let id = pool.next();
  while (ZEROS.test(id)) id = pool.next();
  return id;
}
