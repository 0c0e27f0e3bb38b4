import assert from "node:assert/strict";
import { readdir, readlink } from "node:fs/promises";
import { connect } from "node:net";
import { after, before, test } from "node:test";
import fc from "fast-check";
import { type RunningSidecar, send, service, startSidecar, startUpstream, type Upstream } from "../../helpers.ts";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** One HTTP/2 frame (RFC 9113 §4.1). */
function frame(type: number, flags: number, stream: number, payload: Buffer | number[] = []): Buffer {
  const p = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const h = Buffer.alloc(9);
  h.writeUIntBE(p.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream >>> 0, 5);
  return Buffer.concat([h, p]);
}

const DATA = 0;
const HEADERS = 1;
const RST = 3;
const SETTINGS = 4;
const PING = 6;
const WINDOW_UPDATE = 8;
const CONTINUATION = 9;
const END_STREAM = 1;
const END_HEADERS = 4;

/** HPACK: an indexed field, or a literal without indexing (new name). */
const idx = (i: number) => [0x80 | i];
function lit(name: string, value: string): number[] {
  return [0x00, name.length, ...Buffer.from(name), value.length, ...Buffer.from(value)];
}
/** GET / http, authority "plain". */
const GOOD_HEAD = [...idx(2), ...idx(4), ...idx(6), 0x41, 5, ...Buffer.from("plain")];
const settings = frame(SETTINGS, 0, 0);

const CASES: [string, Buffer][] = [
  ["half a preface, then close", PREFACE.subarray(0, 10)],
  ["the preface, then bytes that are no frame", Buffer.concat([PREFACE, Buffer.from("GET / HTTP/1.1\r\n\r\n")])],
  ["a preface with a wrong tail (served as HTTP/1.x and refused)", Buffer.from("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n")],
  [
    "a frame longer than the max frame size",
    Buffer.concat([PREFACE, settings, frame(DATA, 0, 1, Buffer.alloc(70_000))]),
  ],
  [
    "HEADERS with bad HPACK",
    Buffer.concat([PREFACE, settings, frame(HEADERS, END_HEADERS | END_STREAM, 1, [0xff, 0xff, 0xff, 0xff])]),
  ],
  ["HEADERS on stream 0", Buffer.concat([PREFACE, settings, frame(HEADERS, END_HEADERS | END_STREAM, 0, GOOD_HEAD)])],
  [
    "HEADERS on an even (server) stream id",
    Buffer.concat([PREFACE, settings, frame(HEADERS, END_HEADERS | END_STREAM, 2, GOOD_HEAD)]),
  ],
  [
    "HEADERS without :path",
    Buffer.concat([
      PREFACE,
      settings,
      frame(HEADERS, END_HEADERS | END_STREAM, 1, [...idx(2), ...idx(6), 0x41, 5, ...Buffer.from("plain")]),
    ]),
  ],
  [
    "an upper-case field name",
    Buffer.concat([
      PREFACE,
      settings,
      frame(HEADERS, END_HEADERS | END_STREAM, 1, [...GOOD_HEAD, ...lit("X-Up", "1")]),
    ]),
  ],
  [
    "a connection-specific field",
    Buffer.concat([
      PREFACE,
      settings,
      frame(HEADERS, END_HEADERS | END_STREAM, 1, [...GOOD_HEAD, ...lit("connection", "close")]),
    ]),
  ],
  [
    "CONNECT",
    Buffer.concat([
      PREFACE,
      settings,
      frame(HEADERS, END_HEADERS | END_STREAM, 1, [...lit(":method", "CONNECT"), 0x41, 5, ...Buffer.from("plain")]),
    ]),
  ],
  [
    "a bad content-length",
    Buffer.concat([
      PREFACE,
      settings,
      frame(HEADERS, END_HEADERS, 1, [
        ...idx(3),
        ...idx(4),
        ...idx(6),
        0x41,
        5,
        ...Buffer.from("plain"),
        ...lit("content-length", "1x"),
      ]),
      frame(DATA, END_STREAM, 1, [1]),
    ]),
  ],
  [
    "DATA past content-length",
    Buffer.concat([
      PREFACE,
      settings,
      frame(HEADERS, END_HEADERS, 1, [
        ...idx(3),
        ...idx(4),
        ...idx(6),
        0x41,
        5,
        ...Buffer.from("plain"),
        ...lit("content-length", "2"),
      ]),
      frame(DATA, END_STREAM, 1, Buffer.alloc(10)),
    ]),
  ],
  ["DATA on an idle stream", Buffer.concat([PREFACE, settings, frame(DATA, END_STREAM, 7, [1, 2, 3])])],
  ["WINDOW_UPDATE of 0", Buffer.concat([PREFACE, settings, frame(WINDOW_UPDATE, 0, 0, [0, 0, 0, 0])])],
  ["SETTINGS with a bad length", Buffer.concat([PREFACE, frame(SETTINGS, 0, 0, [0, 1, 0])])],
  ["CONTINUATION without HEADERS", Buffer.concat([PREFACE, settings, frame(CONTINUATION, END_HEADERS, 1, GOOD_HEAD)])],
  [
    "a CONTINUATION flood (2,000 frames, never END_HEADERS)",
    Buffer.concat([
      PREFACE,
      settings,
      frame(HEADERS, 0, 1, GOOD_HEAD),
      ...Array.from({ length: 2_000 }, () => frame(CONTINUATION, 0, 1, lit("x-pad", "y".repeat(60)))),
    ]),
  ],
  [
    "rapid reset (500 streams opened and reset)",
    Buffer.concat([
      PREFACE,
      settings,
      ...Array.from({ length: 500 }, (_, i) =>
        Buffer.concat([
          frame(HEADERS, END_HEADERS | END_STREAM, 2 * i + 1, GOOD_HEAD),
          frame(RST, 0, 2 * i + 1, [0, 0, 0, 8]),
        ]),
      ),
    ]),
  ],
  [
    "a PING flood (2,000 pings)",
    Buffer.concat([PREFACE, settings, ...Array.from({ length: 2_000 }, () => frame(PING, 0, 0, Buffer.alloc(8)))]),
  ],
];

