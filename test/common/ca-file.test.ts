import assert from "node:assert/strict";
import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { pino } from "pino";
import { CaFile } from "../../src/common/ca-file.ts";
import { createRootCa } from "../../src/security/ca.ts";

test("CaFile: read again when the file changed; an unreadable or broken file keeps the last good bundle, logged once", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "meshlet-ca-file-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const opts = { now: Date.now(), ttlMs: 86_400_000 };
  const [a, b] = await Promise.all([createRootCa("cluster.local", opts), createRootCa("cluster.local", opts)]);
  const both = `${a.certChainPem}\n${b.certChainPem}\n`;
  const file = join(dir, "ca.pem");
  await writeFile(file, a.certChainPem);
  const lines: { msg: string; level: number }[] = [];
  const logger = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line)) });
  const ca = new CaFile(file, Buffer.from(a.certChainPem), logger);
  const text = () => ca.current().toString();

  assert.equal(text(), a.certChainPem);
  assert.equal(lines.length, 0, "an unchanged file is not read again, nor logged");

  // Replaced the way a node or kubelet does it: a new file renamed over the old one.
  await writeFile(`${file}.tmp`, both);
  await rename(`${file}.tmp`, file);
  assert.equal(text(), both);
  assert.equal(lines.length, 1);

  await rm(file);
  assert.equal(text(), both, "a missing file keeps the last good bundle");
  assert.equal(text(), both);
  await writeFile(file, "-----BEGIN CERT");
  assert.equal(text(), both, "a half-written file keeps the last good bundle");
  await writeFile(file, `${b.certChainPem}-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n`);
  assert.equal(text(), both, "a certificate followed by a key is refused as at start");
  await writeFile(file, `${b.certChainPem}${b.certChainPem.slice(0, 80)}`);
  assert.equal(text(), both, "a second certificate cut short is refused as at start");
  const errors = lines.filter((l) => l.level >= 50);
  assert.equal(errors.length, 1, "logged once while the file stays unusable");
  assert.match(errors[0]?.msg ?? "", /keeping the CA bundle read before/);

  await writeFile(file, b.certChainPem);
  assert.equal(text(), b.certChainPem);
  await rm(file);
  text();
  assert.equal(lines.filter((l) => l.level >= 50).length, 2, "a new failure after a good read is logged again");
});
