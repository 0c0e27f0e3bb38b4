import assert from "node:assert/strict";
import { test } from "node:test";
import { canonicalIp, peerIp } from "../../src/common/ip.ts";

test("canonicalIp: one spelling per address, undefined for a host name", () => {
  assert.equal(canonicalIp("10.0.0.1"), "10.0.0.1");
  assert.equal(canonicalIp("0:0:0:0:0:0:0:1"), "::1");
  assert.equal(canonicalIp("FD00::7"), "fd00::7");
  assert.equal(canonicalIp("::ffff:10.0.0.1"), "10.0.0.1");
  assert.equal(canonicalIp("::FFFF:a00:1"), "10.0.0.1");
  assert.equal(canonicalIp("ratings.default.svc"), undefined);
  assert.equal(canonicalIp(""), undefined);
});

test("peerIp: the port is taken off grpc-js's unbracketed peer first", () => {
  assert.equal(peerIp("127.0.0.1:5000"), "127.0.0.1");
  // "::1:5000" is itself an IPv6 address; as a peer it is ::1 port 5000.
  assert.equal(peerIp("::1:5000"), "::1");
  assert.equal(peerIp("::ffff:127.0.0.1:5000"), "127.0.0.1");
  assert.equal(peerIp("[fd00::7]:5000"), "fd00::7");
  assert.equal(peerIp("::1"), "::1");
  assert.equal(peerIp("10.0.0.1"), "10.0.0.1");
  assert.equal(peerIp("unknown"), undefined);
  assert.equal(peerIp("/run/meshlet.sock"), undefined);
});
