import assert from "node:assert/strict";
import { once } from "node:events";
import { test } from "node:test";
import { WebSocket, WebSocketServer } from "ws";
import { until } from "../controlplane/harness.ts";
import { echoClient, type Msg, startEchoBackend, unary } from "../sidecar/grpc/fixture.ts";
import { freePort, type RunningSidecar, send, startSidecar, startUpstream } from "../sidecar/helpers.ts";
import { adminTokenFile, readToken } from "../support/control-auth.ts";
import { startMeshNode, untilReaches } from "../support/mesh-node.ts";
import { helloExtensions, PRE_SHARED_KEY, startTap, type Tapped, type TcpTap } from "../support/tcp-tap.ts";

const MESH = `apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: reviews}
spec: {}
---
apiVersion: meshlet.dev/v1
kind: Route
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http: [{destinations: [{service: reviews}], timeout: 5s}]
---
apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: echo}
spec:
  ports: [{port: 50051, protocol: grpc}]
`;

/** What plain HTTP/1.1, HTTP/2 and a WebSocket upgrade would show on the wire. */
const PLAINTEXT = [
  "GET ",
  "POST ",
  "HTTP/1.1",
  "HTTP/2",
  "PRI * ",
  "Upgrade",
  "websocket",
  "x-probe",
  "meshlet.test.Echo",
];

async function metric(admin: number, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
}

/** Every connection through `tap` is TLS (both ways) and nothing readable as HTTP crossed it. */
function assertTls(tap: TcpTap, what: string): void {
  const used = tap.connections.filter((c) => c.up.length > 0);
  assert.ok(used.length > 0, `${what}: some connection went through the tap`);
  for (const [i, c] of used.entries()) {
    assert.equal(
      c.up[0],
      0x16,
      `${what}: connection ${i} starts with a TLS handshake record: ${JSON.stringify(c.up.subarray(0, 80).toString("latin1"))}`,
    );
    if (c.down.length > 0) assert.equal(c.down[0], 0x16, `${what}: connection ${i} is answered with a TLS record`);
    for (const dir of [c.up, c.down]) {
      const text = dir.toString("latin1");
      for (const word of PLAINTEXT) assert.ok(!text.includes(word), `${what}: "${word}" on the wire (connection ${i})`);
    }
  }
}

const resumed = (c: Tapped) => ({
  offered: helloExtensions(c.up, 1)?.includes(PRE_SHARED_KEY) ?? false,
  accepted: helloExtensions(c.down, 2)?.includes(PRE_SHARED_KEY) ?? false,
});

