import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { openSse, type SseMessage } from "../../src/common/sse-client.ts";
import type { HistoryResponse } from "../../src/controlplane/config/api-types.ts";
import type { SidecarsResponse } from "../../src/controlplane/resources/api-types.ts";
import { type Cluster, type ControlProc, FAST_FLAGS, leaderOf, makeCluster, until } from "../controlplane/harness.ts";
import { runCli, startCli, stopProcess } from "../helpers/cli.ts";
import { startSidecar } from "../sidecar/helpers.ts";
import { Rng } from "../sim/rng.ts";

interface Change {
  type: "put" | "delete";
  key: string;
  value?: string;
  revision: number;
}

/**
 * One writer, sequential, that knows exactly what it changed even when a node
 * dies under a request: every write is a compare-and-set on the key's last
 * revision, so of the attempts of one write at most one can apply; an answer
 * lost in a failover is resolved by trying again (412 = an earlier attempt
 * applied: read it back).
 */
class ModelWriter {
  readonly model: Change[] = [];
  readonly #last = new Map<string, number>();
  readonly #c: Cluster;
  readonly #down = new Set<ControlProc>();
  #seq = 0;
  #next = 0;

  constructor(c: Cluster) {
    this.#c = c;
  }

  down(n: ControlProc): void {
    this.#down.add(n);
  }

  up(n: ControlProc): void {
    this.#down.delete(n);
  }

  present(key: string): boolean {
    const last = [...this.model].reverse().find((e) => e.key === key);
    return last !== undefined && last.type === "put";
  }

  #node(): ControlProc {
    const live = this.#c.nodes.filter((n) => !this.#down.has(n));
    return live[this.#next++ % live.length] as ControlProc;
  }

  async #call(path: string, init: RequestInit = {}): Promise<Response | undefined> {
    try {
      return await fetch(`https://${this.#node().http}${path}`, {
        ...init,
        headers: { "x-meshlet-timeout": "1500", ...(init.headers as Record<string, string>) },
        signal: AbortSignal.timeout(3_000),
      });
    } catch {
      return undefined;
    }
  }

  async write(key: string, type: "put" | "delete"): Promise<void> {
    const expected = this.#last.get(key) ?? 0;
    for (let attempt = 0; attempt < 200; attempt++) {
      const value = `v${this.#seq++}`;
      const res = await this.#call(`/v1/config/${key}`, {
        method: type === "put" ? "PUT" : "DELETE",
        headers: { "if-match": String(expected) },
        ...(type === "put" ? { body: value } : {}),
      });
      if (res?.status === 200)
        return this.#record(key, type, value, ((await res.json()) as { revision: number }).revision);
      if (res?.status === 412) return this.#recover(key, type, expected);
      await res?.body?.cancel();
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`write of ${key} never went through`);
  }

  /** An earlier attempt applied (its answer was lost): its revision from the key's history, its value from a read. */
  async #recover(key: string, type: "put" | "delete", expected: number): Promise<void> {
    for (;;) {
      const h = await this.#call(`/v1/config/${key}:history`);
      if (h?.status === 200) {
        const entry = ((await h.json()) as HistoryResponse).entries.find((e) => e.revision > expected);
        assert.equal(entry?.action, type);
        if (type === "delete") return this.#record(key, type, undefined, entry?.revision ?? 0);
        const v = await this.#call(`/v1/config/${key}`);
        if (v?.status === 200) return this.#record(key, type, await v.text(), entry?.revision ?? 0);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  #record(key: string, type: "put" | "delete", value: string | undefined, revision: number): void {
    this.#last.set(key, type === "put" ? revision : 0);
    this.model.push(type === "put" ? { type, key, value: value ?? "", revision } : { type, key, revision });
  }
}

