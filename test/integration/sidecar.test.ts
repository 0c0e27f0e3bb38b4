import assert from "node:assert/strict";
import { once } from "node:events";
import { request } from "node:http";
import { type AddressInfo, connect, createServer as createTcpServer } from "node:net";
import { after, before, describe, test } from "node:test";
import { WebSocket, WebSocketServer } from "ws";
import { runCli } from "../helpers/cli.ts";
import { rssMb } from "../helpers/proc.ts";
import {
  freePort,
  nameServer,
  type RunningSidecar,
  route,
  send,
  service,
  startSidecar,
  startUpstream,
  type Upstream,
  waitFor,
} from "../sidecar/helpers.ts";

const docs = (...d: string[]) => d.join("---\n");

/** Writes raw bytes on a new connection; resolves with all the sidecar sent back once it closed the connection. */
async function rawExchange(port: number, bytes: string): Promise<string> {
  const sock = connect(port, "127.0.0.1");
  sock.write(bytes);
  let text = "";
  sock.on("data", (c: Buffer) => {
    text += c.toString();
  });
  await once(sock, "close");
  return text;
}

/** The highest RSS of `pid` while `work` runs, sampled every 50 ms. */
async function peakRssWhile<T>(pid: number, work: Promise<T>): Promise<{ value: T; peakMb: number }> {
  let peakMb = rssMb(pid);
  const sampler = setInterval(() => {
    peakMb = Math.max(peakMb, rssMb(pid));
  }, 50);
  try {
    const value = await work;
    return { value, peakMb: Math.max(peakMb, rssMb(pid)) };
  } finally {
    clearInterval(sampler);
  }
}

/** PUTs `size` bytes to the echo upstream through the sidecar; resolves with the byte count the upstream saw. */
function upload(port: number, size: number): Promise<number> {
  const chunk = Buffer.alloc(1024 * 1024, 7);
  return new Promise<number>((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, method: "PUT", path: "/up", headers: { Host: "echo" }, agent: false },
      (res) => {
        let body = "";
        res.on("data", (c: Buffer) => {
          body += c.toString();
        });
        res.on("end", () => resolve((JSON.parse(body) as { bytes: number }).bytes));
      },
    );
    req.on("error", reject);
    let sent = 0;
    const pump = () => {
      while (sent < size) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once("drain", pump);
      }
      req.end();
    };
    pump();
  });
}

/**
 * PUTs `chunks` chunks of 16 KiB to `host`, one every `gapMs` (a slow upload), and resolves with the response
 * once it ended. Declares `declaredChunks` chunks in content-length: with more than it sends, the body is cut
 * short and the client waits for the answer with its request still open.
 */
function trickle(
  port: number,
  host: string,
  chunks: number,
  gapMs: number,
  declaredChunks = chunks,
): Promise<{ status: number; flags: string | undefined; body: string }> {
  const chunk = Buffer.alloc(16 * 1024, 5);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        method: "PUT",
        path: "/up",
        headers: { Host: host, "content-length": String(declaredChunks * chunk.length) },
        agent: false,
      },
      (res) => {
        let body = "";
        res.on("data", (c: Buffer) => {
          body += c.toString();
        });
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, flags: res.headers["x-meshlet-flags"] as string, body }),
        );
      },
    );
    req.on("error", reject);
    let sent = 0;
    const next = () => {
      req.write(chunk);
      if (++sent < chunks) setTimeout(next, gapMs);
      else if (chunks === declaredChunks) req.end();
    };
    next();
  });
}

