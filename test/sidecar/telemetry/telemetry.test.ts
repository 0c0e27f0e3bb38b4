import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeClock } from "../../../src/common/clock.ts";
import { createRegistry } from "../../../src/common/metrics.ts";
import { MeshIdentities, type ServiceAccounts } from "../../../src/sidecar/identity-table.ts";
import type { AccessLogPolicy } from "../../../src/sidecar/telemetry/access-log.ts";
import type { IdSource } from "../../../src/sidecar/telemetry/ids.ts";
import type { EndpointRef } from "../../../src/sidecar/telemetry/record.ts";
import type { FinishedSpan } from "../../../src/sidecar/telemetry/spans.ts";
import { Telemetry } from "../../../src/sidecar/telemetry/telemetry.ts";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT = "00f067aa0ba902b7";

function counterIds(): IdSource {
  let n = 0;
  const next = (width: number) => (++n).toString(16).padStart(width, "0");
  return { requestId: () => `req-${++n}`, traceId: () => next(32), spanId: () => next(16) };
}

function setup(o: { accessLog?: AccessLogPolicy; random?: () => number; tracing?: number } = {}) {
  const lines: string[] = [];
  const spans: FinishedSpan[] = [];
  const clock = new FakeClock(1000);
  const identities = new MeshIdentities();
  identities.useTrustDomain("cluster.local");
  const t = new Telemetry({
    localService: "reviews",
    localVersion: "v1",
    registry: createRegistry({ processMetrics: false }),
    clock,
    wallNow: () => 1_700_000_000_000,
    random: o.random ?? (() => 0.5),
    ids: counterIds(),
    accessLog: o.accessLog ?? { mode: "off", sampleRate: 0 },
    accessLogSink: { write: (l: string) => lines.push(l) },
    identities,
  });
  /** A snapshot goes live: the sidecar's identity table, then telemetry, take its Services. */
  const swap = (
    services: (ServiceAccounts & { endpoints: (EndpointRef & { address: string })[]; accessLog?: AccessLogPolicy })[],
  ) => {
    identities.useServices(services);
    t.swap({ services });
  };
  if (o.tracing !== undefined)
    t.useTracing({ exporter: { export: (s) => spans.push(s), shutdown: async () => {} }, sampleRate: o.tracing });
  swap([
    {
      name: "ratings",
      endpoints: [{ key: "10.0.0.2:80", address: "10.0.0.2", labels: { version: "v2" } }],
      accessLog: { mode: "all", sampleRate: 0 },
    },
    {
      name: "web",
      endpoints: [{ key: "10.0.0.3:80", address: "10.0.0.3", labels: {} }],
      serviceAccounts: [{ namespace: "shop", name: "web-sa" }],
    },
  ]);
  return { t, lines, spans, clock, swap };
}

