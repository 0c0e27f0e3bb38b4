import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { after, before, test } from "node:test";
import { Metadata, status } from "@grpc/grpc-js";
import { type RunningSidecar, waitFor } from "../helpers.ts";
import { type EchoMesh, echoClient, grpcService, type Msg, startEchoMesh, unary } from "./fixture.ts";

// One client sidecar; three server sidecars, each in front of one grpc-js backend; the client sidecar's
// Service "echo" lists the three inbound ports with protocol grpc, so sidecar to sidecar is HTTP/2.
let mesh: EchoMesh;
let servers: RunningSidecar[];
let client: RunningSidecar;

before(async () => {
  mesh = await startEchoMesh((inbound) => [hashed(inbound)]);
  ({ servers, client } = mesh);
});

/** The consistent-hash Service over the three server sidecars. */
function hashed(inbound: number[] = servers.map((s) => s.inbound)): string {
  return grpcService("hashed", inbound, "consistentHash: {header: x-user}");
}

after(() => mesh?.stop());

test("unary, client-, server- and bidi-streaming calls pass through two sidecars", async () => {
  const c = echoClient(client.outbound, "echo");
  try {
    const u = await unary(c, { text: "hello" });
    assert.equal(u.err, undefined, String(u.err?.message));
    assert.equal(u.msg?.text, "hello");
    assert.match(u.msg?.backend ?? "", /^b[012]$/);

    const collected = await new Promise<Msg>((resolve, reject) => {
      const call = c.Collect((err: Error | null, m: Msg) => (err ? reject(err) : resolve(m)));
      for (const t of ["a", "b", "c"]) call.write({ text: t });
      call.end();
    });
    assert.equal(collected.text, "abc");

    const repeated: string[] = await new Promise((resolve, reject) => {
      const out: string[] = [];
      const call = c.Repeat({ text: "r", n: 5 });
      call.on("data", (m: Msg) => out.push(m.text ?? ""));
      call.on("error", reject);
      call.on("end", () => resolve(out));
    });
    assert.deepEqual(repeated, ["r-0", "r-1", "r-2", "r-3", "r-4"]);

    // Bidi: each answer comes back before the next message is sent (nothing waits for the end of the stream).
    const chat = c.Chat();
    const answers: string[] = [];
    for (const t of ["x", "y", "z"]) {
      const next = new Promise<Msg>((resolve) => chat.once("data", resolve));
      chat.write({ text: t });
      answers.push((await next).text ?? "");
    }
    chat.end();
    await new Promise((r) => chat.on("end", r).on("status", r));
    assert.deepEqual(answers, ["re:x", "re:y", "re:z"]);
  } finally {
    c.close();
  }
});

test("one client connection's calls spread over 3 backends within 10 % of even (round robin per call)", async () => {
  const c = echoClient(client.outbound, "echo");
  try {
    const counts = new Map<string, number>();
    const n = 300;
    for (let i = 0; i < n; i += 30) {
      const batch = await Promise.all(Array.from({ length: 30 }, () => unary(c, { text: "x" })));
      for (const r of batch) {
        assert.equal(r.err, undefined, String(r.err?.message));
        const b = r.msg?.backend ?? "?";
        counts.set(b, (counts.get(b) ?? 0) + 1);
      }
    }
    assert.equal(counts.size, 3, JSON.stringify([...counts]));
    for (const [b, k] of counts) assert.ok(Math.abs(k - n / 3) <= n / 30, `${b}: ${k} of ${n}`);
  } finally {
    c.close();
  }
});

