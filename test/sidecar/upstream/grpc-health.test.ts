import assert from "node:assert/strict";
import { createServer as createH1 } from "node:http";
import { createServer } from "node:http2";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { grpcHealthProbe, healthCheckRequest, servingStatus } from "../../../src/sidecar/upstream/grpc-health.ts";
import { type EchoBackend, NOT_SERVING, startEchoBackend } from "../grpc/fixture.ts";
import { freePort } from "../helpers.ts";

const frame = (msg: number[]) => Buffer.from([0, 0, 0, 0, msg.length, ...msg]);

describe("grpc.health.v1 messages", () => {
  it("encodes HealthCheckRequest{service}; the whole server is an empty message", () => {
    assert.deepEqual([...healthCheckRequest("")], [0, 0, 0, 0, 0]);
    assert.deepEqual([...healthCheckRequest("ab")], [0, 0, 0, 0, 4, 0x0a, 2, 0x61, 0x62]);
    const long = healthCheckRequest("x".repeat(200));
    assert.equal(long.readUInt32BE(1), 1 + 2 + 200, "a two-byte length varint");
  });

  it("reads the serving status, skipping other fields; anything malformed is UNKNOWN (0)", () => {
    assert.equal(servingStatus(frame([0x08, 1])), 1);
    assert.equal(servingStatus(frame([0x08, 2])), 2);
    assert.equal(servingStatus(frame([])), 0, "no status field");
    assert.equal(servingStatus(frame([0x12, 1, 0x61, 0x08, 1])), 1, "an unknown length-delimited field first");
    assert.equal(servingStatus(Buffer.from([1, 0, 0, 0, 2, 0x08, 1])), 0, "compressed");
    assert.equal(servingStatus(Buffer.from([0, 0, 0, 0, 9, 0x08, 1])), 0, "length past the body");
    assert.equal(servingStatus(frame([0x08])), 0, "truncated varint");
    assert.equal(servingStatus(frame([0x12, 9, 0x61])), 0, "field past the message");
    assert.equal(servingStatus(Buffer.alloc(3)), 0);
  });
});

describe("grpcHealthProbe against real servers", () => {
  let backend: EchoBackend;
  before(async () => {
    backend = await startEchoBackend("b0");
  });
  after(async () => {
    await backend?.close();
  });
  const target = () => ({ host: "127.0.0.1", port: backend.port });

  it("passes for SERVING, fails for NOT_SERVING and for a service the server does not know", async () => {
    assert.equal(await grpcHealthProbe(target(), "", 2000), true);
    assert.equal(await grpcHealthProbe(target(), "meshlet.test.Echo", 2000), true);
    backend.health.set("meshlet.test.Echo", NOT_SERVING);
    assert.equal(await grpcHealthProbe(target(), "meshlet.test.Echo", 2000), false);
    backend.health.set("meshlet.test.Echo", 1);
    assert.equal(await grpcHealthProbe(target(), "meshlet.test.Echo", 2000), true);
    assert.equal(await grpcHealthProbe(target(), "no.such.Service", 2000), false);
  });

  it("fails on a refused connection, an HTTP/1.1-only server and a server that never answers", async () => {
    assert.equal(await grpcHealthProbe({ host: "127.0.0.1", port: await freePort() }, "", 2000), false);

    const h1 = createH1((_req, res) => res.end("ok"));
    await new Promise<void>((r) => h1.listen(0, "127.0.0.1", r));
    try {
      assert.equal(
        await grpcHealthProbe({ host: "127.0.0.1", port: (h1.address() as AddressInfo).port }, "", 2000),
        false,
      );
    } finally {
      h1.closeAllConnections();
      await new Promise((r) => h1.close(r));
    }

    // An h2c server that takes the call and never answers: the probe gives up at its timeout.
    const silent = createServer();
    silent.on("stream", () => {});
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    try {
      const started = Date.now();
      assert.equal(
        await grpcHealthProbe({ host: "127.0.0.1", port: (silent.address() as AddressInfo).port }, "", 300),
        false,
      );
      const ms = Date.now() - started;
      assert.ok(ms >= 250 && ms < 5_000, `gave up after ${ms} ms`);
    } finally {
      await new Promise((r) => silent.close(r));
    }
  });

  it("fails on an HTTP 200 that is not a gRPC OK (grpc-status missing or not 0)", async () => {
    const fake = createServer();
    let mode = "no-status";
    fake.on("stream", (s) => {
      s.on("data", () => {});
      s.on("end", () => {
        if (mode === "no-status") {
          s.respond({ ":status": 200, "content-type": "application/grpc" });
          s.end(frame([0x08, 1]));
        } else {
          s.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
          s.on("wantTrailers", () => s.sendTrailers({ "grpc-status": "13" }));
          s.end(frame([0x08, 1]));
        }
      });
    });
    await new Promise<void>((r) => fake.listen(0, "127.0.0.1", r));
    const t = { host: "127.0.0.1", port: (fake.address() as AddressInfo).port };
    try {
      assert.equal(await grpcHealthProbe(t, "", 2000), false);
      mode = "internal";
      assert.equal(await grpcHealthProbe(t, "", 2000), false);
    } finally {
      await new Promise((r) => fake.close(r));
    }
  });
});
