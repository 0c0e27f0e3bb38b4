import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { accessLogLine, shouldLog } from "../../../src/sidecar/telemetry/access-log.ts";
import type { RequestRecord } from "../../../src/sidecar/telemetry/record.ts";

describe("access log", () => {
  it("all logs every request, off none, sampled its share", () => {
    let r = 0;
    const random = () => (r++ % 100) / 100;
    assert.equal(shouldLog({ mode: "all", sampleRate: 0 }, random), true);
    assert.equal(shouldLog({ mode: "off", sampleRate: 1 }, random), false);
    r = 0;
    let logged = 0;
    for (let i = 0; i < 1000; i++) if (shouldLog({ mode: "sampled", sampleRate: 0.25 }, random)) logged++;
    assert.equal(logged, 250);
  });

  it("writes one JSON line with each key once", () => {
    const rec: RequestRecord = {
      direction: "inbound",
      method: "GET",
      authority: "ratings",
      path: '/a"b',
      startWallMs: Date.UTC(2026, 0, 2, 3, 4, 5, 6),
      startMs: 0,
      requestId: "id",
      requestIdGenerated: true,
      sourceService: "web",
      peerIdentity: "spiffe://cluster.local/service/web",
      destinationService: "ratings",
      endpoint: { key: "127.0.0.1:9", labels: { version: "v1" } },
      upstream: undefined,
      attempts: 2,
      status: 503,
      flags: "UF",
      grpcStatus: "",
      requestBytes: 1,
      responseBytes: 2,
      traceId: "t",
      span: undefined,
    };
    const line = accessLogLine(rec, 1.23456);
    assert.ok(line.endsWith("}\n") && !line.slice(0, -1).includes("\n"));
    const keys = [...line.matchAll(/"([a-z_]+)":/g)].map((m) => m[1]);
    assert.equal(new Set(keys).size, keys.length);
    assert.deepEqual(JSON.parse(line), {
      start_time: "2026-01-02T03:04:05.006Z",
      direction: "inbound",
      method: "GET",
      authority: "ratings",
      path: '/a"b',
      response_code: 503,
      response_flags: "UF",
      grpc_status: "",
      duration_ms: 1.235,
      bytes_received: 1,
      bytes_sent: 2,
      upstream_address: "127.0.0.1:9",
      attempts: 2,
      request_id: "id",
      trace_id: "t",
      span_id: "",
      source_service: "web",
      peer_identity: "spiffe://cluster.local/service/web",
      destination_service: "ratings",
      destination_version: "v1",
    });
    assert.equal(JSON.parse(accessLogLine({ ...rec, peerIdentity: undefined }, 1)).peer_identity, "-");
  });
});
