import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseCommandLine } from "../../helpers/parse-command.ts";

describe("meshlet sidecar --no-faults", () => {
  const base = ["sidecar", "--service", "a", "--app-port", "8080"];

  it("applies faults by default; --no-faults or MESHLET_NO_FAULTS refuses them", async () => {
    assert.equal((await parseCommandLine(base)).options.faults, true);
    assert.equal((await parseCommandLine([...base, "--no-faults"])).options.faults, false);
    process.env.MESHLET_NO_FAULTS = "1";
    try {
      assert.equal((await parseCommandLine(base)).options.faults, false);
    } finally {
      delete process.env.MESHLET_NO_FAULTS;
    }
  });
});