/** `meshlet config watch` as a user runs it; its stdout parsed as it comes. */
function watcher(servers: ControlProc[]) {
  const proc = startCli([
    "config",
    "watch",
    "app/",
    "--prefix",
    "-o",
    "json",
    "--server",
    servers.map((s) => s.http).join(","),
  ]);
  let out = "";
  let err = "";
  proc.stdout?.on("data", (c: Buffer) => {
    out += c.toString();
  });
  proc.stderr?.on("data", (c: Buffer) => {
    err += c.toString();
  });
  return {
    proc,
    stderr: () => err,
    events: () =>
      out
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => JSON.parse(l) as Change),
  };
}

test("meshlet config watch misses nothing across leader changes: on the leader that is killed, and on a follower", async (t) => {
  const c = await makeCluster(3, FAST_FLAGS);
  const watchers: ChildProcess[] = [];
  t.after(async () => {
    await Promise.all(watchers.map((w) => stopProcess(w)));
    await c.stopAll();
  });
  for (const n of c.nodes) c.start(n);
  const leader = await leaderOf(c.nodes);
  const followers = c.nodes.filter((n) => n !== leader);
  const steady = followers[0] as ControlProc;
  // One watch starts on the leader (it has to move when that node dies), one on a follower that stays up.
  const moving = watcher([leader, ...followers]);
  const onFollower = watcher([steady]);
  watchers.push(moving.proc, onFollower.proc);
  await until("both watches started", async () =>
    moving.stderr().includes("watching") && onFollower.stderr().includes("watching") ? true : undefined,
  );
  const writer = new ModelWriter(c);
  const rng = new Rng(21);
  const burst = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const key = `app/k${rng.intn(4)}`;
      await writer.write(key, writer.present(key) && rng.chance(0.3) ? "delete" : "put");
    }
  };
  await burst(20);
  await c.kill9(leader);
  writer.down(leader);
  await burst(20);
  c.start(leader);
  writer.up(leader);
  // A second change of leader, by transfer to the node that came back.
  const current = await leaderOf(followers);
  await until("the restarted node caught up", async () => {
    const r = await fetch(`https://${leader.http}/v1/cluster`).catch(() => undefined);
    return r?.ok ? true : undefined;
  });
  const moved = await fetch(`https://${current.http}/v1/cluster/leader`, {
    method: "POST",
    body: JSON.stringify({ id: leader.id }),
  });
  assert.equal(moved.status, 200, await moved.text());
  await burst(20);
  const last = writer.model.at(-1)?.revision ?? 0;
  for (const w of [moving, onFollower]) {
    await until("the watch printed the last change", async () =>
      (w.events().at(-1)?.revision ?? 0) >= last ? true : undefined,
    );
    assert.deepEqual(w.events(), writer.model, w.stderr());
  }
  assert.match(moving.stderr(), /resuming at revision/);
});

/** A sidecar of `web` and an app watching app/flag on it over SSE, for the whole test. */
async function appBehindSidecar(root: string, id: string, controls: ControlProc[], stops: (() => Promise<unknown>)[]) {
  const sc = await startSidecar(undefined, {
    service: "web",
    staticConfig: false,
    dir: join(root, id),
    args: ["--control", controls.map((n) => n.grpc).join(","), "--instance", id],
  });
  stops.push(() => sc.stop());
  await until(`${id} has the key`, async () => {
    const r = await fetch(`http://127.0.0.1:${sc.admin}/config/app/flag`);
    return r.status === 200 ? true : undefined;
  });
  const seen: SseMessage[] = [];
  const controller = new AbortController();
  stops.push(async () => controller.abort());
  const app = await openSse(
    `http://127.0.0.1:${sc.admin}/config/app/flag?watch=1`,
    { signal: controller.signal },
    (m) => seen.push(m),
  );
  assert.ok(app.ok);
  let closed = false;
  void app.done.finally(() => {
    closed = true;
  });
  return {
    sc,
    closed: () => closed,
    changes: () => seen.filter((m) => m.data !== "").map((m) => JSON.parse(m.data) as Change),
  };
}

