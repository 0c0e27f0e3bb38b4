import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ChunkedDecoder } from "../../../src/sidecar/engine/body.ts";
import { HttpError } from "../../../src/sidecar/engine/head.ts";
import { grpcStatusIn } from "../../../src/sidecar/stages/attempt.ts";

/** Feeds `wire` to a decoder in pieces of `step` bytes; returns the body, the trailers and whether it finished. */
function decode(wire: string, step = wire.length): { body: string; trailers: string; done: boolean } {
  const d = new ChunkedDecoder();
  let body = "";
  let done = false;
  const sink = {
    data: (c: Buffer) => {
      body += c.toString("latin1");
      return true;
    },
    end: () => {
      done = true;
    },
  };
  const buf = Buffer.from(wire, "latin1");
  for (let at = 0; at < buf.length && !done; at += step) d.push(buf.subarray(at, at + step), 0, sink);
  return { body, trailers: d.trailers, done };
}

describe("chunked trailers", () => {
  it("keeps the trailer lines, whatever the pieces the bytes came in", () => {
    const wire = "5\r\nhello\r\n0\r\ngrpc-status: 7\r\ngrpc-message: x\r\n\r\n";
    for (const step of [1, 2, 3, 7, wire.length]) {
      assert.deepEqual(decode(wire, step), {
        body: "hello",
        trailers: "grpc-status: 7\r\ngrpc-message: x\r\n",
        done: true,
      });
    }
  });

  it("has none when the body ends with the empty trailer section", () => {
    assert.deepEqual(decode("3\r\nabc\r\n0\r\n\r\n"), { body: "abc", trailers: "", done: true });
  });

  const hostile: [string, string][] = [
    ["a bare LF in a trailer", "0\r\ngrpc-status: 0\ninjected: 1\r\n\r\n"],
    ["a NUL in a trailer", "0\r\ngrpc-status: \u00000\r\n\r\n"],
    ["a bare CR in a trailer", "0\r\ngrpc-status: 0\rX\r\n\r\n"],
    ["a trailer section over its limit", `0\r\nx: ${"a".repeat(17 * 1024)}\r\n\r\n`],
  ];
  for (const [name, wire] of hostile) {
    it(`refuses ${name} (400), so nothing of it is passed on`, () => {
      assert.throws(
        () => decode(wire),
        (e: unknown) => e instanceof HttpError && e.status === 400,
      );
    });
  }
});

describe("grpcStatusIn", () => {
  it("reads grpc-status from trailer lines, any case, trimmed", () => {
    assert.equal(grpcStatusIn("grpc-status: 7\r\n"), "7");
    assert.equal(grpcStatusIn("x: 1\r\nGRPC-Status:14 \r\n"), "14");
    assert.equal(grpcStatusIn("grpc-message: grpc-status: 3\r\n"), undefined);
    assert.equal(grpcStatusIn(""), undefined);
  });
});
