import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import { describe, it } from "node:test";
import { downstreamHeaders, upstreamHeaders } from "../../src/sidecar/headers.ts";

function request(raw: string[]): IncomingMessage {
  const headers: Record<string, string> = {};
  for (let i = 0; i < raw.length; i += 2) headers[(raw[i] as string).toLowerCase()] = raw[i + 1] as string;
  return { rawHeaders: raw, headers, socket: { remoteAddress: "10.0.0.7" } } as unknown as IncomingMessage;
}

function field(list: readonly string[], name: string): string | undefined {
  const i = list.indexOf(name);
  return i < 0 ? undefined : list[i + 1];
}

describe("upstreamHeaders", () => {
  it("adds a well-formed traceparent, a new one per request, across refills of its random pool", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 600; i++) {
      const tp = field(upstreamHeaders(request(["Host", "a"])), "traceparent") ?? "";
      assert.match(tp, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      seen.add(tp.slice(3, 35));
      seen.add(tp.slice(36, 52));
    }
    assert.equal(seen.size, 1200);
  });

  it("adds a random version 4 UUID as x-request-id, unique across refills, its variant digit uniform", () => {
    const seen = new Set<string>();
    const variants = new Map<string, number>();
    for (let i = 0; i < 4000; i++) {
      const id = field(upstreamHeaders(request(["Host", "a"])), "x-request-id") ?? "";
      assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      seen.add(id);
      const v = id[19] as string;
      variants.set(v, (variants.get(v) ?? 0) + 1);
    }
    assert.equal(seen.size, 4000);
    // 1,000 each expected; the standard deviation is about 27.
    for (const v of "89ab")
      assert.ok(Math.abs((variants.get(v) ?? 0) - 1000) < 150, `variant ${v}: ${variants.get(v)}`);
  });

  it("keeps the client's x-request-id and traceparent", () => {
    const out = upstreamHeaders(request(["Host", "a", "X-Request-Id", "abc", "traceparent", "00-1-2-01"]));
    assert.equal(field(out, "X-Request-Id"), "abc");
    assert.equal(field(out, "traceparent"), "00-1-2-01");
    assert.equal(field(out, "x-request-id"), undefined);
  });

  it("drops hop-by-hop fields, those named by Connection, and Expect; keeps name case", () => {
    const out = upstreamHeaders(
      request(["Host", "a", "Connection", "keep-alive, X-Hop", "X-Hop", "1", "Expect", "100-continue", "X-Keep", "2"]),
    );
    assert.equal(field(out, "X-Keep"), "2");
    for (const gone of ["Connection", "X-Hop", "Expect"]) assert.equal(field(out, gone), undefined);
    assert.equal(field(out, "x-forwarded-for"), "10.0.0.7");
  });
});

describe("downstreamHeaders", () => {
  it("keeps the upstream's name case and duplicates, drops hop-by-hop fields", () => {
    const raw = [
      "Set-Cookie",
      "a=1",
      "Set-Cookie",
      "b=2",
      "Connection",
      "X-Hop",
      "X-Hop",
      "1",
      "Transfer-Encoding",
      "chunked",
    ];
    const out = downstreamHeaders(
      raw.map((h) => Buffer.from(h, "latin1")),
      { "set-cookie": ["a=1", "b=2"], connection: "X-Hop", "x-hop": "1", "transfer-encoding": "chunked" },
    );
    assert.deepEqual(out, ["Set-Cookie", "a=1", "Set-Cookie", "b=2"]);
  });
});