describe("sidecar data path (static config)", () => {
  const ups: Upstream[] = [];
  let sc: RunningSidecar;
  let v1: Upstream;
  let v2: Upstream;
  let sticky: Upstream[];
  let flakyHits = 0;
  /** Body bytes each request to flaky-body carried; odd-numbered requests get 503. */
  let flakyBodyHits: number[] = [];
  let garbagePort = 0;
  const garbage = createTcpServer((s) => {
    s.on("error", () => {});
    s.end("this is not HTTP\r\n\r\n");
  });
  let closedPort = 0;

  before(async () => {
    v1 = await nameServer("v1");
    v2 = await nameServer("v2");
    sticky = await Promise.all(["s0", "s1", "s2"].map(nameServer));
    const slow = await startUpstream((req, res) => {
      req.resume();
      setTimeout(() => res.end("late"), Number(new URL(req.url ?? "/", "http://x").searchParams.get("ms") ?? 3000));
    });
    const flaky = await startUpstream((req, res) => {
      req.resume();
      flakyHits++;
      res.statusCode = flakyHits % 2 === 1 ? 503 : 200;
      res.end(String(res.statusCode));
    });
    const echo = await startUpstream((req, res) => {
      let n = 0;
      req.on("data", (c: Buffer) => {
        n += c.length;
      });
      req.on("end", () => {
        res.setHeader("X-Upstream-Case", "Kept");
        res.setHeader("Connection", "keep-alive, X-Hop");
        res.setHeader("X-Hop", "drop-me");
        res.end(JSON.stringify({ bytes: n, raw: req.rawHeaders }));
      });
    });
    const resetter = await startUpstream((req) => {
      req.once("data", () => req.socket.destroy());
    });
    const flakyBody = await startUpstream((req, res) => {
      let n = 0;
      req.on("data", (c: Buffer) => {
        n += c.length;
      });
      req.on("end", () => {
        flakyBodyHits.push(n);
        res.statusCode = flakyBodyHits.length % 2 === 1 ? 503 : 200;
        res.end(JSON.stringify({ bytes: n }));
      });
    });
    const cutOff = await startUpstream((req, res) => {
      req.resume();
      res.writeHead(200, { "content-length": "1000" });
      res.write("x".repeat(100), () => res.destroy());
    });
    ups.push(v1, v2, ...sticky, slow, flaky, echo, resetter, cutOff, flakyBody);
    await new Promise<void>((r) => garbage.listen(0, "127.0.0.1", r));
    garbagePort = (garbage.address() as AddressInfo).port;
    closedPort = await freePort();

    sc = await startSidecar(
      docs(
        service("reviews", [
          { port: v1.port, labels: { version: "v1" } },
          { port: v2.port, labels: { version: "v2" } },
        ]),
        route(
          "reviews",
          `    - match: [{pathPrefix: /canary}]
      destinations: [{service: reviews, subset: {version: v2}}]
    - match: [{headers: {X-Canary: "true"}}]
      destinations: [{service: reviews, subset: {version: v2}}]
    - match: [{pathRegex: "^/items/[0-9]+$", methods: [DELETE]}]
      destinations: [{service: reviews, subset: {version: v2}}]
    - match: [{path: /split}]
      destinations: [{service: reviews, subset: {version: v1}, weight: 30}, {service: reviews, subset: {version: v2}, weight: 70}]
    - destinations: [{service: reviews, subset: {version: v1}}]`,
        ),
        service(
          "sticky",
          sticky.map((u) => ({ port: u.port })),
          "consistentHash: {header: x-user-id}",
        ),
        service(
          "sticky-cookie",
          sticky.map((u) => ({ port: u.port })),
          "consistentHash: {cookie: {name: sid}, algorithm: maglev}",
        ),
        service(
          "sticky-query",
          sticky.map((u) => ({ port: u.port })),
          "consistentHash: {queryParameter: user, algorithm: maglev}",
        ),
        service("slow", [{ port: slow.port }]),
        route("slow", "    - destinations: [{service: slow}]\n      timeout: 300ms"),
        service("flaky", [{ port: flaky.port }]),
        route("flaky", "    - destinations: [{service: flaky}]\n      retries: {attempts: 2, retryOn: [5xx]}"),
        service("garbage", [{ port: garbagePort }]),
        service("half-down", [{ port: closedPort }, { port: echo.port }], "consistentHash: {header: x-user-id}"),
        route(
          "half-down",
          "    - destinations: [{service: half-down}]\n      retries: {attempts: 1, retryOn: [connect-failure]}",
        ),
        service("down", [{ port: closedPort }]),
        service("empty", []),
        service("echo", [{ port: echo.port }]),
        route("upload", "    - destinations: [{service: echo}]\n      timeout: 300ms"),
        service("resetter", [{ port: resetter.port }]),
        service("cut-off", [{ port: cutOff.port }]),
        service("flaky-body", [{ port: flakyBody.port }]),
        route(
          "flaky-body",
          "    - destinations: [{service: flaky-body}]\n      retries: {attempts: 1, retryOn: [5xx]}",
        ),
      ),
    );
  });

  after(async () => {
    await sc?.stop();
    await Promise.all(ups.map((u) => u.close()));
    garbage.close();
  });

  test("routes by host, path prefix, path regex, method and header; first match wins", async () => {
    assert.equal((await send(sc.outbound, { headers: { Host: "reviews" } })).body, "v1");
    assert.equal((await send(sc.outbound, { path: "/canary/x", headers: { Host: "reviews" } })).body, "v2");
    assert.equal((await send(sc.outbound, { headers: { Host: "reviews:80", "X-Canary": "true" } })).body, "v2");
    assert.equal((await send(sc.outbound, { headers: { Host: "reviews", "X-Canary": "no" } })).body, "v1");
    // Path regex and method both have to match.
    assert.equal(
      (await send(sc.outbound, { method: "DELETE", path: "/items/42", headers: { Host: "reviews" } })).body,
      "v2",
    );
    assert.equal(
      (await send(sc.outbound, { method: "GET", path: "/items/42", headers: { Host: "reviews" } })).body,
      "v1",
    );
    assert.equal(
      (await send(sc.outbound, { method: "DELETE", path: "/items/x42", headers: { Host: "reviews" } })).body,
      "v1",
    );
    // HTTP_PROXY style: absolute-form request target.
    assert.equal((await send(sc.outbound, { path: "http://reviews/canary", headers: { Host: "reviews" } })).body, "v2");
  });

  test("weighted split 30/70 within ±5 % over 2,000 requests", async () => {
    let toV2 = 0;
    for (let batch = 0; batch < 20; batch++) {
      const replies = await Promise.all(
        Array.from({ length: 100 }, () => send(sc.outbound, { path: "/split", headers: { Host: "reviews" } })),
      );
      for (const r of replies) if (r.body === "v2") toV2++;
    }
    const share = toV2 / 2000;
    assert.ok(Math.abs(share - 0.7) <= 0.05, `v2 share ${share}`);
  });

  test("sticky consistent hashing by header and by cookie", async () => {
    for (const [name, headers] of [
      ["sticky", (u: number) => ({ Host: "sticky", "x-user-id": `user-${u}` })],
      ["sticky-cookie", (u: number) => ({ Host: "sticky-cookie", Cookie: `a=1; sid=session-${u}` })],
    ] as const) {
      const seen = new Set<string>();
      for (let u = 0; u < 30; u++) {
        const first = (await send(sc.outbound, { headers: headers(u) })).body;
        seen.add(first);
        for (let i = 0; i < 3; i++) assert.equal((await send(sc.outbound, { headers: headers(u) })).body, first, name);
      }
      assert.ok(seen.size >= 2, `${name}: 30 users all on ${[...seen].join(",")}`);
    }
  });

  test("hash key from a query parameter; a request without the key gets a random endpoint", async () => {
    const owners = new Map<string, string>();
    for (let u = 0; u < 30; u++) {
      const path = `/profile?x=1&user=u${u}`;
      const first = (await send(sc.outbound, { path, headers: { Host: "sticky-query" } })).body;
      for (let i = 0; i < 3; i++)
        assert.equal((await send(sc.outbound, { path, headers: { Host: "sticky-query" } })).body, first);
      owners.set(`u${u}`, first);
    }
    assert.ok(new Set(owners.values()).size >= 2, "30 users all on one endpoint");
    const keyless = new Set<string>();
    for (let i = 0; i < 60; i++)
      keyless.add((await send(sc.outbound, { path: "/profile", headers: { Host: "sticky-query" } })).body);
    assert.equal(keyless.size, 3, `without the key, 60 requests reached ${[...keyless].join(",")}`);
  });

  test("every error flag answers with its status, header and a short JSON body", async () => {
    const cases = [
      ["nowhere", 404, "NR"],
      ["empty", 503, "UH"],
      ["down", 503, "UF"],
      ["slow", 504, "UT"],
      ["garbage", 502, "UR"],
    ] as const;
    for (const [host, status, flag] of cases) {
      const r = await send(sc.outbound, { headers: { Host: host } });
      assert.equal(r.status, status, host);
      assert.equal(r.headers["x-meshlet-flags"], flag, host);
      const body = JSON.parse(r.body) as { flag: string; error: string };
      assert.equal(body.flag, flag);
      assert.ok(body.error.length > 0);
    }
    // The sidecar lives on after garbage.
    assert.equal((await send(sc.outbound, { headers: { Host: "reviews" } })).status, 200);
    const metrics = await send(sc.admin, { path: "/metrics" });
    assert.match(
      metrics.body,
      /meshlet_sidecar_requests_total\{direction="outbound",service="garbage",code="5xx",flags="UR"\} 1/,
    );
    assert.match(metrics.body, /service="-",code="4xx",flags="NR"/);
    assert.match(
      metrics.body,
      /meshlet_requests_total\{direction="outbound",source_service="client",destination_service="slow",destination_version="[^"]*",response_code="504",response_flags="UT",grpc_status=""\} 1/,
    );
  });

  test("retries a 5xx and answers with the retried response", async () => {
    flakyHits = 0;
    const r = await send(sc.outbound, { headers: { Host: "flaky" } });
    assert.equal(r.status, 200);
    assert.equal(flakyHits, 2);
    // POST is not retried unless the route says so.
    flakyHits = 0;
    const p = await send(sc.outbound, { method: "POST", headers: { Host: "flaky" } });
    assert.equal(p.status, 503);
    assert.equal(flakyHits, 1);
  });

  test("a retry goes to another endpoint than the one that failed, even when the hash key picks the dead one", async () => {
    // Half the user ids hash to the closed port: one retry is enough only if it avoids that endpoint.
    for (let user = 0; user < 20; user++) {
      const r = await send(sc.outbound, { headers: { Host: "half-down", "x-user-id": `u${user}` } });
      assert.equal(r.status, 200, `user u${user}: ${r.status} ${r.headers["x-meshlet-flags"] ?? ""}`);
    }
  });

  test("a request body up to 64 KiB is held and sent again on retry; a larger one streams and is not retried", async () => {
    const put = (size: number, method = "PUT") =>
      send(sc.outbound, { method, headers: { Host: "flaky-body" }, body: Buffer.alloc(size, 1) });
    flakyBodyHits = [];
    const small = await put(1000);
    assert.equal(small.status, 200);
    assert.deepEqual(flakyBodyHits, [1000, 1000]);
    flakyBodyHits = [];
    const large = await put(100 * 1024);
    assert.equal(large.status, 503);
    assert.deepEqual(flakyBodyHits, [100 * 1024]);
    // POST is not retried unless the route says so, body or not.
    flakyBodyHits = [];
    assert.equal((await put(1000, "POST")).status, 503);
    assert.deepEqual(flakyBodyHits, [1000]);
  });

  test("header case kept end to end; hop-by-hop dropped; forwarding headers added", async () => {
    const r = await send(sc.outbound, {
      headers: [
        "Host",
        "echo",
        "X-MiXeD-Case",
        "1",
        "Connection",
        "keep-alive, X-Secret",
        "X-Secret",
        "s",
        "X-Forwarded-For",
        "10.1.1.1",
        "traceparent",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      ],
    });
    const raw = (JSON.parse(r.body) as { raw: string[] }).raw;
    assert.ok(raw.includes("X-MiXeD-Case"));
    assert.ok(!raw.map((h) => h.toLowerCase()).includes("x-secret"));
    assert.equal(raw[raw.indexOf("x-forwarded-for") + 1], "10.1.1.1, 127.0.0.1");
    assert.ok(raw.includes("x-request-id"));
    assert.equal(raw[raw.indexOf("x-forwarded-proto") + 1], "http");
    assert.equal(raw[raw.indexOf("traceparent") + 1], "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    assert.ok(r.rawHeaders.includes("X-Upstream-Case"));
    assert.equal(r.headers["x-hop"], undefined);
  });

  test("a 1 GiB upload streams through with RSS growth under 50 MB", async (t) => {
    const pid = sc.proc.pid ?? 0;
    // A streaming process's RSS is a sawtooth (each GC frees the chunks read since the last one, ~64 MB of
    // external memory), so the baseline is the top of that sawtooth, reached while a first 256 MB streams
    // through; a buffered body would then still grow by the whole 1 GiB.
    const warm = await peakRssWhile(pid, upload(sc.outbound, 256 * 1024 * 1024));
    const size = 1024 * 1024 * 1024;
    const full = await peakRssWhile(pid, upload(sc.outbound, size));
    assert.equal(full.value, size);
    t.diagnostic(`sidecar RSS peak ${warm.peakMb.toFixed(0)} MB with 256 MB, ${full.peakMb.toFixed(0)} MB with 1 GiB`);
    assert.ok(full.peakMb - warm.peakMb < 50, `RSS grew by ${(full.peakMb - warm.peakMb).toFixed(1)} MB`);
  });

  test("a client that stops reading holds the upstream back: the response is not buffered in the sidecar", async (t) => {
    const chunk = Buffer.alloc(64 * 1024, "y");
    const total = 4096; // 256 MiB
    const bulk = await startUpstream((req, res) => {
      req.resume();
      res.writeHead(200, { "content-length": String(total * chunk.length) });
      let n = 0;
      const pump = () => {
        while (n < total) {
          n++;
          if (!res.write(chunk)) return void res.once("drain", pump);
        }
        res.end();
      };
      pump();
    });
    const own = await startSidecar(service("bulk", [{ port: bulk.port }]));
    t.after(async () => {
      await own.stop();
      await bulk.close();
    });
    const pid = own.proc.pid ?? 0;
    const res = await new Promise<import("node:http").IncomingMessage>((resolve, reject) =>
      request({ host: "127.0.0.1", port: own.outbound, headers: { Host: "bulk" }, agent: false }, resolve)
        .on("error", reject)
        .end(),
    );
    res.pause();
    const before = rssMb(pid);
    await new Promise((r) => setTimeout(r, 1500));
    const paused = rssMb(pid);
    let bytes = 0;
    res.on("data", (c: Buffer) => {
      bytes += c.length;
    });
    res.resume();
    await once(res, "end");
    assert.equal(bytes, total * chunk.length);
    t.diagnostic(`sidecar RSS ${before.toFixed(0)} MB when the client paused, ${paused.toFixed(0)} MB 1.5 s later`);
    assert.ok(paused - before < 40, `RSS grew by ${(paused - before).toFixed(1)} MB while the client read nothing`);
  });

  test("the route timeout starts once the request body is in: an upload slower than the timeout succeeds", async () => {
    const r = await trickle(sc.outbound, "upload", 6, 150);
    assert.equal(r.status, 200, r.body);
    assert.equal((JSON.parse(r.body) as { bytes: number }).bytes, 6 * 16 * 1024);
  });

  test("an upstream that resets while the client is still sending: 502 UR, and the sidecar lives on", async () => {
    for (let i = 0; i < 3; i++) {
      const r = await trickle(sc.outbound, "resetter", 1, 0, 64);
      assert.equal(r.status, 502);
      assert.equal(r.flags, "UR");
    }
    assert.equal(sc.proc.exitCode, null, sc.logs());
    assert.equal((await send(sc.outbound, { headers: { Host: "reviews" } })).status, 200);
  });

  test("a response the upstream cuts off after its head: the client connection closes; counted and logged as UR", async () => {
    for (let i = 0; i < 2; i++) {
      const got = await new Promise<{ status: number; error: string }>((resolve) => {
        request({ host: "127.0.0.1", port: sc.outbound, headers: { Host: "cut-off" }, agent: false }, (res) => {
          res.resume();
          res.on("error", (e) => resolve({ status: res.statusCode ?? 0, error: e.message }));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, error: "" }));
        }).end();
      });
      assert.equal(got.status, 200);
      assert.match(got.error, /aborted/);
    }
    const metrics = (await send(sc.admin, { path: "/metrics" })).body;
    assert.match(
      metrics,
      /meshlet_sidecar_requests_total\{direction="outbound",service="cut-off",code="2xx",flags="UR"\} 2/,
    );
    assert.doesNotMatch(metrics, /service="cut-off",code="2xx",flags="-"/);
    assert.match(
      metrics,
      /meshlet_requests_total\{direction="outbound",source_service="client",destination_service="cut-off",destination_version="[^"]*",response_code="200",response_flags="UR",grpc_status=""\} 2/,
    );
  });

  test("5,000 idle client connections are held without errors, and requests still flow", async () => {
    const sockets = [];
    let errors = 0;
    for (let i = 0; i < 5_000; i++) {
      const s = connect(sc.outbound, "127.0.0.1");
      s.on("error", () => {
        errors++;
      });
      sockets.push(s);
      if (i % 500 === 499) await Promise.all(sockets.slice(-500).map((x) => once(x, "connect")));
    }
    await new Promise((r) => setTimeout(r, 1_000));
    assert.equal((await send(sc.outbound, { headers: { Host: "reviews" } })).status, 200);
    const open = sockets.filter((s) => !s.destroyed && s.readyState === "open").length;
    for (const s of sockets) s.destroy();
    assert.equal(errors, 0);
    assert.equal(open, 5_000, "none was dropped");
  });

  test("bad input: 431 for a header block over 64 KiB, 400 for garbage; the sidecar lives on", async () => {
    const big = await send(sc.outbound, { headers: { Host: "echo", "x-big": "a".repeat(70 * 1024) } }).catch(
      (e: Error) => e,
    );
    assert.ok(!(big instanceof Error), String(big));
    assert.equal(big.status, 431);
    const text = await rawExchange(sc.outbound, "GARBAGE / HTTP/9\r\n\r\n");
    assert.match(text, /^HTTP\/1\.1 400/);
    assert.equal((await send(sc.outbound, { headers: { Host: "reviews" } })).status, 200);
  });

  test("slowloris: a header block still incomplete after 10 s gets 408 and the connection is closed", async () => {
    const sock = connect(sc.outbound, "127.0.0.1");
    sock.on("error", () => {});
    sock.write("GET / HTTP/1.1\r\nHost: reviews\r\n");
    const drip = setInterval(() => sock.write("x-drip: 1\r\n"), 1_000);
    const startedAt = Date.now();
    let text = "";
    sock.on("data", (c: Buffer) => {
      text += c.toString();
    });
    try {
      await once(sock, "close");
    } finally {
      clearInterval(drip);
    }
    const elapsed = Date.now() - startedAt;
    assert.match(text, /^HTTP\/1\.1 408/);
    assert.ok(elapsed >= 9_500 && elapsed < 12_500, `closed after ${elapsed} ms`);
  });

  test("a request no upstream can be sent (two Host fields) gets 400, not a 502 counted against the upstream", async () => {
    const text = await rawExchange(sc.outbound, "GET / HTTP/1.1\r\nHost: echo\r\nHost: echo\r\n\r\n");
    assert.match(text, /^HTTP\/1\.1 400/);
    assert.match(text, /connection: close/);
    assert.match(text, /more than one Host field/);
    assert.equal((await send(sc.outbound, { headers: { Host: "echo" } })).status, 200);
  });

  test("a client that leaves before the response aborts the upstream request; counted as cancelled, not UR", async () => {
    const sock = connect(sc.outbound, "127.0.0.1");
    sock.write("GET /?ms=2000 HTTP/1.1\r\nHost: slow\r\n\r\n");
    await new Promise((r) => setTimeout(r, 100));
    sock.destroy();
    const deadline = Date.now() + 2_000;
    let metrics = "";
    while (Date.now() < deadline && !metrics.includes('service="slow",code="cancelled"')) {
      metrics = (await send(sc.admin, { path: "/metrics" })).body;
    }
    assert.match(
      metrics,
      /meshlet_sidecar_requests_total\{direction="outbound",service="slow",code="cancelled",flags="-"\} 1/,
    );
    assert.doesNotMatch(metrics, /service="slow",code="5xx",flags="UR"/);
  });

  test("admin endpoints", async () => {
    const ready = JSON.parse((await send(sc.admin, { path: "/ready" })).body) as Record<string, unknown>;
    assert.equal(ready.ready, true);
    assert.equal(ready.stale, false);
    assert.match(String(ready.source), /^file:/);
    const dump = JSON.parse((await send(sc.admin, { path: "/config_dump" })).body) as { resources: unknown[] };
    assert.equal(dump.resources.length, 20);
    const eps = JSON.parse((await send(sc.admin, { path: "/endpoints" })).body) as {
      services: Record<string, { endpoints: unknown[] }>;
    };
    assert.equal(eps.services.sticky?.endpoints.length, 3);
    assert.equal((await send(sc.admin, { path: "/healthz" })).status, 200);
  });
});

