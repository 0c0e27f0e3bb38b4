import assert from "node:assert/strict";
import { createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { SignJWT } from "jose";
import { kubernetesKeyId } from "../../src/controlplane/auth/k8s-token.ts";
import { until } from "../controlplane/harness.ts";
import { send, startSidecar, startUpstream } from "../sidecar/helpers.ts";
import { startMeshNode } from "../support/mesh-node.ts";

const ISSUER = "https://kubernetes.default.svc.cluster.local";
const MESH = `apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: reviews}
spec:
  serviceAccounts: [{namespace: bookinfo, name: reviews}]
---
apiVersion: meshlet.dev/v1
kind: Route
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http: [{destinations: [{service: reviews}], timeout: 2s}]
`;

function token(key: KeyObject, o: { sa?: string; aud?: string; expInS: number }): Promise<string> {
  const sa = o.sa ?? "reviews";
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ "kubernetes.io": { namespace: "bookinfo", serviceaccount: { name: sa, uid: "u" } } })
    .setProtectedHeader({ alg: "ES256", kid: kubernetesKeyId(createPublicKey(key)) })
    .setIssuer(ISSUER)
    .setAudience(o.aud ?? "meshlet")
    .setSubject(`system:serviceaccount:bookinfo:${sa}`)
    .setIssuedAt(now)
    .setExpirationTime(now + o.expInS)
    .sign(key);
}

async function metric(url: string, name: string, label: string): Promise<number> {
  const text = await (await fetch(url)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && l.includes(label));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
}

test("a sidecar joins with a Kubernetes service-account token: its account is its identity, a rotated token file is read at reconnect, bad tokens are refused by code", async (t) => {
  const signer = generateKeyPairSync("ec", { namedCurve: "P-256" });
  let k8s: string[] = [];
  const mesh = await startMeshNode(t, async (root) => {
    const keysFile = join(root, "sa-keys.pem");
    await writeFile(keysFile, signer.publicKey.export({ type: "spki", format: "pem" }));
    k8s = ["--k8s-token-keys", keysFile, "--k8s-token-issuer", ISSUER];
    return k8s;
  });
  const { node, cluster } = mesh;
  await mesh.apply(MESH);
  const app = mesh.own(await startUpstream((req, res) => res.end(`app saw ${req.url}`)));

  // A token that expires soon (3 s, and 5 s of tolerance): good for the first stream only.
  const tokenFile = join(cluster.root, "token");
  await writeFile(tokenFile, await token(signer.privateKey, { expInS: 3 }));
  const noMeshletToken = { MESHLET_TOKEN: "" };
  const reviews = mesh.own(
    await startSidecar(undefined, {
      service: "reviews",
      appPort: app.port,
      staticConfig: false,
      args: ["--control", node.grpc, "--log-level", "warn", "--token-file", tokenFile],
      env: noMeshletToken,
    }),
  );
  const web = mesh.own(
    await startSidecar(undefined, {
      service: "web",
      staticConfig: false,
      args: ["--control", node.grpc, "--log-level", "warn"],
    }),
  );
  const call = () => send(web.outbound, { headers: { host: "reviews" }, path: "/x" });
  await until("web reaches reviews, whose certificate names its service account", async () => {
    const r = await call();
    return r.status === 200 ? r : undefined;
  }).catch((err: unknown) => {
    throw new Error(`${String(err)}\nreviews:\n${reviews.logs()}\ncontrol:\n${node.log.join("")}`);
  });
  const bundle = await readFile(`${node.dataDir}/ca.pem`, "utf8");
  // The server's "certificate required" alert may beat the client's handshake callback: ask until one wins.
  const san = await until(
    "the inbound certificate's SAN",
    () =>
      new Promise<string | undefined>((resolve) => {
        const s = tlsConnect(
          { host: "127.0.0.1", port: reviews.inbound, ca: bundle, checkServerIdentity: () => undefined },
          () => {
            resolve(s.getPeerCertificate().subjectaltname);
            s.destroy();
          },
        );
        s.on("error", () => resolve(undefined));
      }),
  );
  assert.equal(san, "URI:spiffe://cluster.local/ns/bookinfo/sa/reviews");

  // The kubelet rotates the token; the old one expires; the control plane restarts: the sidecar's next stream
  // must carry the new token (the old one would be ERR_K8S_TOKEN_EXPIRED).
  await writeFile(tokenFile, await token(signer.privateKey, { expInS: 3600 }));
  // Past its exp and the verifier's 5 s of clock tolerance.
  await new Promise((r) => setTimeout(r, 10_000));
  const proc = node.proc;
  proc?.kill("SIGTERM");
  await new Promise((r) => proc?.once("exit", r));
  cluster.start(node, k8s);
  const metricsUrl = `https://${node.http}/metrics`;
  await until(
    "reviews streams again from the restarted node",
    async () => {
      const text = await (await fetch(metricsUrl).catch(() => undefined))?.text();
      return text !== undefined &&
        /meshlet_discovery_streams [1-9]/.test(text) &&
        /meshlet_discovery_streams 2/.test(text)
        ? true
        : undefined;
    },
    30_000,
  );
  assert.equal(await metric(metricsUrl, "meshlet_control_auth_refusals_total", "ERR_K8S_TOKEN_EXPIRED"), 0);

  // Bad tokens: each refused with its code, counted, the sidecar told why.
  const other = generateKeyPairSync("ec", { namedCurve: "P-256" });
  for (const [code, bad] of [
    ["ERR_K8S_TOKEN_EXPIRED", await token(signer.privateKey, { expInS: -60 })],
    ["ERR_K8S_TOKEN_SIGNATURE", await token(other.privateKey, { expInS: 60 })],
    ["ERR_K8S_TOKEN_AUDIENCE", await token(signer.privateKey, { expInS: 60, aud: "kubernetes" })],
  ] as const) {
    const file = join(cluster.root, `bad-${code}`);
    await writeFile(file, bad);
    const s = await startSidecar(undefined, {
      service: "reviews",
      staticConfig: false,
      args: ["--control", node.grpc, "--log-level", "warn", "--token-file", file],
      env: noMeshletToken,
    });
    mesh.own(s);
    await until(`${code} refused and counted`, async () =>
      (await metric(metricsUrl, "meshlet_control_auth_refusals_total", `code="${code}"`)) > 0 ? true : undefined,
    );
    await until(`the sidecar logs ${code}`, async () => (s.logs().includes("UNAUTHENTICATED") ? true : undefined));
    assert.ok(!s.logs().includes(bad), "the token is not logged");
  }
  // A valid token of an account the Service does not list: refused as the wrong identity.
  const file = join(cluster.root, "other-account");
  await writeFile(file, await token(signer.privateKey, { expInS: 60, sa: "ratings" }));
  const ratings = mesh.own(
    await startSidecar(undefined, {
      service: "reviews",
      staticConfig: false,
      args: ["--control", node.grpc, "--log-level", "warn", "--token-file", file],
      env: noMeshletToken,
    }),
  );
  await until("the unlisted account is refused", async () =>
    /bookinfo\/ratings may not act as service/.test(ratings.logs()) ? true : undefined,
  );
});
