import assert from "node:assert/strict";
import { Socket } from "node:net";
import { test } from "node:test";
import { acquireErrorOf, attemptErrorOf } from "../../../src/sidecar/engine/attempt-error.ts";
import { RawExchange } from "../../../src/sidecar/engine/exchange.ts";
import { EndpointPool } from "../../../src/sidecar/engine/pool.ts";

/** What an exchange reports when its pool's connector fails with `code` before a connection exists. */
function exchangeErrorFor(code: string): Promise<string | undefined> {
  const pool = new EndpointPool(
    "127.0.0.1",
    9,
    { connectTimeoutMs: 1_000, idleTimeoutMs: 1_000, maxRequestsPerConnection: 1, maxSockets: 1 },
    () => {
      const socket = new Socket();
      process.nextTick(() => socket.destroy(Object.assign(new Error(code), { code })));
      return { socket, ready: "connect" };
    },
  );
  return new Promise((resolve) => {
    const x = new RawExchange(
      pool,
      { head: "GET / HTTP/1.1\r\n\r\n", headRequest: false, body: null, upgrade: false },
      (done) => {
        pool.close();
        resolve(done.error);
      },
    );
    x.start();
  });
}

test("a connection that was never made is a connect failure (UF, retried as unsent), whatever its code", async () => {
  for (const code of [
    "ECONNREFUSED",
    "ERR_NO_CERTIFICATE",
    "ERR_TLS_PEER_IDENTITY",
    "ERR_TLS_PEER_ISSUER",
    "ERR_ENDPOINT_CONFLICT",
    "CERT_HAS_EXPIRED",
    "SELF_SIGNED_CERT_IN_CHAIN",
    "ERR_SSL_TLSV1_ALERT_UNKNOWN_CA",
    "ECONNRESET",
  ]) {
    assert.equal(acquireErrorOf(code), "connect", code);
    assert.equal(await exchangeErrorFor(code), "connect", `exchange: ${code}`);
  }
  assert.equal(acquireErrorOf("EATTEMPT_TIMEOUT"), "timeout");
});

test("after a connection was handed out, only the socket's no-connection codes are connect failures", () => {
  assert.equal(attemptErrorOf("ECONNREFUSED"), "connect");
  assert.equal(attemptErrorOf("ECONNRESET"), "reset");
  assert.equal(attemptErrorOf("ERR_SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC"), "reset");
  assert.equal(attemptErrorOf("EATTEMPT_TIMEOUT"), "timeout");
});