describe("sidecar config lifecycle", () => {
  test("SIGHUP reload swaps config without failing an in-flight request; a bad file keeps the old one", async (t) => {
    const a = await nameServer("a");
    const b = await nameServer("b");
    const slow = await startUpstream((req, res) => {
      req.resume();
      setTimeout(() => res.end("slow-done"), 1500);
    });
    const sc = await startSidecar(docs(service("svc", [{ port: a.port }]), service("slow", [{ port: slow.port }])));
    t.after(async () => {
      await sc.stop();
      await Promise.all([a.close(), b.close(), slow.close()]);
    });
    assert.equal((await send(sc.outbound, { headers: { Host: "svc" } })).body, "a");
    const inflight = send(sc.outbound, { headers: { Host: "slow" } });
    const { writeFile } = await import("node:fs/promises");
    await writeFile(sc.configFile, docs(service("svc", [{ port: b.port }]), service("slow", [{ port: slow.port }])));
    sc.proc.kill("SIGHUP");
    await waitFor("reload", async () =>
      (await send(sc.outbound, { headers: { Host: "svc" } })).body === "b" ? true : undefined,
    );
    const r = await inflight;
    assert.equal(r.status, 200);
    assert.equal(r.body, "slow-done");
    // The removed endpoint's pool was closed with the swap (1.5 s ago), not left to its keep-alive timeout (3 s
    // after its last request here: the upstream's 5 s hint less undici's 2 s margin).
    const connections = () =>
      new Promise<number>((res, rej) => a.server.getConnections((e, n) => (e ? rej(e) : res(n))));
    assert.equal(await connections(), 0, "a's keep-alive connection is still open");
    await writeFile(sc.configFile, `${route("x", "    - destinations: [{service: svc}]\n      timeout: 2x")}`);
    sc.proc.kill("SIGHUP");
    await waitFor("rejection logged", async () => (sc.logs().includes("keeping the previous") ? true : undefined));
    assert.equal((await send(sc.outbound, { headers: { Host: "svc" } })).body, "b");
  });

  test("endpoint removal moves only that endpoint's keys (ring hash)", async (t) => {
    const upsList = await Promise.all(["e0", "e1", "e2", "e3"].map(nameServer));
    const cfg = (list: Upstream[]) =>
      service(
        "ring",
        list.map((u) => ({ port: u.port })),
        "consistentHash: {header: x-user-id}",
      );
    const sc = await startSidecar(cfg(upsList));
    t.after(async () => {
      await sc.stop();
      await Promise.all(upsList.map((u) => u.close()));
    });
    const users = Array.from({ length: 80 }, (_, i) => `u${i}`);
    const owner = async (u: string) => (await send(sc.outbound, { headers: { Host: "ring", "x-user-id": u } })).body;
    const before: string[] = [];
    for (const u of users) before.push(await owner(u));
    const { writeFile } = await import("node:fs/promises");
    await writeFile(sc.configFile, cfg(upsList.filter((_, i) => i !== 2)));
    sc.proc.kill("SIGHUP");
    await waitFor("reload", async () => {
      const d = JSON.parse((await send(sc.admin, { path: "/endpoints" })).body) as {
        services: { ring: { endpoints: unknown[] } };
      };
      return d.services.ring.endpoints.length === 3 ? true : undefined;
    });
    let moved = 0;
    for (const [i, u] of users.entries()) {
      const now = await owner(u);
      if (before[i] === "e2") {
        assert.notEqual(now, "e2");
        moved++;
      } else assert.equal(now, before[i], u);
    }
    assert.ok(moved > 0);
  });

  test("starts from the cached snapshot in --data-dir when the config is unreadable; /ready says stale", async (t) => {
    const { mkdtemp, rm, unlink } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const dir = await mkdtemp(join(tmpdir(), "meshlet-cache-"));
    const a = await nameServer("a");
    t.after(async () => {
      await a.close();
      await rm(dir, { recursive: true, force: true });
    });
    const first = await startSidecar(service("svc", [{ port: a.port }]), { dir });
    await waitFor("snapshot cached", async () => {
      const { stat } = await import("node:fs/promises");
      return (await stat(join(dir, "sidecar-snapshot.json"))).size > 0 ? true : undefined;
    });
    assert.equal(await first.stop(), 0);
    await unlink(first.configFile);
    const second = await startSidecar(undefined, { dir });
    t.after(() => second.stop());
    assert.equal((await send(second.outbound, { headers: { Host: "svc" } })).body, "a");
    const ready = JSON.parse((await send(second.admin, { path: "/ready" })).body) as Record<string, unknown>;
    assert.equal(ready.stale, true);
    assert.match(String(ready.source), /^cache:/);
  });

  test("a broken config with nothing cached: exit 1, and the message says what is wrong where", async (t) => {
    const { mkdtemp, rm, writeFile } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const dir = await mkdtemp(join(tmpdir(), "meshlet-bad-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, "mesh.yaml");
    await writeFile(file, "apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: [x\n");
    const r = await runCli(
      ["sidecar", "--service", "s", "--app-port", "1", "--config", file, ...["--outbound", "127.0.0.1:0"]].concat([
        "--inbound",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
        "--log-level",
        "fatal",
      ]),
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /mesh\.yaml:\d+:\d+ /);
    assert.match(r.stderr, /no cached snapshot to start from: no --data-dir/);
    assert.match(r.stderr, /\(ERR_CONFIG_INVALID\)/);
  });
});

describe("WebSocket, drain and await", () => {
  test("WebSocket echo through two sidecars (outbound -> inbound), close code propagated", async (t) => {
    const app = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    await once(app, "listening");
    app.on("connection", (ws) => {
      ws.on("message", (m, isBinary) => {
        if (m.toString() === "bye") ws.close(4001, "bye");
        else ws.send(m, { binary: isBinary });
      });
    });
    const appPort = (app.address() as AddressInfo).port;
    const server = await startSidecar(docs(service("placeholder", [])), { service: "chat", appPort });
    const client = await startSidecar(service("chat", [{ port: server.inbound }]));
    t.after(async () => {
      await client.stop();
      await server.stop();
      app.close();
    });
    const ws = new WebSocket(`ws://127.0.0.1:${client.outbound}/room`, { headers: { Host: "chat" } });
    await once(ws, "open");
    const big = Buffer.alloc(4 * 1024 * 1024, 1);
    ws.send("hello");
    ws.send(big);
    const [m1] = (await once(ws, "message")) as [Buffer];
    assert.equal(m1.toString(), "hello");
    const [m2] = (await once(ws, "message")) as [Buffer];
    assert.equal(m2.length, big.length);
    ws.send("bye");
    const [code] = (await once(ws, "close")) as [number];
    assert.equal(code, 4001);
  });

  test("a WebSocket upgrade that cannot reach its upstream gets 503 UF (404 NR without a route), counted", async (t) => {
    const sc = await startSidecar(service("down", [{ port: await freePort() }]));
    t.after(() => sc.stop());
    const refused = async (host: string) => {
      const ws = new WebSocket(`ws://127.0.0.1:${sc.outbound}/`, { headers: { Host: host } });
      ws.on("error", () => {});
      const [, res] = (await once(ws, "unexpected-response")) as [unknown, import("node:http").IncomingMessage];
      res.resume();
      return { status: res.statusCode, flags: res.headers["x-meshlet-flags"] };
    };
    assert.deepEqual(await refused("down"), { status: 503, flags: "UF" });
    assert.deepEqual(await refused("nowhere"), { status: 404, flags: "NR" });
    const metrics = (await send(sc.admin, { path: "/metrics" })).body;
    assert.match(
      metrics,
      /meshlet_sidecar_requests_total\{direction="outbound",service="down",code="5xx",flags="UF"\} 1/,
    );
    assert.match(metrics, /meshlet_sidecar_requests_total\{direction="outbound",service="-",code="4xx",flags="NR"\} 1/);
  });

  test("SIGTERM drains: an in-flight request finishes, then exit 0", async (t) => {
    const slow = await startUpstream((req, res) => {
      req.resume();
      setTimeout(() => res.end("finished"), 800);
    });
    const sc = await startSidecar(service("slow", [{ port: slow.port }]));
    t.after(() => slow.close());
    const inflight = send(sc.outbound, { headers: { Host: "slow" } });
    await new Promise((r) => setTimeout(r, 200));
    const code = sc.stop();
    assert.equal((await inflight).body, "finished");
    assert.equal(await code, 0);
  });

  test("meshlet await --shutdown runs the command, returns its code and stops the sidecar", async () => {
    const sc = await startSidecar(service("svc", []));
    const r = await runCli([
      "await",
      "--admin",
      `127.0.0.1:${sc.admin}`,
      "--shutdown",
      "--",
      process.execPath,
      "-e",
      "process.exit(3)",
    ]);
    assert.equal(r.code, 3, r.stderr);
    // The sidecar may already be gone by the time await returns.
    const exitCode = sc.proc.exitCode ?? ((await once(sc.proc, "exit")) as [number])[0];
    assert.equal(exitCode, 0);
    await sc.stop();
  });
});
