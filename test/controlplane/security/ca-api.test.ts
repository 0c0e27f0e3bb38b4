import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { errorCode } from "../../../src/common/errors.ts";
import { overlapOf } from "../../../src/controlplane/security/ca-api.ts";

const HOUR = 3_600_000;

describe("POST /v1/ca/rotate's body", () => {
  it("takes no overlap (twice --cert-ttl) or a duration up to a year, zero included", () => {
    assert.equal(overlapOf({}, 24 * HOUR), 48 * HOUR);
    assert.equal(overlapOf({ overlap: "90m" }, 24 * HOUR), 1.5 * HOUR);
    assert.equal(overlapOf({ overlap: "0" }, 24 * HOUR), 0);
    assert.equal(overlapOf({ overlap: "8760h" }, 24 * HOUR), 8760 * HOUR);
  });

  it("refuses anything else with ERR_BAD_REQUEST (400)", () => {
    for (const body of [null, [], "48h", { overlap: "soon" }, { overlap: 3600 }, { overlap: "8761h" }, { ttl: "1h" }]) {
      assert.throws(
        () => overlapOf(body, HOUR),
        (err: unknown) => errorCode(err) === "ERR_BAD_REQUEST" && (err as { status?: number }).status === 400,
        JSON.stringify(body),
      );
    }
  });
});
