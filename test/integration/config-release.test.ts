import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { StatusResponse } from "../../src/controlplane/config/api-types.ts";
import { selects } from "../../src/controlplane/config/selection.ts";
import { type ControlProc, makeCluster, until } from "../controlplane/harness.ts";
import { runCli } from "../helpers/cli.ts";
import { type RunningSidecar, startSidecar } from "../sidecar/helpers.ts";

const SERVICE = `apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: web}
spec: {config: {keys: [app/flag], prefixes: [app/shop/]}}
`;

interface AppView {
  status: number;
  value: string;
  etag: string | null;
  release: string | null;
  stale: string | null;
}

async function read(sc: RunningSidecar, key = "app/flag"): Promise<AppView> {
  const res = await fetch(`http://127.0.0.1:${sc.admin}/config/${key}`, { signal: AbortSignal.timeout(5_000) });
  return {
    status: res.status,
    value: await res.text(),
    etag: res.headers.get("etag"),
    release: res.headers.get("x-meshlet-config-release"),
    stale: res.headers.get("x-meshlet-config-stale"),
  };
}

/** Waits until every sidecar's app reads what `want(instance)` says it should. */
async function converge(
  what: string,
  sidecars: Map<string, RunningSidecar>,
  want: (instance: string) => { value: string; release: string },
): Promise<Map<string, AppView>> {
  return until(
    what,
    async () => {
      const views = new Map<string, AppView>();
      for (const [id, sc] of sidecars) {
        const v = await read(sc);
        const w = want(id);
        if (v.status !== 200 || v.value !== w.value || v.release !== w.release) return undefined;
        views.set(id, v);
      }
      return views;
    },
    20_000,
  );
}