test("between sidecars the wire is TLS (first byte 0x16, no plaintext HTTP), for HTTP, WebSocket and gRPC to STRICT peers; a cut pool reconnects with a resumed TLS 1.3 session; no key, CSR or token is logged across renewals", async (t) => {
  // Certificates of 10 s (the least --cert-ttl), renewed every ~5 s; everything at debug, so any line a secret could hide in is written.
  const mesh = await startMeshNode(t, () => ["--cert-ttl", "10s"], [
    "--tick-ms",
    "50",
    "--election-ticks",
    "10",
    "--log-level",
    "debug",
  ]);
  const { node } = mesh;
  await mesh.apply(MESH);
  const control = ["--control", node.grpc, "--log-level", "debug"];

  // Each callee's inbound port is P on 127.0.0.1; it registers 127.0.0.2:P, where a tap listens and relays to it.
  // Callers therefore dial the tap: what it sees is exactly what a caller's sidecar sends to the inbound port.
  const taps: TcpTap[] = [];
  t.after(() => Promise.all(taps.map((x) => x.close())));
  const behindTap = async (service: string, appPort: number): Promise<{ sidecar: RunningSidecar; tap: TcpTap }> => {
    const port = await freePort();
    const tap = await startTap({ host: "127.0.0.2", port }, { host: "127.0.0.1", port });
    taps.push(tap);
    const sidecar = mesh.own(
      await startSidecar(undefined, {
        service,
        appPort,
        staticConfig: false,
        args: [...control, "--inbound", `127.0.0.1:${port}`, "--advertise-address", "127.0.0.2"],
      }),
    );
    return { sidecar, tap };
  };

  const app = mesh.own(await startUpstream((req, res) => res.end(`app saw ${req.url} ${req.headers["x-probe"]}`)));
  const wss = new WebSocketServer({ server: app.server });
  wss.on("connection", (ws) => ws.on("message", (m) => ws.send(`echo:${m.toString()}`)));
  t.after(() => wss.close());
  const backend = await startEchoBackend("b0");
  t.after(() => backend.close());
  const reviews = await behindTap("reviews", app.port);
  const echo = await behindTap("echo", backend.port);
  const web = mesh.own(await startSidecar(undefined, { service: "web", staticConfig: false, args: control }));
  await untilReaches(web, "reviews", "/warm", reviews.sidecar);

  await t.test("HTTP: every connection to the inbound port starts with 0x16 and carries no plaintext", async () => {
    for (let i = 0; i < 5; i++) {
      const r = await send(web.outbound, {
        method: "POST",
        headers: { host: "reviews", "x-probe": "p" },
        path: `/h${i}`,
        body: "b",
      });
      assert.equal(r.status, 200, r.body);
      assert.equal(r.body, `app saw /h${i} p`);
    }
    assertTls(reviews.tap, "reviews");
    assert.equal(await metric(reviews.sidecar.admin, "meshlet_inbound_connections_total", 'transport="plaintext"'), 0);
  });

  await t.test("WebSocket to a STRICT peer: upgraded and echoed through the mTLS tunnel", async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${web.outbound}/chat`, { headers: { host: "reviews" } });
    t.after(() => ws.terminate());
    await once(ws, "open");
    const got: string[] = [];
    for (const m of ["one", "two", "three"]) {
      const next = once(ws, "message");
      ws.send(m);
      got.push(String((await next)[0]));
    }
    assert.deepEqual(got, ["echo:one", "echo:two", "echo:three"]);
    ws.close();
    assertTls(reviews.tap, "reviews, WebSocket");
  });

  await t.test("gRPC to a STRICT peer: unary and bidi streaming over HTTP/2 in the mTLS tunnel", async () => {
    await until("echo reachable", async () => {
      const c = echoClient(web.outbound, "echo");
      try {
        const r = await unary(c, { text: "ping" }, { deadlineMs: 2_000 });
        return r.err === undefined ? r : undefined;
      } finally {
        c.close();
      }
    });
    const c = echoClient(web.outbound, "echo");
    try {
      const u = await unary(c, { text: "hello" });
      assert.equal(u.err, undefined, String(u.err?.message));
      assert.deepEqual([u.msg?.text, u.msg?.backend], ["hello", "b0"]);
      const chat = c.Chat();
      const answers: string[] = [];
      for (const text of ["x", "y"]) {
        const next = new Promise<Msg>((resolve) => chat.once("data", resolve));
        chat.write({ text });
        answers.push((await next).text ?? "");
      }
      chat.end();
      assert.deepEqual(answers, ["re:x", "re:y"]);
    } finally {
      c.close();
    }
    assertTls(echo.tap, "echo");
    assert.ok((await metric(echo.sidecar.admin, "meshlet_inbound_connections_total", 'transport="mtls"')) >= 1);
  });

  await t.test("a pooled reconnect after the connections were cut resumes the TLS 1.3 session", async () => {
    const first = reviews.tap.connections[0];
    assert.ok(first);
    assert.deepEqual(resumed(first), { offered: false, accepted: false }, "the first connection is a full handshake");
    /** Cuts every pooled connection, sends one request; the connections it opened. */
    const reconnect = async (path: string) => {
      const before = reviews.tap.connections.length;
      reviews.tap.cut();
      const r = await until(`${path} after the cut`, async () => {
        const x = await send(web.outbound, { headers: { host: "reviews" }, path });
        return x.status === 200 ? x : undefined;
      });
      assert.equal(r.body, `app saw ${path} undefined`);
      return reviews.tap.connections.slice(before).filter((c) => c.up.length > 0);
    };
    await reconnect("/cut-a");
    const fresh = await reconnect("/cut-b");
    assert.ok(fresh.length > 0, "the caller opened a new connection");
    const seen = fresh.map(resumed);
    assert.ok(
      seen.every((x) => x.offered && x.accepted),
      `every new connection resumes (pre_shared_key offered by the caller and accepted by the peer): ${JSON.stringify(seen)}`,
    );
  });
  const issuedAfterResumption = await metric(
    reviews.sidecar.admin,
    "meshlet_sidecar_certificate_requests_total",
    'result="issued"',
  );

  await t.test("no private key, CSR or token in any process's log across certificate renewals", async () => {
    await until(
      "every sidecar renewed its certificate",
      async () => {
        const issued = await Promise.all(
          [web, reviews.sidecar, echo.sidecar].map((s) =>
            metric(s.admin, "meshlet_sidecar_certificate_requests_total", 'result="issued"'),
          ),
        );
        return issued.every((n) => n >= 2) ? issued : undefined;
      },
      20_000,
    );
    const token = readToken(adminTokenFile(node.dataDir));
    assert.ok(token);
    const logs: [string, string][] = [
      ["control plane", node.log.join("")],
      ["web", web.logs()],
      ["reviews", reviews.sidecar.logs()],
      ["echo", echo.sidecar.logs()],
    ];
    for (const [who, log] of logs) {
      assert.ok(log.length > 0, `${who} logged something`);
      for (const secret of ["PRIVATE KEY", "CERTIFICATE REQUEST", token, "mlt_"])
        assert.ok(!log.includes(secret), `${who}'s log holds "${secret === token ? "the admin token" : secret}"`);
    }
  });

  // The inbound listener installs a renewed certificate with setSecureContext, which would give the TLS server new
  // session-ticket keys (a full handshake at the first reconnect after each renewal) unless it carries them over.
  await t.test("a reconnect after the callee renewed its certificate still resumes", async () => {
    const now = await metric(reviews.sidecar.admin, "meshlet_sidecar_certificate_requests_total", 'result="issued"');
    assert.ok(now > issuedAfterResumption, "reviews renewed since its last ticket");
    const before = reviews.tap.connections.length;
    reviews.tap.cut();
    await until("a request after the renewal", async () => {
      const x = await send(web.outbound, { headers: { host: "reviews" }, path: "/after-renewal" });
      return x.status === 200 ? x : undefined;
    });
    const seen = reviews.tap.connections
      .slice(before)
      .filter((c) => c.up.length > 0)
      .map(resumed);
    assert.ok(seen.length > 0 && seen.every((x) => x.offered && x.accepted), JSON.stringify(seen));
  });
});