test("after the endpoint set changes (one removed, then back first in the list), calls still spread within 10 %", async () => {
  const c = echoClient(client.outbound, "echo");
  const tally = async (n: number) => {
    const counts = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const r = await unary(c, { text: "x" });
      assert.equal(r.err, undefined, String(r.err?.message));
      const b = r.msg?.backend ?? "?";
      counts.set(b, (counts.get(b) ?? 0) + 1);
    }
    return counts;
  };
  const reload = async (ports: number[]) => {
    await writeFile(client.configFile, [grpcService("echo", ports), hashed()].join("---\n"));
    client.proc.kill("SIGHUP");
  };
  const [s0, s1, s2] = servers.map((s) => s.inbound) as [number, number, number];
  try {
    await reload([s0, s1]);
    await waitFor("b2 gone", async () => ((await tally(6)).has("b2") ? undefined : true), 15_000);
    await tally(30);
    await reload([s2, s0, s1]);
    await waitFor("b2 back", async () => ((await tally(3)).has("b2") ? true : undefined), 15_000);
    const n = 90;
    const counts = await tally(n);
    for (const b of ["b0", "b1", "b2"]) {
      const k = counts.get(b) ?? 0;
      assert.ok(Math.abs(k - n / 3) <= n / 30, `${b}: ${k} of ${n} (${JSON.stringify([...counts])})`);
    }
  } finally {
    c.close();
    await reload([s0, s1, s2]);
  }
});

test("consistent hash by a metadata header: one user's calls stay on one backend, users spread", async () => {
  const c = echoClient(client.outbound, "hashed");
  try {
    const seen = new Map<string, Set<string>>();
    for (let u = 0; u < 12; u++) {
      for (let i = 0; i < 4; i++) {
        const md = new Metadata();
        md.set("x-user", `user-${u}`);
        const r = await unary(c, { text: "x" }, { metadata: md });
        assert.equal(r.err, undefined, String(r.err?.message));
        const set = seen.get(`user-${u}`) ?? new Set();
        set.add(r.msg?.backend ?? "?");
        seen.set(`user-${u}`, set);
      }
    }
    for (const [u, set] of seen) assert.equal(set.size, 1, `${u} went to ${[...set]}`);
    assert.ok(new Set([...seen.values()].map((s) => [...s][0])).size >= 2, "all users on one backend");
  } finally {
    c.close();
  }
});

test("a 2 MiB message streams through both ways", async () => {
  const c = echoClient(client.outbound, "echo");
  try {
    const blob = Buffer.alloc(2 << 20, 7);
    const got = await new Promise<Msg>((resolve, reject) => {
      const call = c.Chat();
      call.once("data", resolve);
      call.on("error", reject);
      call.write({ text: "big", blob });
      call.end();
    });
    assert.equal(got.blob?.length, 2 << 20);
    assert.ok(got.blob?.equals(blob));
    const sizes: number[] = await new Promise((resolve, reject) => {
      const out: number[] = [];
      const call = c.Repeat({ text: "big", n: 2, blob });
      call.on("data", (m: Msg) => out.push(m.blob?.length ?? 0));
      call.on("error", reject);
      call.on("end", () => resolve(out));
    });
    assert.deepEqual(sizes, [2 << 20, 2 << 20]);
  } finally {
    c.close();
  }
});

test("an unknown method is the backend's UNIMPLEMENTED, passed through with its grpc-status", async () => {
  const c = echoClient(client.outbound, "echo");
  try {
    const r = await new Promise<{ code: number }>((resolve) =>
      c.makeUnaryRequest(
        "/meshlet.test.Echo/Missing",
        (x: Buffer) => x,
        (x: Buffer) => x,
        Buffer.alloc(0),
        (err: { code: number } | null) => resolve(err ?? { code: 0 }),
      ),
    );
    assert.equal(r.code, status.UNIMPLEMENTED);
  } finally {
    c.close();
  }
});

test("a burst of 1,000 calls on a fresh channel: every one answered (sessions opened while others connect)", async () => {
  const c = echoClient(client.outbound, "echo");
  try {
    const results = await Promise.all(Array.from({ length: 1_000 }, () => unary(c, { text: "burst" })));
    const failed = results.filter((r) => r.err !== undefined);
    assert.equal(failed.length, 0, failed[0]?.err?.message);
    assert.equal(client.proc.exitCode, null);
  } finally {
    c.close();
  }
});
