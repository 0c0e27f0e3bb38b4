import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { status } from "@grpc/grpc-js";
import { type RunningSidecar, route, startSidecar } from "../helpers.ts";
import { type EchoBackend, echoClient, grpcService, type Msg, startEchoBackend, unary } from "./fixture.ts";

// A client sidecar in front of two server sidecars: one before a backend that answers every call UNAVAILABLE
// after reading it (the call was sent), one before a healthy backend. Round robin sends every other call to
// the failing one; only a route marked idempotent may send such a call again (to the other endpoint).
let failing: EchoBackend;
let good: EchoBackend;
let servers: RunningSidecar[] = [];
let client: RunningSidecar;

before(async () => {
  failing = await startEchoBackend("failing", { unavailable: true });
  good = await startEchoBackend("good");
  servers = await Promise.all(
    [failing, good].map((b) => startSidecar(grpcService("echo", []), { service: "echo", appPort: b.port })),
  );
  const ports = servers.map((s) => s.inbound);
  const retries = "retries: {attempts: 2, retryOn: [unavailable], backoff: {baseInterval: 1ms}";
  client = await startSidecar(
    [
      grpcService("idem", ports),
      route("idem", `    - destinations: [{service: idem}]\n      ${retries}, idempotent: true}`),
      grpcService("plain", ports),
      route("plain", `    - destinations: [{service: plain}]\n      ${retries}}`),
    ].join("---\n"),
  );
});

after(async () => {
  await Promise.all([client, ...servers].filter((s) => s !== undefined).map((s) => s.stop()));
  await Promise.all([failing, good].filter((b) => b !== undefined).map((b) => b.close()));
});

async function calls(authority: string, n: number, req: Msg): Promise<{ ok: number; unavailable: number }> {
  const c = echoClient(client.outbound, authority);
  let ok = 0;
  let unavailable = 0;
  try {
    for (let i = 0; i < n; i++) {
      const r = await unary(c, req);
      if (r.err === undefined) {
        assert.equal(r.msg?.backend, "good");
        ok++;
      } else {
        assert.equal(r.err.code, status.UNAVAILABLE, r.err.message);
        unavailable++;
      }
    }
  } finally {
    c.close();
  }
  return { ok, unavailable };
}

test("an idempotent route sends a unary call again after the backend failed it (its body copied on the way)", async () => {
  const before = failing.calls;
  const r = await calls("idem", 20, { text: "again" });
  assert.deepEqual(r, { ok: 20, unavailable: 0 });
  // The failing backend did read calls: they were sent, and still went again.
  assert.ok(failing.calls - before >= 5, `the failing backend saw ${failing.calls - before} calls`);
});

test("without idempotent, a call that reached the backend is not sent again", async () => {
  const r = await calls("plain", 10, { text: "once" });
  assert.ok(r.unavailable >= 3, `unavailable ${r.unavailable} of 10`);
});

test("a call larger than 64 KiB is not copied, so not retried after it was sent", async () => {
  const r = await calls("idem", 10, { text: "big", blob: Buffer.alloc(70 * 1024, 1) });
  assert.ok(r.unavailable >= 3, `unavailable ${r.unavailable} of 10`);
  // Just under the limit still goes again.
  const small = await calls("idem", 10, { text: "near", blob: Buffer.alloc(60 * 1024, 1) });
  assert.deepEqual(small, { ok: 10, unavailable: 0 });
});

test("a client-streaming call (two messages) is not sent again, even on an idempotent route", async () => {
  const c = echoClient(client.outbound, "idem");
  let failed = 0;
  try {
    for (let i = 0; i < 10; i++) {
      const code = await new Promise<number>((resolve) => {
        const call = c.Collect((err: { code: number } | null) => resolve(err === null ? status.OK : err.code));
        call.write({ text: "a" });
        call.write({ text: "b" });
        call.end();
      });
      if (code === status.UNAVAILABLE) failed++;
      else assert.equal(code, status.OK);
    }
  } finally {
    c.close();
  }
  assert.ok(failed >= 3, `failed ${failed} of 10`);
});
