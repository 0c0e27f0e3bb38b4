import assert from "node:assert/strict";
import { test } from "node:test";
import { FAST_FLAGS, leaderOf, makeCluster } from "../controlplane/harness.ts";
import { runCli } from "../helpers/cli.ts";
import { rssMb } from "../helpers/proc.ts";

const service = (name: string, annotations: string) =>
  `apiVersion: meshlet.dev/v1\nkind: Service\nmetadata:\n  name: ${name}\n  annotations:\n${annotations}`;

async function apply(http: string, body: string): Promise<{ status: number; code?: string; message?: string }> {
  const res = await fetch(`https://${http}/v1/apply`, { method: "POST", body, signal: AbortSignal.timeout(20_000) });
  const json = (await res.json()) as { error?: { code: string; message: string } };
  return { status: res.status, ...(json.error ?? {}) };
}

async function serviceNames(http: string): Promise<string[]> {
  const res = await fetch(`https://${http}/v1/resources/services`);
  const body = (await res.json()) as { items: { resource: { metadata: { name: string } } }[] };
  return body.items.map((i) => i.resource.metadata.name).sort();
}

test("the anchor-and-aliases apply of issue 27 is refused, nothing is stored, and the node restarts cleanly after kill -9", async (t) => {
  const c = await makeCluster(1);
  t.after(() => c.stopAll());
  const [n1] = c.nodes;
  assert.ok(n1);
  c.start(n1);
  await leaderOf([n1]);
  assert.equal((await apply(n1.http, service("before", "    owner: a\n"))).status, 200);

  // 3.5 MB on the wire; 318 MB once its 90 aliases are expanded.
  const lines = [`    a0: &x "${"y".repeat(3_500_000)}"`];
  for (let i = 1; i <= 90; i++) lines.push(`    a${i}: *x`);
  const t0 = Date.now();
  const refused = await apply(n1.http, service("bomb", `${lines.join("\n")}\n`));
  assert.equal(refused.status, 413, JSON.stringify(refused));
  assert.equal(refused.code, "ERR_TOO_LARGE");
  assert.match(refused.message ?? "", /expands to more than 1048576 bytes/);
  assert.ok(Date.now() - t0 < 10_000, `answered after ${Date.now() - t0} ms`);
  const pid = n1.proc?.pid;
  assert.ok(pid !== undefined);
  assert.ok(rssMb(pid) < 500, `node RSS ${rssMb(pid)} MB`);
  assert.deepEqual(await serviceNames(n1.http), ["before"]);

  await c.kill9(n1);
  c.start(n1);
  await leaderOf([n1]);
  assert.deepEqual(await serviceNames(n1.http), ["before"]);
  assert.equal((await apply(n1.http, service("after", "    owner: b\n"))).status, 200);
  assert.deepEqual(await serviceNames(n1.http), ["after", "before"]);
  const log = n1.log.join("");
  assert.doesNotMatch(log, /torn|ERR_WAL_CORRUPT|refusing to start/, log);
});

test("--max-resource-bytes and --max-apply-bytes (or MESHLET_*) set the limits; impossible ones are usage errors", async (t) => {
  const c = await makeCluster(1, [...FAST_FLAGS, "--max-resource-bytes", "2048"]);
  t.after(() => c.stopAll());
  const [n1] = c.nodes;
  assert.ok(n1);
  process.env.MESHLET_MAX_APPLY_BYTES = "8192";
  try {
    c.start(n1);
  } finally {
    delete process.env.MESHLET_MAX_APPLY_BYTES;
  }
  await leaderOf([n1]);
  const big = await apply(n1.http, service("big", `    blob: "${"z".repeat(2_100)}"\n`));
  assert.equal(big.status, 413);
  assert.match(big.message ?? "", /the limit per resource is 2048 bytes/);
  // Under the body limit on the wire, over the apply limit once each alias is expanded.
  const many = Array.from({ length: 5 }, (_, i) =>
    service(`s${i}`, `    a: &x "${"z".repeat(900)}"\n    b: *x\n`),
  ).join("---\n");
  assert.ok(many.length < 8192);
  const total = await apply(n1.http, many);
  assert.equal(total.status, 413);
  assert.match(total.message ?? "", /more than 8192 bytes encoded, the limit of one apply/);
  assert.equal((await apply(n1.http, service("fits", `    blob: "${"z".repeat(1_500)}"\n`))).status, 200);

  for (const [flags, message] of [
    [["--max-value-size", "17MiB"], /--max-value-size: expected 1 to 16777216 bytes/],
    [["--max-apply-bytes", "9000000"], /--max-apply-bytes: at most 8388608/],
    [
      ["--max-resource-bytes", "5000", "--max-apply-bytes", "4000"],
      /--max-resource-bytes \(5000\) exceeds --max-apply-bytes \(4000\)/,
    ],
    [["--max-apply-bytes", "0"], /--max-apply-bytes: expected a size like 1048576, 512KiB or 2MiB, got "0"/],
    [["--max-value-size", "1.5MiB"], /--max-value-size: expected a size like 1048576, 512KiB or 2MiB, got "1.5MiB"/],
  ] as const) {
    const r = await runCli(["control", "--data-dir", `${c.root}/unused`, ...flags]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
  }
});
