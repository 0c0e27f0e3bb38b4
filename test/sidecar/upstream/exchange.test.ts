import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Dispatcher } from "undici";
import { AttemptTimeoutError, ClientGoneError, UpstreamExchange } from "../../../src/sidecar/upstream/exchange.ts";

function fakeController() {
  const aborted: Error[] = [];
  const controller = {
    aborted: false,
    paused: false,
    reason: null,
    rawHeaders: null,
    rawTrailers: null,
    abort: (e: Error) => aborted.push(e),
    pause: () => {},
    resume: () => {},
  } as unknown as Dispatcher.DispatchController;
  return { controller, aborted };
}

describe("UpstreamExchange", () => {
  it("settles at once when aborted while still queued, and aborts the request when undici starts it", () => {
    const settled: UpstreamExchange[] = [];
    const x = new UpstreamExchange((e) => settled.push(e));
    x.abort(new AttemptTimeoutError("route timeout"));
    assert.equal(settled.length, 1);
    assert.equal(settled[0]?.error, "timeout");
    const { controller, aborted } = fakeController();
    x.onRequestStart(controller);
    assert.equal(aborted.length, 1, "the queued request is aborted when it starts");
    x.onResponseError(controller, aborted[0] as Error);
    assert.equal(settled.length, 1, "settled once");
  });

  it("a client that left is a cancelled attempt, not an upstream error", () => {
    const settled: UpstreamExchange[] = [];
    const x = new UpstreamExchange((e) => settled.push(e));
    const { controller } = fakeController();
    x.onRequestStart(controller);
    x.onResponseError(controller, new ClientGoneError("gone"));
    assert.equal(settled[0]?.cancelled, true);
    assert.equal(settled[0]?.error, undefined);
  });

  it("classifies connect failures, resets and requests undici refuses to write", () => {
    const outcome = (code: string) => {
      let out: UpstreamExchange | undefined;
      const x = new UpstreamExchange((e) => {
        out = e;
      });
      x.onResponseError(null, Object.assign(new Error(code), { code }));
      return out;
    };
    assert.equal(outcome("ECONNREFUSED")?.error, "connect");
    assert.equal(outcome("UND_ERR_CONNECT_TIMEOUT")?.error, "connect");
    assert.equal(outcome("UND_ERR_SOCKET")?.error, "reset");
    assert.equal(outcome("UND_ERR_INVALID_ARG")?.invalid, "UND_ERR_INVALID_ARG");
  });
});
