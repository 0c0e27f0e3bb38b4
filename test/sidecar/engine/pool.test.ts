import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type Server, type Socket } from "node:net";
import { Writable } from "node:stream";
import { type TestContext, test } from "node:test";
import { EndpointPool, type PooledSocket, type SocketOwner } from "../../../src/sidecar/engine/pool.ts";

/** A TCP server that keeps every socket it accepts, so a test can write to or close them. */
async function upstream(): Promise<{ port: number; accepted: Socket[]; close(): Promise<void> }> {
  const accepted: Socket[] = [];
  const server: Server = createServer((s) => {
    accepted.push(s);
    s.on("error", () => {});
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as { port: number }).port;
  return {
    port,
    accepted,
    close: async () => {
      for (const s of accepted) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A pool on a fresh upstream, both closed after the test. */
async function poolOn(t: TestContext, idleTimeoutMs: number, maxSockets: number) {
  const up = await upstream();
  const pool = new EndpointPool("127.0.0.1", up.port, {
    connectTimeoutMs: 1_000,
    idleTimeoutMs,
    maxRequestsPerConnection: 100,
    maxSockets,
  });
  t.after(async () => {
    pool.close();
    await up.close();
  });
  return { up, pool };
}

function acquire(pool: EndpointPool): Promise<PooledSocket> {
  return new Promise((resolve, reject) => pool.acquire((err, s) => (err ? reject(err) : resolve(s as PooledSocket))));
}

class Recorder implements SocketOwner {
  readonly events: string[] = [];
  upstreamData(b: Buffer): void {
    this.events.push(`data:${b.toString()}`);
  }
  upstreamEnd(): void {
    this.events.push("end");
  }
  upstreamError(err: NodeJS.ErrnoException): void {
    this.events.push(`error:${err.code}`);
  }
  upstreamClose(): void {
    this.events.push("close");
  }
}

const listeners = (s: Socket) =>
  ["data", "end", "error", "close", "drain"].map((e) => `${e}=${s.listenerCount(e)}`).join(" ");

const tick = () => new Promise((r) => setTimeout(r, 20));

test("a reused socket keeps the listeners it got at connect: none added or removed per request", async (t) => {
  const { pool } = await poolOn(t, 60_000, 4);
  const first = await acquire(pool);
  const before = listeners(first.socket);
  assert.equal(first.requests, 1);
  assert.equal(first.reused, false);
  for (let i = 2; i <= 50; i++) {
    pool.release(first);
    const again = await acquire(pool);
    assert.equal(again, first, "the idle socket is reused");
    assert.equal(again.requests, i);
    assert.equal(again.reused, true);
  }
  assert.equal(listeners(first.socket), before);
  assert.equal(pool.open, 1);
});

test("events of a busy socket go to its owner; once released, they go to no former owner", async (t) => {
  const { up, pool } = await poolOn(t, 60_000, 4);
  const conn = await acquire(pool);
  const owner = new Recorder();
  conn.owner = owner;
  while (up.accepted.length === 0) await tick();
  up.accepted[0]?.write("hello");
  while (owner.events.length === 0) await tick();
  assert.deepEqual(owner.events, ["data:hello"]);
  pool.release(conn);
  assert.equal(pool.idle, 1);
  // Anything an idle socket hears means it is no longer clean: it is closed, and its former owner hears nothing.
  up.accepted[0]?.write("late");
  while (pool.open > 0) await tick();
  assert.equal(pool.idle, 0);
  assert.deepEqual(owner.events, ["data:hello"]);
});

test("an idle socket closes after the idle timeout; a busy one is left alone by its timer", async (t) => {
  const { pool } = await poolOn(t, 100, 4);
  const conn = await acquire(pool);
  pool.release(conn);
  const busy = await acquire(pool);
  assert.equal(busy, conn);
  // The timer armed at the first release fires while the socket is busy: it stays open.
  await new Promise((r) => setTimeout(r, 250));
  assert.equal(conn.socket.destroyed, false);
  assert.equal(pool.open, 1);
  pool.release(conn);
  const released = performance.now();
  while (pool.open > 0) await tick();
  const after = performance.now() - released;
  assert.ok(after >= 90, `closed ${after.toFixed(0)} ms after going idle, before the 100 ms timeout`);
  assert.equal(pool.idle, 0);
});

test("the upstream closing a busy socket tells its owner; the slot goes to a waiting request", async (t) => {
  const { up, pool } = await poolOn(t, 60_000, 1);
  const conn = await acquire(pool);
  const owner = new Recorder();
  conn.owner = owner;
  const waiting = acquire(pool);
  while (up.accepted.length === 0) await tick();
  up.accepted[0]?.destroy();
  const next = await waiting;
  assert.notEqual(next, conn);
  assert.ok(owner.events.includes("close"), owner.events.join(","));
  assert.equal(pool.open, 1);
});

// Bounded: the bug this guards against strands the bytes, and the test would wait forever.
test("a handed-off socket (a WebSocket tunnel) delivers the bytes put back after the 101 to the tunnel's pipe", {
  timeout: 10_000,
}, async (t) => {
  const { up, pool } = await poolOn(t, 60_000, 4);
  const conn = await acquire(pool);
  const got: Buffer[] = [];
  const tunnelled = new Promise<void>((resolve) => {
    conn.owner = {
      // As the exchange does: the 101 and the first frame in one chunk; the frame goes back for the tunnel.
      upstreamData(b: Buffer) {
        conn.owner = undefined;
        conn.handOff();
        conn.socket.unshift(b.subarray(b.indexOf("\n") + 1));
        conn.socket.pipe(
          new Writable({
            write(chunk: Buffer, _enc, done) {
              got.push(chunk);
              resolve();
              done();
            },
          }),
        );
      },
      upstreamEnd() {},
      upstreamError() {},
      upstreamClose() {},
    };
  });
  while (up.accepted.length === 0) await tick();
  up.accepted[0]?.write("101\nfirst frame");
  await tunnelled;
  assert.equal(Buffer.concat(got).toString(), "first frame");
  assert.equal(conn.socket.listenerCount("data"), 1, "only the tunnel's pipe reads it");
});
