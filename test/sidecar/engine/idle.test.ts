import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, describe, it } from "node:test";
import { DEFAULT_ENGINE_OPTIONS, type EngineOptions, EngineServer } from "../../../src/sidecar/engine/server.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const REQUEST = "GET / HTTP/1.1\r\nhost: x\r\n\r\n";

/** An engine answering 200 "ok" after `delayMs`, on a port from 0. */
async function engine(o: Partial<EngineOptions>, delayMs = 0) {
  const s = new EngineServer({ ...DEFAULT_ENGINE_OPTIONS, ...o }, (_req, res) => {
    setTimeout(() => {
      res.writeHead(200, "OK", [], 2);
      res.end(Buffer.from("ok"));
    }, delayMs);
  });
  await new Promise<void>((r) => s.server.listen(0, "127.0.0.1", r));
  const port = (s.server.address() as { port: number }).port;
  return { s, port };
}

/** A client socket that records what happened to it. */
function client(port: number) {
  // Half-open allowed: the client may still write after the FIN arrived, as a pool that has not noticed it yet.
  const socket: Socket = connect({ port, host: "127.0.0.1", allowHalfOpen: true });
  const seen = { data: "", ended: false, error: undefined as string | undefined, closed: false };
  socket.on("data", (d) => {
    seen.data += d.toString("latin1");
  });
  socket.on("end", () => {
    seen.ended = true;
  });
  socket.on("error", (e: NodeJS.ErrnoException) => {
    seen.error = e.code ?? e.message;
  });
  socket.on("close", () => {
    seen.closed = true;
  });
  return { socket, seen };
}

describe("downstream idle timeout", () => {
  const servers: EngineServer[] = [];
  after(async () => {
    for (const s of servers) {
      s.destroyAll();
      await s.close();
    }
  });

  it("is an hour by default, Envoy's, far beyond any client pool's idle timeout", () => {
    assert.equal(DEFAULT_ENGINE_OPTIONS.keepAliveTimeoutMs, 3_600_000);
  });

  it("closes an idle keep-alive connection with a FIN, never a request in flight", async () => {
    const { s, port } = await engine({ keepAliveTimeoutMs: 200 }, 400);
    servers.push(s);
    const { socket, seen } = client(port);
    socket.write(REQUEST);
    // The answer takes twice the idle timeout: in flight is not idle.
    await sleep(600);
    assert.match(seen.data, /^HTTP\/1\.1 200/);
    assert.equal(seen.ended, false);
    // Now idle: closed within the timeout, cleanly.
    await sleep(400);
    assert.equal(seen.ended, true);
    assert.equal(seen.error, undefined);
  });

  it("a request written just as the sidecar closes an idle socket gets a clean close, not ECONNRESET", async () => {
    const { s, port } = await engine({ keepAliveTimeoutMs: 100 });
    servers.push(s);
    const { socket, seen } = client(port);
    socket.write(REQUEST);
    await sleep(300);
    assert.equal(seen.ended, true, "closed when idle");
    // The client's pool had not seen the FIN yet and reuses the socket.
    socket.write(REQUEST);
    await sleep(100);
    socket.write(REQUEST);
    await sleep(100);
    socket.end();
    await sleep(100);
    assert.equal(seen.error, undefined);
  });

  it("the stream idle timeout cuts a stalled request but not a connection waiting for its next request", async () => {
    const { s, port } = await engine({ keepAliveTimeoutMs: 0, streamIdleTimeoutMs: 150 });
    servers.push(s);
    const idle = client(port);
    idle.socket.write(REQUEST);
    const stalled = client(port);
    stalled.socket.write("POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\nabc");
    await sleep(500);
    assert.match(idle.seen.data, /^HTTP\/1\.1 200/);
    assert.equal(idle.seen.ended, false, "an idle keep-alive connection stays");
    assert.equal(stalled.seen.ended, true, "a stalled upload is cut");
    idle.socket.destroy();
    stalled.socket.destroy();
  });
});