test("apps watching their sidecars miss no change when the sidecar's node dies: moved to another node, or back on it", async (t) => {
  const c = await makeCluster(3, FAST_FLAGS);
  const root = await mkdtemp(join(tmpdir(), "meshlet-config-watch-"));
  const stops: (() => Promise<unknown>)[] = [];
  t.after(async () => {
    for (const s of stops) await s();
    await c.stopAll();
    await rm(root, { recursive: true, force: true });
  });
  for (const n of c.nodes) c.start(n);
  const leader = await leaderOf(c.nodes);
  const [first, ...rest] = c.nodes as [ControlProc, ...ControlProc[]];
  await writeFile(
    join(root, "web.yaml"),
    "apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: web}\nspec: {config: {keys: [app/flag]}}\n",
  );
  assert.equal((await runCli(["apply", "-f", join(root, "web.yaml"), "--server", leader.http])).code, 0);
  const writer = new ModelWriter(c);
  await writer.write("app/flag", "put");
  // Both sidecars' streams go to the first node: one may move to the others, one knows no other node.
  const moving = await appBehindSidecar(root, "web-1", c.nodes, stops);
  const stuck = await appBehindSidecar(root, "web-2", [first], stops);
  const spaced = async (n: number, gapMs: number) => {
    for (let i = 0; i < n; i++) {
      await writer.write("app/flag", "put");
      await new Promise((r) => setTimeout(r, gapMs));
    }
  };
  await spaced(8, 150);
  const connected = writer.model.slice();
  await c.kill9(first);
  writer.down(first);
  await spaced(8, 30);
  await until("web-1's stream is on another node", async () => {
    const r = await fetch(`https://${rest[0]?.http}/v1/sidecars`).catch(() => undefined);
    const list = r?.ok ? ((await r.json()) as SidecarsResponse) : undefined;
    return list?.sidecars.some((s) => s.instance === "web-1" && s.node !== first.id) ? true : undefined;
  });
  // web-2 has no node: its app still reads, told how stale the value is, and sees none of the writes.
  const away = writer.model.at(-1);
  const stale = await fetch(`http://127.0.0.1:${stuck.sc.admin}/config/app/flag`);
  assert.notEqual(stale.headers.get("x-meshlet-config-stale"), null);
  assert.equal(stuck.changes().at(-1)?.revision, connected.at(-1)?.revision);
  c.start(first);
  writer.up(first);
  // What was written while a sidecar was away reaches its app with the new stream, before any further change.
  for (const app of [moving, stuck]) {
    await until("the app has what was written while its sidecar was away", async () =>
      app.changes().at(-1)?.revision === away?.revision ? true : undefined,
    );
  }
  const reconnected = writer.model.length;
  await spaced(8, 150);
  const final = writer.model.at(-1);
  const valueAt = new Map(writer.model.map((e) => [e.revision, e.value]));
  for (const app of [moving, stuck]) {
    await until("the app has the last value", async () =>
      app.changes().at(-1)?.revision === final?.revision ? true : undefined,
    );
    const got = app.changes();
    // Never back, never twice, each value the one the key had at that revision.
    for (let i = 0; i < got.length; i++) {
      const e = got[i] as Change;
      assert.equal(valueAt.get(e.revision), e.value, `event ${i}: ${JSON.stringify(e)}`);
      if (i > 0) assert.ok(e.revision > (got[i - 1] as Change).revision, `event ${i} went back`);
    }
    // While connected, and after the reconnection, every change reached the app.
    const revisions = new Set(got.map((e) => e.revision));
    for (const e of [...connected, ...writer.model.slice(reconnected)])
      assert.ok(revisions.has(e.revision), `the app missed ${JSON.stringify(e)}: saw ${[...revisions].join(",")}`);
    assert.equal(app.closed(), false, "the app's stream stayed open");
  }
});