async function cli(node: ControlProc, ...args: string[]): Promise<string> {
  const r = await runCli([...args, "--server", node.http]);
  assert.equal(r.code, 0, `meshlet ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

test("gray release by labels and by a growing percentage, promote and rollback converge every instance; the app reads its sidecar with the control plane down", async (t) => {
  const c = await makeCluster(1);
  const node = c.nodes[0];
  assert.ok(node !== undefined);
  c.start(node);
  const root = await mkdtemp(join(tmpdir(), "meshlet-config-"));
  const sidecars = new Map<string, RunningSidecar>();
  const labels = new Map<string, string>();
  t.after(async () => {
    await Promise.all([...sidecars.values()].map((s) => s.stop()));
    await c.stopAll();
    await rm(root, { recursive: true, force: true });
  });
  await until("control plane up", async () => ((await fetch(`https://${node.http}/v1/cluster`)).ok ? true : undefined));
  await writeFile(join(root, "web.yaml"), SERVICE);
  await cli(node, "apply", "-f", join(root, "web.yaml"));
  const first = Number((await cli(node, "config", "put", "app/flag", "off")).trim());
  await cli(node, "config", "put", "app/shop/currency", "EUR");

  const start = async (id: string, version: string, extra: string[] = []) => {
    const dir = join(root, id);
    labels.set(id, version);
    const sc = await startSidecar(undefined, {
      service: "web",
      staticConfig: false,
      dir,
      args: ["--control", node.grpc, "--instance", id, "--labels", `version=${version}`, ...extra],
    });
    sidecars.set(id, sc);
    return sc;
  };
  const ids = ["web-1", "web-2", "web-3", "web-4", "web-5", "web-6"];
  for (const [i, id] of ids.entries()) {
    await start(id, i % 3 === 0 ? "v2" : "v1", i === 0 ? ["--config-dir", join(root, "files")] : []);
  }
  const base = await converge("every app reads the base value", sidecars, () => ({ value: "off", release: "base" }));
  assert.ok([...base.values()].every((v) => v.etag === String(first) && v.stale === null));
  const sc1 = sidecars.get("web-1");
  assert.ok(sc1 !== undefined);
  assert.equal((await read(sc1, "app/shop/currency")).value, "EUR");
  assert.equal((await read(sc1, "app/secret")).status, 404);
  const metrics = await (await fetch(`http://127.0.0.1:${sc1.admin}/metrics`)).text();
  assert.match(metrics, /^meshlet_sidecar_app_config_keys 2$/m);

  // By labels: exactly the v2 instances.
  await cli(node, "config", "release", "app/flag", "--value", "on", "--labels", "version=v2", "--name", "flag-v2");
  await converge("the v2 instances read the release", sidecars, (id) =>
    labels.get(id) === "v2" ? { value: "on", release: "flag-v2" } : { value: "off", release: "base" },
  );
  const status = JSON.parse(await cli(node, "config", "status", "app/flag", "-o", "json")) as StatusResponse;
  assert.equal(status.instances.length, ids.length);
  await cli(node, "config", "rollback", "app/flag");
  const back = await converge("rollback: every instance back on the base value", sidecars, () => ({
    value: "off",
    release: "base",
  }));
  // The instances that were in the release went back to an older value at a newer revision.
  for (const [id, v] of back) if (labels.get(id) === "v2") assert.ok(Number(v.etag) > first, `${id}: ${v.etag}`);

  // By percentage: the selected set only grows as the percentage does.
  let previous = new Set<string>();
  for (const percent of [20, 50, 100]) {
    await cli(node, "config", "release", "app/flag", "--value", "on", "--percent", String(percent));
    const inRelease = new Set(ids.filter((instance) => selects({ percent }, "app/flag", { instance, labels: {} })));
    const views = await converge(`${percent}%: the selected instances and no other`, sidecars, (id) =>
      inRelease.has(id) ? { value: "on", release: "app-flag-65f9e4" } : { value: "off", release: "base" },
    );
    for (const id of previous) assert.ok(inRelease.has(id), `${id} left the canary at ${percent}%`);
    previous = inRelease;
    assert.equal([...views.values()].filter((v) => v.value === "on").length, inRelease.size);
  }
  const acked = await until("status: every instance acknowledged the release", async () => {
    const s = JSON.parse(await cli(node, "config", "status", "app/flag", "-o", "json")) as StatusResponse;
    return s.instances.length === ids.length && s.instances.every((i) => i.acked && i.release === "app-flag-65f9e4")
      ? s
      : undefined;
  });
  assert.equal(acked.summary.length, 1);
  const promoted = JSON.parse(await cli(node, "config", "promote", "app/flag", "-o", "json")) as { revision: number };
  const after = await converge("promote: every instance on the new base value", sidecars, () => ({
    value: "on",
    release: "base",
  }));
  assert.ok([...after.values()].every((v) => v.etag === String(promoted.revision)));
  await cli(node, "config", "rollback", "app/flag", "--to", String(first));
  await converge("rollback --to: every instance on the first value", sidecars, () => ({
    value: "off",
    release: "base",
  }));
  assert.equal(await readFile(join(root, "files", "app", "flag"), "utf8").catch(() => ""), "off");
  const history = await cli(node, "config", "history", "app/flag");
  assert.match(history, /rollback\s+to \d+/);
  assert.match(history, /promote\s+app-flag-65f9e4/);

  // The control plane goes away: apps keep reading their sidecar, told how stale the value is.
  await c.kill9(node);
  const stale = await until("the sidecar marks its values stale", async () => {
    const v = await read(sc1);
    return v.stale !== null ? v : undefined;
  });
  assert.equal(stale.status, 200);
  assert.equal(stale.value, "off");
  // A sidecar restarted meanwhile serves what it kept in --data-dir.
  await sc1.stop();
  sidecars.delete("web-1");
  const again = await start("web-1", "v2", ["--config-dir", join(root, "files")]);
  const kept = await read(again);
  assert.equal(kept.status, 200);
  assert.equal(kept.value, "off");
  assert.ok(Number(kept.stale) >= 0, `stale header: ${kept.stale}`);
  const waited = await fetch(`http://127.0.0.1:${again.admin}/config/app/flag?wait=0`);
  assert.equal(await waited.text(), "off");
  // Back: values are current again, and the next change arrives.
  c.start(node);
  await until(
    "the sidecar is current again",
    async () => ((await read(again)).stale === null ? true : undefined),
    30_000,
  );
  await until("control plane accepts writes", async () => {
    const r = await runCli(["config", "put", "app/flag", "back", "--server", node.http]);
    return r.code === 0 ? true : undefined;
  });
  await converge("a change after the outage reaches every instance", sidecars, () => ({
    value: "back",
    release: "base",
  }));
});
