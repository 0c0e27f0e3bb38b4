import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createRegistry } from "../../../src/common/metrics.ts";
import type { RequestRecord } from "../../../src/sidecar/telemetry/record.ts";
import {
  codeLabel,
  grpcLabel,
  MAX_GROUPS,
  MAX_VERSIONS,
  RequestMetrics,
} from "../../../src/sidecar/telemetry/request-metrics.ts";

function record(over: Partial<RequestRecord> = {}): RequestRecord {
  return {
    direction: "outbound",
    method: "GET",
    authority: "a",
    path: "/",
    startWallMs: 0,
    startMs: 0,
    requestId: "r",
    requestIdGenerated: false,
    sourceService: "web",
    peerIdentity: undefined,
    destinationService: "ratings",
    endpoint: undefined,
    upstream: undefined,
    attempts: 1,
    status: 200,
    flags: "",
    grpcStatus: "",
    requestBytes: 10,
    responseBytes: 20,
    traceId: "",
    span: undefined,
    ...over,
  };
}

describe("RequestMetrics", () => {
  it("counts by the full label set, with '-' for no flags and the exact code", async () => {
    const registry = createRegistry({ processMetrics: false });
    const m = new RequestMetrics(registry);
    m.record(record(), "v1", 0.01);
    m.record(record(), "v1", 0.02);
    m.record(record({ status: 503, flags: "UF" }), "v1", 0.01);
    m.record(record({ grpcStatus: "14" }), "", 0.01);
    const text = await registry.metrics();
    const prefix = 'direction="outbound",source_service="web",destination_service="ratings"';
    assert.match(
      text,
      new RegExp(
        `meshlet_requests_total\\{${prefix},destination_version="v1",response_code="200",response_flags="-",grpc_status=""\\} 2`,
      ),
    );
    assert.match(
      text,
      new RegExp(
        `meshlet_requests_total\\{${prefix},destination_version="v1",response_code="503",response_flags="UF",grpc_status=""\\} 1`,
      ),
    );
    assert.match(
      text,
      new RegExp(
        `meshlet_requests_total\\{${prefix},destination_version="unknown",response_code="200",response_flags="-",grpc_status="14"\\} 1`,
      ),
    );
    assert.match(
      text,
      new RegExp(
        `meshlet_request_bytes_sum\\{${prefix},destination_version="v1",response_code="200",response_flags="-",grpc_status=""\\} 20`,
      ),
    );
    assert.match(
      text,
      new RegExp(
        `meshlet_response_bytes_sum\\{${prefix},destination_version="v1",response_code="200",response_flags="-",grpc_status=""\\} 40`,
      ),
    );
  });

  it("bounds versions per service and (source, destination, version) groups; past the cap: other / overflow", async () => {
    const registry = createRegistry({ processMetrics: false });
    const m = new RequestMetrics(registry);
    for (let v = 0; v < MAX_VERSIONS + 5; v++) m.record(record(), `v${v}`, 0.001);
    let text = await registry.metrics();
    assert.match(text, /destination_version="other",response_code="200",response_flags="-",grpc_status=""\} 5/);
    for (let s = 0; s < MAX_GROUPS + 10; s++) m.record(record({ sourceService: `s${s}` }), "v0", 0.001);
    text = await registry.metrics();
    const groups = new Set(
      text
        .split("\n")
        .filter((l) => l.startsWith("meshlet_requests_total{"))
        .map((l) => l.slice(0, l.indexOf(",response_code"))),
    );
    assert.ok(groups.size <= MAX_GROUPS + 1, `${groups.size} groups`);
    assert.match(text, /source_service="overflow",destination_service="overflow",destination_version="overflow"/);
  });

  it("labels codes and gRPC statuses from bounded sets", () => {
    assert.equal(codeLabel(0), "0");
    assert.equal(codeLabel(204), "204");
    assert.equal(codeLabel(999), "other");
    assert.equal(codeLabel(42), "other");
    assert.equal(grpcLabel(""), "");
    assert.equal(grpcLabel("0"), "0");
    assert.equal(grpcLabel("16"), "16");
    assert.equal(grpcLabel("17"), "other");
    assert.equal(grpcLabel("1e1"), "other");
    assert.equal(grpcLabel("-1"), "other");
    assert.equal(grpcLabel("x".repeat(1000)), "other");
  });
});
