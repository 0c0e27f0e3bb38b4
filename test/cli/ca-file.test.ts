import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createRootCa } from "../../src/security/ca.ts";
import { runCli } from "../helpers/cli.ts";

// A server nothing listens on: a good --ca-file gets as far as dialling it (exit 3), a bad one never does (exit 2).
const SERVER = "https://127.0.0.1:1";

const GET = ["get", "services", "--server", SERVER];
/** Its ports are all from 0: a run that got past the flags would bind nothing fixed. */
const SIDECAR = [
  "sidecar",
  "--service",
  "web",
  "--app-port",
  "1",
  "--control",
  "127.0.0.1:1",
  "--outbound",
  "127.0.0.1:0",
  "--inbound",
  "127.0.0.1:0",
  "--admin",
  "127.0.0.1:0",
];

describe("--ca-file / MESHLET_CA_FILE that is not a bundle of PEM certificates: exit 2 with the reason, before any dial", () => {
  let dir: string;
  let rootPem: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "meshlet-ca-file-"));
    rootPem = (await createRootCa("cluster.local", { now: Date.now(), ttlMs: 3_600_000 })).certChainPem;
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const write = async (name: string, text: string) => {
    const file = join(dir, name);
    await writeFile(file, text);
    return file;
  };
  const key = () =>
    generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" });
  const cases: { name: string; file: () => Promise<string>; message: RegExp }[] = [
    { name: "missing", file: async () => join(dir, "absent.pem"), message: /absent\.pem: no such file$/m },
    { name: "a directory", file: async () => dir, message: /a directory, not a file$/m },
    { name: "empty", file: () => write("empty.pem", ""), message: /not a PEM certificate bundle/ },
    { name: "plain text", file: () => write("notes.txt", "hello\n"), message: /not a PEM certificate bundle/ },
    {
      name: "DER bytes",
      file: () => write("root.der", "\u0030\u0082\u0001\u0000garbage"),
      message: /not a PEM certificate bundle/,
    },
    {
      name: "a private key",
      file: async () => write("key.pem", String(key())),
      message: /holds a PEM "PRIVATE KEY" block; a CA file holds certificates only/,
    },
    {
      name: "a certificate and its key",
      file: async () => write("both.pem", rootPem + String(key())),
      message: /holds a PEM "PRIVATE KEY" block/,
    },
    {
      name: "a certificate cut short",
      file: () => write("cut.pem", rootPem.slice(0, rootPem.length - 30)),
      message: /cut short or not base64/,
    },
    {
      name: "base64 that is no certificate",
      file: () => write("junk.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
      message: /certificate 1 of 1 is not a valid X\.509 certificate/,
    },
    {
      name: "a good certificate, then junk",
      file: () => write("second.pem", `${rootPem}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`),
      message: /certificate 2 of 2 is not a valid X\.509 certificate/,
    },
  ];

  for (const c of cases)
    it(c.name, async () => {
      const file = await c.file();
      const runs = await Promise.all([
        runCli([...GET, "--ca-file", file], { env: { MESHLET_TOKEN: "" } }).then((r) => ({ how: "get --ca-file", r })),
        runCli(SIDECAR, { env: { MESHLET_CA_FILE: file, MESHLET_TOKEN: "" } }).then((r) => ({
          how: "sidecar, MESHLET_CA_FILE",
          r,
        })),
      ]);
      for (const { how, r } of runs) {
        assert.equal(r.code, 2, `${how}: ${r.stderr}`);
        assert.match(r.stderr, /^meshlet: --ca-file /, how);
        assert.match(r.stderr, c.message, how);
        assert.doesNotMatch(r.stderr, /PRIVATE KEY-----|[A-Za-z0-9+/]{40}/, `${how}: nothing of the file is echoed`);
      }
    });

  it("a bundle of good certificates is taken: the command goes on to dial (exit 3, not 2)", async () => {
    const file = await write("bundle.pem", rootPem + rootPem);
    const r = await runCli([...GET, "--ca-file", file], { env: { MESHLET_TOKEN: "" } });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /cannot reach the control plane/);
  });
});
