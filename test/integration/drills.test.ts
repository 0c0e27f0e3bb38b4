import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { freePorts, until } from "../controlplane/harness.ts";
import { MESHLET_BIN, REPO_ROOT, runCli } from "../helpers/cli.ts";

/**
 * Every shipped drill (examples/drills/) against one real demo mesh of
 * processes (3 control-plane nodes, 5 apps and their sidecars), shortened by
 * --time-scale: waits and load steps are shorter, the thresholds the same.
 */
const DRILLS = [
  "ratings-delayed",
  "reviews-v2-aborts",
  "leader-killed",
  "leader-frozen",
  "control-plane-down",
  "app-killed",
];

describe("shipped drills pass against the demo mesh", () => {
  const dir = mkdtempSync(join(tmpdir(), "meshlet-drills-"));
  let demo: ReturnType<typeof spawn> | undefined;
  let out = "";

  before(async () => {
    const [http, grpc, outbound] = await freePorts(3);
    demo = spawn(
      process.execPath,
      [
        MESHLET_BIN,
        "demo",
        "--dir",
        dir,
        "--http",
        `127.0.0.1:${http}`,
        "--grpc",
        `127.0.0.1:${grpc}`,
        "--outbound",
        `127.0.0.1:${outbound}`,
        "--control-nodes",
        "3",
        "--rate",
        "0",
      ],
      { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    demo.stdout?.on("data", (c: Buffer) => {
      out += c.toString();
    });
    demo.stderr?.on("data", (c: Buffer) => {
      out += c.toString();
    });
    await until(
      "the demo to be up",
      async () => {
        if (demo?.exitCode !== null) throw new Error(`the demo exited: ${out}`);
        return out.includes("Ctrl-C stops everything") ? true : undefined;
      },
      90_000,
    );
  });

  after(async () => {
    if (demo !== undefined && demo.exitCode === null) {
      const exited = new Promise((r) => demo?.once("exit", r));
      demo.kill("SIGTERM");
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  for (const name of DRILLS) {
    it(`${name} passes`, async (t) => {
      const report = join(dir, `${name}.json`);
      const started = performance.now();
      const r = await runCli(
        [
          "drill",
          join(REPO_ROOT, "examples", "drills", `${name}.yaml`),
          "--dir",
          dir,
          "--time-scale",
          "0.25",
          "--report",
          report,
        ],
        { timeoutMs: 60_000 },
      );
      assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
      // The step table with each step's time: where a drill spends it (the suite's time budget, docs/drills.md).
      t.diagnostic(`${Math.round(performance.now() - started)} ms\n${r.stdout}`);
      const json = JSON.parse(readFileSync(report, "utf8")) as { drill: string; passed: boolean; steps: unknown[] };
      assert.equal(json.drill, name);
      assert.equal(json.passed, true);
    });
  }

  it("fails (exit 1) when a check does not hold, and says which", async () => {
    const file = join(dir, "impossible.yaml");
    const { writeFileSync } = await import("node:fs");
    writeFileSync(
      file,
      "name: impossible\nsteps:\n  - load: {via: web, host: reviews, path: /api/reviews/1, rate: 20, duration: 1s, checks: {throughput: {min: 1000}}}\n",
    );
    const r = await runCli(["drill", file, "--dir", dir]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /FAIL .*load/);
    assert.match(r.stdout, /✗ rate 20: req\/s: [\d.]+ \(expected >= 1000\)/);
  });
});
