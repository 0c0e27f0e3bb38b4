import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { until } from "../../controlplane/harness.ts";
import { startMeshNode, untilReaches } from "../../support/mesh-node.ts";
import { send, startSidecar, startUpstream } from "../helpers.ts";

const MESH = `apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: reviews}
spec: {}
---
apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: web}
spec: {}
---
apiVersion: meshlet.dev/v1
kind: Route
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http: [{destinations: [{service: reviews}], timeout: 2s}]
`;

test("over mTLS the inbound access log names the caller's verified SPIFFE ID, and source_service comes from it", async (t) => {
  const mesh = await startMeshNode(t);
  await mesh.apply(MESH);
  const app = mesh.own(await startUpstream((req, res) => res.end(String(req.headers["x-meshlet-source"]))));
  const control = ["--control", mesh.node.grpc, "--log-level", "warn"];
  const logDir = await mkdtemp(join(tmpdir(), "meshlet-access-"));
  t.after(() => rm(logDir, { recursive: true, force: true }));
  const accessLog = join(logDir, "access.log");
  const reviews = mesh.own(
    await startSidecar(undefined, {
      service: "reviews",
      appPort: app.port,
      staticConfig: false,
      args: [...control, "--access-log", "all", "--access-log-file", accessLog],
    }),
  );
  const web = mesh.own(await startSidecar(undefined, { service: "web", staticConfig: false, args: control }));
  await untilReaches(web, "reviews", "/a", reviews);
  const r = await send(web.outbound, { headers: { host: "reviews" }, path: "/b" });
  assert.equal(String(r.body), "web", "the app is told the caller the certificate names");
  const line = await until("the inbound line of /b", async () => {
    const text = await readFile(accessLog, "utf8").catch(() => "");
    return text
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.direction === "inbound" && l.path === "/b");
  });
  assert.equal(line.peer_identity, "spiffe://cluster.local/service/web");
  assert.equal(line.source_service, "web");
});