let up: Upstream;
let sc: RunningSidecar;

before(async () => {
  up = await startUpstream((req, res) => {
    req.resume();
    req.on("end", () => res.end("ok"));
  });
  sc = await startSidecar(service("plain", [{ port: up.port }]));
});

after(async () => {
  await sc?.stop();
  await up?.close();
});

/** Sends `bytes` on a fresh connection, reads whatever comes back for up to 300 ms, then closes. */
function hostile(port: number, bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      resolve();
    };
    const timer = setTimeout(done, 300);
    s.on("error", done);
    s.on("close", done);
    s.on("data", () => {});
    s.write(bytes);
  });
}

/** The sidecar's open sockets (its /proc fd table): what a leak would grow. */
async function sockets(pid: number): Promise<number> {
  let n = 0;
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => "");
    if (target.startsWith("socket:")) n++;
  }
  return n;
}

async function settle(pid: number, baseline: number): Promise<number> {
  let n = await sockets(pid);
  for (let i = 0; i < 50 && n > baseline; i++) {
    await new Promise((r) => setTimeout(r, 100));
    n = await sockets(pid);
  }
  return n;
}

test("hostile HTTP/2 input: no crash, no leaked socket, the listener still serves both protocols", async () => {
  const pid = sc.proc.pid as number;
  // Warm the upstream pool so its socket is part of the baseline.
  assert.equal((await send(sc.outbound, { headers: { host: "plain" } })).status, 200);
  const baseline = await sockets(pid);
  for (const [name, bytes] of CASES) {
    await hostile(sc.outbound, bytes);
    await hostile(sc.inbound, bytes);
    assert.equal(sc.proc.exitCode, null, `sidecar exited after: ${name}`);
    assert.equal((await send(sc.outbound, { headers: { host: "plain" } })).status, 200, `after: ${name}`);
  }
  const left = await settle(pid, baseline);
  assert.ok(left <= baseline, `sockets: ${left} after, ${baseline} before`);
  assert.doesNotMatch(sc.logs(), /uncaught|unhandled/i);
});

test("random frames after the preface (fast-check): no crash, no leak", async () => {
  const pid = sc.proc.pid as number;
  const baseline = await sockets(pid);
  const frameArb = fc
    .record({
      type: fc.integer({ min: 0, max: 12 }),
      flags: fc.integer({ min: 0, max: 255 }),
      stream: fc.integer({ min: 0, max: 9 }),
      payload: fc.uint8Array({ maxLength: 64 }),
    })
    .map((f) => frame(f.type, f.flags, f.stream, Buffer.from(f.payload)));
  await fc.assert(
    fc.asyncProperty(fc.array(frameArb, { minLength: 1, maxLength: 8 }), fc.boolean(), async (frames, withSettings) => {
      await hostile(sc.outbound, Buffer.concat([PREFACE, ...(withSettings ? [settings] : []), ...frames]));
      return sc.proc.exitCode === null;
    }),
    { numRuns: 60 },
  );
  assert.equal((await send(sc.outbound, { headers: { host: "plain" } })).status, 200);
  const left = await settle(pid, baseline);
  assert.ok(left <= baseline, `sockets: ${left} after, ${baseline} before`);
});
