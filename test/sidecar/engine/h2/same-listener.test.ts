import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { connect } from "node:http2";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { ensureSystemPackage } from "../../../support/system-package.ts";
import { type RunningSidecar, send, service, startSidecar, startUpstream, type Upstream } from "../../helpers.ts";

const run = promisify(execFile);

let up: Upstream;
let sc: RunningSidecar;
const seen: { version: string; host: string | undefined; upgrade: string | undefined }[] = [];

before(async () => {
  // An HTTP/1.1 app (Service protocol http): whatever the client spoke, it hears HTTP/1.1.
  up = await startUpstream((req, res) => {
    seen.push({ version: req.httpVersion, host: req.headers.host, upgrade: req.headers.upgrade });
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      res.setHeader("x-upstream", "plain");
      res.end(`${req.method} ${req.url} ${Buffer.concat(chunks).length}`);
    });
  });
  sc = await startSidecar(service("plain", [{ port: up.port }]));
});

after(async () => {
  await sc?.stop();
  await up?.close();
});

function h2get(port: number, path: string, body?: Buffer) {
  return new Promise<{ status: number; text: string }>((resolve, reject) => {
    const s = connect(`http://127.0.0.1:${port}`);
    s.on("error", reject);
    const req = s.request({ ":method": body === undefined ? "GET" : "POST", ":path": path, ":authority": "plain" });
    let text = "";
    let status = 0;
    req.on("response", (h) => {
      status = Number(h[":status"]);
    });
    req.setEncoding("utf8");
    req.on("data", (c: string) => {
      text += c;
    });
    req.on("end", () => {
      s.close();
      resolve({ status, text });
    });
    req.on("error", reject);
    req.end(body);
  });
}

test("HTTP/1.1 and h2c with prior knowledge on the same outbound listener, to an HTTP/1.1 app", async () => {
  const h1 = await send(sc.outbound, { path: "/one", headers: { host: "plain" } });
  assert.equal(h1.status, 200);
  assert.equal(h1.body, "GET /one 0");
  const h2 = await h2get(sc.outbound, "/two?q=1");
  assert.deepEqual(h2, { status: 200, text: "GET /two?q=1 0" });
  // A streamed HTTP/2 body (no content-length) reaches the HTTP/1.1 app chunked, whole.
  const posted = await h2get(sc.outbound, "/three", Buffer.alloc(300_000, 1));
  assert.deepEqual(posted, { status: 200, text: "POST /three 300000" });
  assert.ok(seen.every((s) => s.version === "1.1" && s.host === "plain"));
});

test("curl --http2-prior-knowledge, and curl --http2 (Upgrade: h2c) answered as HTTP/1.1", async () => {
  const curl = await ensureSystemPackage("curl", "curl");
  const url = `http://127.0.0.1:${sc.outbound}/curl`;
  const prior = await run(curl, ["-sS", "--http2-prior-knowledge", "-H", "host: plain", "-w", " %{http_version}", url]);
  assert.equal(prior.stdout, "GET /curl 0 2");
  seen.length = 0;
  // RFC 9113 deprecates the Upgrade handshake; a server may ignore Upgrade (RFC 9110 §7.8): the request is
  // served as HTTP/1.1 and the app never sees the Upgrade field.
  const upgraded = await run(curl, ["-sS", "--http2", "-H", "host: plain", "-w", " %{http_version}", url]);
  assert.equal(upgraded.stdout, "GET /curl 0 1.1");
  assert.deepEqual(seen, [{ version: "1.1", host: "plain", upgrade: undefined }]);
});
