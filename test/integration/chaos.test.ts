import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { ExperimentListResponse } from "../../src/controlplane/faults/api.ts";
import { type ControlProc, leaderOf, makeCluster, until } from "../controlplane/harness.ts";
import { runCli } from "../helpers/cli.ts";
import { nameServer, route, send, service, startSidecar } from "../sidecar/helpers.ts";

/**
 * FaultExperiments end to end with real processes started through the real
 * CLI: a 3-node control plane, two sidecars (one with --no-faults), `meshlet
 * chaos` round trips, expiry across a leader kill, and a sidecar that ends an
 * experiment on its own while every control-plane node is down.
 */

function tempFile(text: string): { file: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "meshlet-chaos-"));
  const file = join(dir, "x.yaml");
  writeFileSync(file, text);
  return { file, done: () => rmSync(dir, { recursive: true, force: true }) };
}

async function flagsOf(port: number): Promise<string> {
  const r = await send(port, { headers: { host: "ratings" } });
  return `${r.status} ${String(r.headers["x-meshlet-flags"] ?? "-")}`;
}

/** Starts an experiment through the API (faster than a CLI process where the test measures time). */
async function startVia(node: ControlProc, experiment: object): Promise<number> {
  const r = await fetch(`https://${node.http}/v1/chaos/experiments`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-meshlet-user": "test" },
    body: JSON.stringify({ experiment }),
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(r.status, 201, await r.clone().text());
  return ((await r.json()) as { experiment: { status: { deadline: number } } }).experiment.status.deadline;
}

function experiment(name: string, duration: string, fault: object): object {
  return {
    apiVersion: "meshlet.dev/v1",
    kind: "FaultExperiment",
    metadata: { name },
    spec: { target: { service: "ratings" }, duration, ...fault },
  };
}

/** Experiments in the timed parts: long enough for a loaded machine to elect a leader well within them. */
const TIMED_S = 8;

async function list(node: ControlProc): Promise<ExperimentListResponse> {
  const r = await fetch(`https://${node.http}/v1/chaos/experiments?consistency=stale`, {
    signal: AbortSignal.timeout(2_000),
  });
  return (await r.json()) as ExperimentListResponse;
}

test("chaos: CLI round trip, --no-faults, expiry across a leader kill and with the control plane down", async (t) => {
  // Info level: the start/stop log lines are part of what is checked.
  const c = await makeCluster(3, ["--tick-ms", "50", "--election-ticks", "10"]);
  const upstream = await nameServer("ratings");
  const cleanups: (() => unknown)[] = [];
  t.after(async () => {
    for (const f of cleanups.reverse()) await f();
    await c.stopAll();
    await upstream.close();
  });
  for (const n of c.nodes) c.start(n);
  let leader = await leaderOf(c.nodes);
  const server = (n: ControlProc) => ["--server", `https://${n.http}`];

  const mesh = tempFile(
    [
      // A static endpoint (the app itself, plain text) next to the ratings sidecar that registers (mTLS):
      // callers must speak each one's transport. PERMISSIVE: callers with certificates still use mTLS, and the
      // test probes the sidecar's inbound port in plain text where it checks inbound experiments.
      service("ratings", [{ port: upstream.port }]).replace("spec:\n", "spec:\n  mtls: {mode: PERMISSIVE}\n"),
      route("ratings", "    - destinations: [{service: ratings}]\n      timeout: 1s"),
    ].join("---\n"),
  );
  cleanups.push(mesh.done);
  const applied = await runCli(["apply", "-f", mesh.file, ...server(leader)]);
  assert.equal(applied.code, 0, applied.stderr);

  const controls = c.nodes.map((n) => n.grpc).join(",");
  const [client, guarded, target] = await Promise.all([
    startSidecar(undefined, { staticConfig: false, args: ["--control", controls] }),
    startSidecar(undefined, { staticConfig: false, args: ["--control", controls, "--no-faults"] }),
    // A sidecar of ratings itself, in front of the upstream: where inbound experiments run.
    startSidecar(undefined, {
      service: "ratings",
      appPort: upstream.port,
      staticConfig: false,
      args: ["--control", controls, "--labels", "version=v2"],
    }),
  ]);
  cleanups.push(
    () => client.stop(),
    () => guarded.stop(),
    () => target.stop(),
  );
  await until("both sidecars route to ratings", async () =>
    (await flagsOf(client.outbound)) === "200 -" && (await flagsOf(guarded.outbound)) === "200 -" ? true : undefined,
  );

  // --- CLI round trip -------------------------------------------------------
  const start = await runCli([
    "chaos",
    "start",
    "--abort",
    "503",
    "--service",
    "ratings",
    "--for",
    "10m",
    "--name",
    "abort-ratings",
    "--reason",
    "game day",
    ...server(leader),
  ]);
  assert.equal(start.code, 0, start.stderr);
  assert.match(start.stdout, /^started abort-ratings: abort 503 on outbound of ratings, 100% of requests, until /);
  const again = await runCli([
    "chaos",
    "start",
    "--abort",
    "503",
    "--service",
    "ratings",
    "--for",
    "10m",
    "--name",
    "abort-ratings",
    ...server(leader),
  ]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already running/);
  const usage = await runCli([
    "chaos",
    "start",
    "--abort",
    "503",
    "--delay",
    "1s",
    "--service",
    "ratings",
    "--for",
    "30s",
    ...server(leader),
  ]);
  assert.equal(usage.code, 2);
  const listed = await runCli(["chaos", "list", "-o", "wide", ...server(leader)]);
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(
    listed.stdout,
    /abort-ratings\s+ratings\s+outbound\s+abort 503\s+100%\s+\d+s\s+token admin-\S+ \(user \S+\)\s+game day/,
  );
  await until("the experiment reaches the caller's sidecar", async () =>
    (await flagsOf(client.outbound)) === "503 FI" ? true : undefined,
  );
  assert.equal(await flagsOf(guarded.outbound), "200 -", "--no-faults sidecar forwards untouched");
  const viaApply = tempFile(
    "apiVersion: meshlet.dev/v1\nkind: FaultExperiment\nmetadata: {name: x}\nspec: {target: {service: ratings}, kind: reset, duration: 10m}\n",
  );
  cleanups.push(viaApply.done);
  const refused = await runCli(["apply", "-f", viaApply.file, ...server(leader)]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /meshlet chaos start -f FILE/);
  const fromFile = await runCli(["chaos", "start", "-f", viaApply.file, ...server(leader)]);
  assert.equal(fromFile.code, 0, fromFile.stderr);
  const stop = await runCli(["chaos", "stop", "abort-ratings", "--reason", "seen enough", ...server(leader)]);
  assert.equal(stop.code, 0, stop.stderr);
  assert.equal(stop.stdout, "stopped abort-ratings\n");
  assert.equal((await runCli(["chaos", "stop", "abort-ratings", ...server(leader)])).code, 1);
  assert.equal((await runCli(["chaos", "stop", ...server(leader)])).code, 2);
  const all = await runCli(["chaos", "stop", "--all", ...server(leader)]);
  assert.equal(all.stdout, "stopped x\n");
  await until("requests are forwarded again", async () =>
    (await flagsOf(client.outbound)) === "200 -" ? true : undefined,
  );
  const log = leader.log.join("");
  assert.match(
    log,
    /"experiment":"abort-ratings","by":"token admin-[^" ]+ \(user [^"]+\)","reason":"game day".*"chaos experiment started"/,
  );
  assert.match(
    log,
    /"experiment":"abort-ratings","by":"token admin-[^" ]+ \(user [^"]+\)","reason":"seen enough".*"chaos experiment stopped"/,
  );

  // --- inbound: the target's own sidecar, selected by label -----------------
  await startVia(
    leader,
    experiment("inbound-abort", "10m", {
      kind: "abort",
      abort: { status: 418 },
      side: "inbound",
      target: { service: "ratings", labels: { version: "v2" } },
    }),
  );
  await until("the inbound experiment reaches ratings' sidecar", async () =>
    (await flagsOf(target.inbound)) === "418 FI" ? true : undefined,
  );
  const stopped = await fetch(`https://${leader.http}/v1/chaos/experiments/inbound-abort`, { method: "DELETE" });
  assert.equal(stopped.status, 200);
  await until("ratings' sidecar forwards again", async () =>
    (await flagsOf(target.inbound)) === "200 -" ? true : undefined,
  );

  // --- a leader change neither extends nor loses the deadline ---------------
  const deadline = await startVia(
    leader,
    experiment("survive", `${TIMED_S}s`, { kind: "delay", delay: { fixed: "1ms" } }),
  );
  await c.kill9(leader);
  const survivors = c.nodes.filter((n) => n.proc !== undefined);
  leader = await leaderOf(survivors);
  assert.ok(
    Date.now() < deadline - 500,
    "the new leader was elected well before the deadline (else the test proves nothing)",
  );
  assert.ok(
    (await list(leader)).items.some((i) => i.experiment.metadata.name === "survive"),
    "not lost by the failover",
  );
  let goneAt = 0;
  while (goneAt === 0) {
    const seen = await Promise.all(survivors.map(list));
    if (seen.every((l) => !l.items.some((i) => i.experiment.metadata.name === "survive"))) goneAt = Date.now();
    else await sleep(50);
    assert.ok(Date.now() < deadline + TIMED_S * 1000, "the experiment outlived its deadline by a whole duration");
  }
  assert.ok(goneAt >= deadline, `removed ${deadline - goneAt} ms before its deadline`);
  // A new leader that restarted the clock would remove it a whole duration late; half of one is the bound on a
  // loaded machine (the expiry check runs every 250 ms, then one Raft entry commits).
  assert.ok(goneAt <= deadline + (TIMED_S * 1000) / 2, `removed ${goneAt - deadline} ms after its deadline`);
  assert.match(leader.log.join(""), /"experiment":"survive","by":"control-plane".*"chaos experiment expired"/);

  // --- the sidecar ends it by itself when no control-plane node is up -------
  const downDeadline = await startVia(
    leader,
    experiment("down", `${TIMED_S}s`, { kind: "abort", abort: { status: 503 } }),
  );
  await until("the experiment reaches the caller's sidecar", async () =>
    (await flagsOf(client.outbound)) === "503 FI" ? true : undefined,
  );
  await Promise.all(survivors.map((n) => c.kill9(n)));
  assert.ok(Date.now() < downDeadline - 500, "every node was down well before the deadline");
  assert.equal(await flagsOf(client.outbound), "503 FI", "still applied before the deadline, control plane down");
  assert.equal(await flagsOf(guarded.outbound), "200 -");
  await sleep(Math.max(0, downDeadline - Date.now()) + 50);
  assert.equal(
    await flagsOf(client.outbound),
    "200 -",
    "not applied after its deadline, with no control plane to remove it",
  );
});
