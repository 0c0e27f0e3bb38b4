import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startCli, stopProcess } from "../helpers/cli.ts";
import { ensureDebianPackage } from "../helpers/debian.ts";

interface Reply {
  status: number;
  body: string;
  /** The certificate the server presented (its serial), to see a reload. */
  serial: string;
}

/** A self-signed certificate for 127.0.0.1 made with the openssl CLI. */
function makeCert(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=meshlet-injector",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
      "-keyout",
      key,
      "-out",
      cert,
    ],
    { stdio: "ignore" },
  );
  return { cert, key };
}

function call(
  port: number,
  method: string,
  path: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        method,
        path,
        rejectUnauthorized: false,
        agent: false,
        headers: { "content-type": "application/json", ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const cert = (res.socket as import("node:tls").TLSSocket).getPeerCertificate?.();
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString("utf8"),
            serial: cert?.serialNumber ?? "",
          });
        });
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

const REVIEW = JSON.stringify({
  apiVersion: "admission.k8s.io/v1",
  kind: "AdmissionReview",
  request: {
    uid: "u-1",
    kind: { group: "", version: "v1", kind: "Pod" },
    operation: "CREATE",
    object: {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "web" },
      spec: { containers: [{ name: "web", image: "web:1", ports: [{ containerPort: 8080 }] }] },
    },
  },
});

describe("meshlet injector (a real process over HTTPS)", () => {
  let dir = "";
  let port = 0;
  let child: ReturnType<typeof startCli> | undefined;
  let certs: { cert: string; key: string };

  before(async () => {
    ensureDebianPackage("openssl", "openssl");
    dir = await mkdtemp(join(tmpdir(), "meshlet-injector-"));
    certs = makeCert(dir, "tls");
    child = startCli([
      "injector",
      "--tls-cert",
      certs.cert,
      "--tls-key",
      certs.key,
      "--listen",
      "127.0.0.1:0",
      "--log-level",
      "info",
      "--cert-poll",
      "100ms",
    ]);
    port = await new Promise<number>((resolve, reject) => {
      let out = "";
      // The logger writes to stderr.
      child?.stderr?.on("data", (d: Buffer) => {
        out += d.toString();
        const m = /"port":(\d+).*"msg":"injector ready"/.exec(out);
        if (m?.[1] !== undefined) resolve(Number(m[1]));
      });
      child?.once("exit", (code) => reject(new Error(`injector exited ${code}: ${out}`)));
    });
  });
  after(async () => {
    if (child !== undefined) await stopProcess(child);
    await rm(dir, { recursive: true, force: true });
  });

  it("serves /healthz and answers a review with a patch", async () => {
    assert.deepEqual(JSON.parse((await call(port, "GET", "/healthz")).body), { status: "ok" });
    const r = await call(port, "POST", "/inject", REVIEW);
    assert.equal(r.status, 200);
    const response = JSON.parse(r.body).response;
    assert.equal(response.uid, "u-1");
    assert.equal(response.patchType, "JSONPatch");
    assert.match(Buffer.from(response.patch, "base64").toString(), /meshlet-proxy/);
  });

  it("refuses hostile requests with a 4xx and keeps serving", async () => {
    // The calls run at once; each failure is taken as it happens (a reset while the 413 case is still sending
    // would otherwise reject before the loop reaches it, an unhandled rejection).
    const settled = (reply: Promise<Reply>): Promise<Reply> =>
      reply.catch((err: Error) => ({ status: -1, body: err.message, serial: "" }));
    const cases: [string, Promise<Reply>, number][] = [
      ["malformed JSON", settled(call(port, "POST", "/inject", "{nope")), 400],
      ["a wrong kind", settled(call(port, "POST", "/inject", JSON.stringify({ apiVersion: "v1", kind: "Pod" }))), 400],
      ["a body over the limit", settled(call(port, "POST", "/inject", Buffer.alloc(7 * 1024 * 1024, 0x20))), 413],
      ["a wrong media type", settled(call(port, "POST", "/inject", REVIEW, { "content-type": "text/plain" })), 415],
      ["GET /inject", settled(call(port, "GET", "/inject")), 405],
      ["an unknown path", settled(call(port, "POST", "/mutate", REVIEW)), 404],
    ];
    for (const [what, reply, status] of cases) {
      const r = await reply;
      // A client still sending past the limit may see the reset before the 413: refused either way.
      if (status === 413 && r.status === -1) continue;
      assert.equal(r.status, status, `${what}: ${r.body}`);
      assert.ok(JSON.parse(r.body).error.message, what);
    }
    assert.equal((await call(port, "POST", "/inject", REVIEW)).status, 200, "still serving");
    const metrics = (await call(port, "GET", "/metrics")).body;
    assert.match(metrics, /meshlet_injector_reviews_total\{result="invalid"\} [1-9]/);
    assert.match(metrics, /meshlet_injector_reviews_total\{result="injected"\} [1-9]/);
  });

  it("serves a renewed certificate without a restart", async () => {
    const before = (await call(port, "GET", "/healthz")).serial;
    const next = makeCert(dir, "next");
    // As a Secret volume changes: the new files appear under the same names.
    await rename(next.key, certs.key);
    await rename(next.cert, certs.cert);
    const deadline = Date.now() + 10_000;
    let serial = before;
    while (serial === before && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      serial = (await call(port, "GET", "/healthz")).serial;
    }
    assert.notEqual(serial, before);
    await writeFile(certs.cert, "not a certificate");
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await call(port, "GET", "/healthz")).serial, serial, "a broken file keeps the previous certificate");
  });
});
