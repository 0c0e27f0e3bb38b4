import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatHostPort, parseHostPort } from "../../src/common/address.ts";
import { UsageError } from "../../src/common/errors.ts";

describe("parseHostPort", () => {
  it("parses IPv4, names and bracketed IPv6", () => {
    assert.deepEqual(parseHostPort("127.0.0.1:15001", "--outbound"), { host: "127.0.0.1", port: 15001 });
    assert.deepEqual(parseHostPort("localhost:0", "--admin"), { host: "localhost", port: 0 });
    assert.deepEqual(parseHostPort("[::1]:80", "--inbound"), { host: "::1", port: 80 });
    assert.equal(formatHostPort({ host: "::1", port: 80 }), "[::1]:80");
  });

  it("names the flag in its error", () => {
    assert.throws(
      () => parseHostPort("15001", "--outbound"),
      (e: unknown) => e instanceof UsageError && /--outbound/.test(e.message),
    );
    assert.throws(() => parseHostPort("h:70000", "--admin"), UsageError);
  });
});
