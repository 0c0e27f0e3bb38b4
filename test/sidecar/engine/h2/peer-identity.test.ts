import assert from "node:assert/strict";
import { connect } from "node:http2";
import { after, it } from "node:test";
import { DEFAULT_ENGINE_OPTIONS, EngineServer } from "../../../../src/sidecar/engine/server.ts";

const ID = "spiffe://cluster.local/service/web";

it("HTTP/2 streams carry the connection's peer identity, as HTTP/1.1 requests do", async () => {
  const seen: (string | undefined)[] = [];
  const s = new EngineServer(
    DEFAULT_ENGINE_OPTIONS,
    (req, res) => {
      seen.push(req.socket.peerIdentity);
      res.writeHead(200, "OK", [], 2);
      res.end(Buffer.from("ok"));
    },
    undefined,
    // What the mTLS listener does once a client certificate verified: serve the socket with its SPIFFE ID.
    (socket, serve) => serve(socket, ID),
  );
  await new Promise<void>((r) => s.server.listen(0, "127.0.0.1", r));
  after(() => s.server.close());
  const port = (s.server.address() as { port: number }).port;
  const client = connect(`http://127.0.0.1:${port}`);
  after(() => client.close());
  for (let i = 0; i < 2; i++) {
    const status = await new Promise<number>((resolve, reject) => {
      const stream = client.request({ ":path": "/x", ":authority": "reviews" });
      stream.on("response", (h) => resolve(Number(h[":status"])));
      stream.on("error", reject);
      stream.resume();
      stream.end();
    });
    assert.equal(status, 200);
  }
  assert.deepEqual(seen, [ID, ID]);
  s.setAcceptor(undefined);
  const plain = connect(`http://127.0.0.1:${port}`);
  after(() => plain.close());
  await new Promise<void>((resolve, reject) => {
    const stream = plain.request({ ":path": "/y", ":authority": "reviews" });
    stream.on("response", () => resolve());
    stream.on("error", reject);
    stream.resume();
    stream.end();
  });
  assert.equal(seen[2], undefined, "a plain-text session has no identity");
});