describe("Telemetry", () => {
  it("a Service's accessLog wins over the sidecar's default, outbound by destination", () => {
    const { t, lines } = setup({ accessLog: { mode: "off", sampleRate: 0 } });
    const toRatings = t.begin("outbound", "GET", "ratings", "/", [], "127.0.0.1");
    toRatings.destinationService = "ratings";
    t.complete(toRatings);
    const toWeb = t.begin("outbound", "GET", "web", "/", [], "127.0.0.1");
    toWeb.destinationService = "web";
    t.complete(toWeb);
    assert.equal(lines.length, 1);
    assert.equal(JSON.parse(lines[0] as string).destination_service, "ratings");
  });

  it("keeps the client's x-request-id, makes one otherwise and sends it upstream", () => {
    const { t } = setup();
    const kept = t.begin("outbound", "GET", "a", "/", ["X-Request-Id", "abc"], undefined);
    const headers = ["X-Request-Id", "abc"];
    t.outgoingHeaders(kept, headers);
    assert.equal(kept.requestId, "abc");
    assert.equal(headers.filter((h) => h.toLowerCase() === "x-request-id").length, 1);
    const made = t.begin("outbound", "GET", "a", "/", [], undefined);
    const out: string[] = [];
    t.outgoingHeaders(made, out);
    assert.equal(out[out.indexOf("x-request-id") + 1], made.requestId);
  });

  it("sets x-meshlet-source to this service outbound, whatever the app sent", () => {
    const { t } = setup();
    const r = t.begin("outbound", "GET", "a", "/", ["x-meshlet-source", "web"], "127.0.0.1");
    assert.equal(r.sourceService, "reviews");
    const headers = ["x-meshlet-source", "web"];
    t.outgoingHeaders(r, headers);
    assert.deepEqual(headers.slice(0, 2), ["x-meshlet-source", "reviews"]);
  });

  it("inbound, trusts the header from a mesh endpoint's address only", () => {
    const { t } = setup();
    assert.equal(t.begin("inbound", "GET", "a", "/", ["x-meshlet-source", "web"], "10.0.0.2").sourceService, "web");
    assert.equal(t.begin("inbound", "GET", "a", "/", ["x-meshlet-source", "web"], "10.9.9.9").sourceService, "unknown");
  });

  it("inbound over mTLS, the caller is the verified identity's Service and the header is not believed", () => {
    const { t } = setup({ accessLog: { mode: "all", sampleRate: 0 } });
    const begin = (claimed: string, id: string, peer = "10.0.0.2") =>
      t.begin("inbound", "GET", "a", "/", ["x-meshlet-source", claimed], peer, id);
    assert.equal(begin("web", "spiffe://cluster.local/service/ratings").sourceService, "ratings");
    assert.equal(begin("ratings", "spiffe://cluster.local/ns/shop/sa/web-sa", "10.9.9.9").sourceService, "web");
    assert.equal(begin("web", "spiffe://cluster.local/service/gone").sourceService, "unknown");
    assert.equal(begin("web", "spiffe://cluster.local/ns/shop/sa/other").sourceService, "unknown");
    const r = begin("web", "spiffe://cluster.local/service/ratings");
    const headers = ["x-meshlet-source", "web"];
    t.outgoingHeaders(r, headers);
    assert.deepEqual(headers.slice(0, 2), ["x-meshlet-source", "ratings"]);
  });

  it("logs the verified peer identity inbound, '-' on plain text and outbound", () => {
    const { t, lines } = setup({ accessLog: { mode: "all", sampleRate: 0 } });
    t.complete(t.begin("inbound", "GET", "a", "/", [], "10.0.0.2", "spiffe://cluster.local/service/web"));
    t.complete(t.begin("inbound", "GET", "a", "/", [], "10.0.0.2"));
    t.complete(t.begin("outbound", "GET", "ratings", "/", [], "127.0.0.1"));
    const ids = lines.map((l) => JSON.parse(l).peer_identity);
    assert.deepEqual(ids, ["spiffe://cluster.local/service/web", "-", "-"]);
    assert.equal(JSON.parse(lines[0] as string).source_service, "web");
  });

  it("a new snapshot's accounts take over from what was remembered under the old one", () => {
    const { t, swap } = setup();
    const id = "spiffe://cluster.local/ns/shop/sa/web-sa";
    assert.equal(t.begin("inbound", "GET", "a", "/", [], undefined, id).sourceService, "web");
    swap([
      { name: "web", endpoints: [] },
      { name: "cart", endpoints: [], serviceAccounts: [{ namespace: "shop", name: "web-sa" }] },
    ]);
    assert.equal(t.begin("inbound", "GET", "a", "/", [], undefined, id).sourceService, "cart");
  });

  it("with tracing, a span per sampled request: the caller's span as parent, a new span id, the caller's decision kept", () => {
    const { t, spans, clock } = setup({ tracing: 0 });
    const r = t.begin("inbound", "GET", "a", "/p", ["traceparent", `00-${TRACE}-${PARENT}-01`], "10.0.0.2");
    clock.advance(12);
    r.status = 200;
    t.complete(r);
    assert.equal(spans.length, 1);
    const s = spans[0] as FinishedSpan;
    assert.equal(s.traceId, TRACE);
    assert.equal(s.parentSpanId, PARENT);
    assert.notEqual(s.spanId, PARENT);
    assert.equal(s.kind, "server");
    assert.equal(s.durationMs, 12);
    const out: string[] = [];
    t.outgoingHeaders(r, out);
    assert.equal(out[out.indexOf("traceparent") + 1], `00-${TRACE}-${s.spanId}-01`);
    // A caller that said "not sampled" is not, whatever the rate; a new trace follows the rate (0 here).
    t.complete(t.begin("inbound", "GET", "a", "/", ["traceparent", `00-${TRACE}-${PARENT}-00`], undefined));
    t.complete(t.begin("inbound", "GET", "a", "/", [], undefined));
    assert.equal(spans.length, 1);
  });

  it("samples new traces at the configured rate", () => {
    let i = 0;
    const { t, spans } = setup({ tracing: 0.3, random: () => (i++ % 10) / 10 });
    for (let n = 0; n < 100; n++) t.complete(t.begin("outbound", "GET", "a", "/", [], undefined));
    assert.equal(spans.length, 30);
    assert.ok(spans.every((s) => s.parentSpanId === "" && s.kind === "client"));
  });

  it("without tracing, no span; a request without context leaves with a new traceparent, one with a valid context unchanged", () => {
    const { t } = setup();
    const fresh = t.begin("outbound", "GET", "a", "/", ["traceparent", "garbage"], undefined);
    const out = ["traceparent", "garbage"];
    t.outgoingHeaders(fresh, out);
    assert.equal(out.filter((h) => h === "traceparent").length, 1);
    assert.match(out[out.indexOf("traceparent") + 1] as string, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    const passing = t.begin("outbound", "GET", "a", "/", ["traceparent", `00-${TRACE}-${PARENT}-01`], undefined);
    const kept = ["traceparent", `00-${TRACE}-${PARENT}-01`];
    t.outgoingHeaders(passing, kept);
    assert.deepEqual(kept.slice(0, 2), ["traceparent", `00-${TRACE}-${PARENT}-01`]);
    assert.equal(passing.traceId, TRACE);
  });
});
