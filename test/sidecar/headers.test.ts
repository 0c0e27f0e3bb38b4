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
  it("passes x-request-id and traceparent as they came (telemetry sets them: test/sidecar/telemetry)", () => {
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
