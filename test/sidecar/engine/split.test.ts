import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import { test } from "node:test";
import fc from "fast-check";
import type { EngineRequest } from "../../../src/sidecar/engine/request.ts";
import type { EngineResponse } from "../../../src/sidecar/engine/response.ts";
import { Connection, DEFAULT_ENGINE_OPTIONS, type EngineServer } from "../../../src/sidecar/engine/server.ts";

/** A socket the test drives by hand: every `feed` is one `data` event, every write is recorded. */
class FakeSocket extends EventEmitter {
  out = "";
  remoteAddress = "127.0.0.1";
  writable = true;
  destroyed = false;
  setNoDelay(): void {}
  setTimeout(): void {}
  pause(): void {}
  resume(): void {}
  cork(): void {}
  uncork(): void {}
  write(b: string | Buffer): boolean {
    this.out += typeof b === "string" ? b : b.toString("latin1");
    return true;
  }
  end(b?: string | Buffer): void {
    if (b !== undefined) this.write(b);
    this.writable = false;
  }
  destroy(): void {
    this.writable = false;
    this.destroyed = true;
  }
}

/** What a handler saw of each request, and what the connection wrote back: the observable behaviour. */
async function run(chunks: Buffer[]): Promise<{ seen: string[]; out: string; closed: boolean }> {
  const seen: string[] = [];
  const socket = new FakeSocket();
  const server = {
    draining: false,
    refused: () => {},
    forget: () => {},
    handler: (req: EngineRequest, res: EngineResponse) => {
      let body = "";
      req.readBody({
        data: (c: Buffer) => {
          body += c.toString("latin1");
          return true;
        },
        end: () => {
          seen.push(`${req.method} ${req.path}${req.query} ${JSON.stringify(req.headers)} ${body}`);
          res.writeHead(200, undefined, ["x-n", String(seen.length)], 0);
          res.end();
        },
      });
    },
  } as unknown as EngineServer;
  const conn = new Connection(socket as unknown as Socket, server, DEFAULT_ENGINE_OPTIONS);
  for (const c of chunks) {
    if (socket.destroyed) break;
    socket.emit("data", c);
    // Pipelined requests start on the next tick: let them.
    await new Promise((r) => setImmediate(r));
  }
  await new Promise((r) => setImmediate(r));
  socket.emit("close");
  void conn;
  return { seen, out: socket.out, closed: !socket.writable };
}

function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let last = 0;
  for (const p of points) {
    if (p > last) out.push(buf.subarray(last, p));
    last = Math.max(last, p);
  }
  if (last < buf.length) out.push(buf.subarray(last));
  return out;
}

const token = fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,10}$/);
const value = fc.stringMatching(/^[ -~]{0,20}$/).map((v) => v.trim());
const request = fc
  .record({
    method: fc.constantFrom("GET", "POST", "PUT", "HEAD", "DELETE"),
    path: fc.stringMatching(/^\/(?:[a-z0-9./]|%41|%2F){0,20}$/),
    fields: fc.array(fc.tuple(token, value), { maxLength: 5 }),
    body: fc.option(fc.uint8Array({ maxLength: 64 }), { nil: undefined }),
    chunked: fc.boolean(),
    pieces: fc.array(fc.integer({ min: 1, max: 16 }), { maxLength: 4 }),
  })
  .map((r) => {
    const fields = r.fields
      .filter(
        ([n]) =>
          !["host", "content-length", "transfer-encoding", "connection", "expect", "upgrade"].includes(n.toLowerCase()),
      )
      .map(([n, v]) => `${n}: ${v}\r\n`)
      .join("");
    let framing = "";
    let body = Buffer.alloc(0);
    if (r.body !== undefined) {
      const b = Buffer.from(r.body);
      if (r.chunked) {
        framing = "Transfer-Encoding: chunked\r\n";
        const parts: Buffer[] = [];
        let at = 0;
        for (const p of r.pieces) {
          if (at >= b.length) break;
          const piece = b.subarray(at, at + p);
          at += p;
          parts.push(Buffer.from(`${piece.length.toString(16)};ext=1\r\n`), piece, Buffer.from("\r\n"));
        }
        if (at < b.length)
          parts.push(Buffer.from(`${(b.length - at).toString(16)}\r\n`), b.subarray(at), Buffer.from("\r\n"));
        parts.push(Buffer.from("0\r\nX-T: 1\r\n\r\n"));
        body = Buffer.concat(parts);
      } else {
        framing = `Content-Length: ${b.length}\r\n`;
        body = b;
      }
    }
    return Buffer.concat([
      Buffer.from(`${r.method} ${r.path} HTTP/1.1\r\nHost: up\r\n${fields}${framing}\r\n`, "latin1"),
      body,
    ]);
  });

test("property: any split of pipelined requests into chunks is handled exactly as the whole", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(request, { minLength: 1, maxLength: 3 }),
      fc.array(fc.nat(), { maxLength: 12 }),
      async (requests, cuts) => {
        const whole = Buffer.concat(requests);
        const once = await run([whole]);
        const split = await run(splitAt(whole, cuts));
        assert.equal(once.seen.length, requests.length, once.out);
        assert.deepEqual(split, once);
      },
    ),
    { numRuns: 300 },
  );
});

test("property: any bytes at all, split anyhow, get the same answer as in one piece (refusals included)", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
        // Near-valid input: a valid request with one byte replaced.
        fc.tuple(request, fc.nat(), fc.integer({ min: 0, max: 255 })).map(([r, at, b]) => {
          const copy = Buffer.from(r);
          copy[at % copy.length] = b;
          return copy;
        }),
      ),
      fc.array(fc.nat(), { maxLength: 8 }),
      async (bytes, cuts) => {
        const once = await run([bytes]);
        const split = await run(splitAt(bytes, cuts));
        assert.deepEqual(split, once);
      },
    ),
    { numRuns: 400 },
  );
});
