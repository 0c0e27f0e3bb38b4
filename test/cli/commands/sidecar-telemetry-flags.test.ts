import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runCli } from "../../helpers/cli.ts";

const BASE = ["sidecar", "--service", "a", "--app-port", "9", "--config", "/dev/null"];
const LISTEN = ["--outbound", "127.0.0.1:0", "--inbound", "127.0.0.1:0", "--admin", "127.0.0.1:0"];

describe("meshlet sidecar telemetry flags", () => {
  const usage: [string, string[], RegExp][] = [
    ["an unknown access-log mode", ["--access-log", "some"], /--access-log: expected one of off, sampled, all/],
    [
      "a sample rate above 1",
      ["--access-log-sample-rate", "1.5"],
      /--access-log-sample-rate: expected a number from 0 to 1/,
    ],
    [
      "a negative sample rate",
      ["--tracing-sample-rate", "-0.1"],
      /--tracing-sample-rate: expected a number from 0 to 1/,
    ],
    ["a sample rate that is not a number", ["--tracing-sample-rate", "half"], /--tracing-sample-rate/],
    ["a tracing endpoint that is not a URL", ["--tracing-endpoint", "collector:4318"], /--tracing-endpoint: expected/],
    [
      "a tracing endpoint that is not http(s)",
      ["--tracing-endpoint", "grpc://c:4317"],
      /--tracing-endpoint: expected an http\(s\) URL/,
    ],
  ];
  for (const [why, args, message] of usage) {
    it(`exits 2 on ${why}`, async () => {
      const r = await runCli([...BASE, ...args]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
    });
  }

  it("takes its values from the environment too", async () => {
    const r = await runCli(BASE, { env: { MESHLET_ACCESS_LOG: "loud" } });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--access-log: expected one of off, sampled, all, got "loud"/);
  });

  it("exits 1 with the path and reason when the access log file cannot be opened", async () => {
    const r = await runCli([...BASE, ...LISTEN, "--access-log", "all", "--access-log-file", "/nonexistent/dir/a.log"]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /--access-log-file: cannot open \/nonexistent\/dir\/a\.log: ENOENT/);
  });
});
