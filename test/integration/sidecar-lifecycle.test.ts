import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { request } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { describe, test } from "node:test";
import { WebSocket, WebSocketServer } from "ws";
import { startCli, stopProcess } from "../helpers/cli.ts";
import { freePort, nameServer, send, service, startSidecar, startUpstream, waitFor } from "../sidecar/helpers.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Resolves with the exit code of `proc`; rejects after `ms` so a process that hangs fails the test at once
 * instead of at the runner's timeout (the caller's t.after still kills it).
 */
async function exitWithin(proc: ChildProcess, ms: number, logs: () => string = () => ""): Promise<number | null> {
  if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
  const [code] = await once(proc, "exit", { signal: AbortSignal.timeout(ms) }).catch(() => {
    throw new Error(`pid ${proc.pid} still running after ${ms} ms:\n${logs()}`);
  });
  return code as number | null;
}

/** Collects everything a child writes, so a test can tell when (and whether) output appeared. */
function capture(proc: ChildProcess): { stdout: () => string; stderr: () => string } {
  let out = "";
  let err = "";
  proc.stdout?.on("data", (c: Buffer) => {
    out += c.toString();
  });
  proc.stderr?.on("data", (c: Buffer) => {
    err += c.toString();
  });
  return { stdout: () => out, stderr: () => err };
}

/** A WebSocket server; `onConnection` sees each accepted socket and its upgrade request. */
async function startWsServer(onConnection: (ws: WebSocket) => void) {
  const server = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  await once(server, "listening");
  server.on("connection", onConnection);
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        // terminate, not close: a relay that misbehaves must not keep the test waiting for a close handshake.
        for (const c of server.clients) c.terminate();
        server.close(() => r());
      }),
  };
}

describe("sidecar drain", () => {
  test("--drain-delay 1s: new requests are still served during the delay; exit 0 once it has passed", async (t) => {
    const up = await nameServer("up");
    const sc = await startSidecar(service("svc", [{ port: up.port }]), { args: ["--drain-delay", "1s"] });
    t.after(async () => {
      await sc.stop();
      await up.close();
    });
    assert.equal((await send(sc.outbound, { headers: { Host: "svc" } })).body, "up");

    const signalledAt = Date.now();
    const exit = exitWithin(sc.proc, 5_000, sc.logs);
    sc.proc.kill("SIGTERM");
    await sleep(300);
    // A fresh connection (send uses agent: false): the listener itself must still accept, not only old sockets.
    const during = await send(sc.outbound, { headers: { Host: "svc" } });
    assert.equal(during.status, 200);
    assert.equal(during.body, "up");
    // Callers learn of the drain from /ready while requests still flow.
    assert.equal((await send(sc.admin, { path: "/ready" })).status, 503);

    assert.equal(await exit, 0, sc.logs());
    const elapsed = Date.now() - signalledAt;
    assert.ok(elapsed >= 950 && elapsed < 3_000, `exited ${elapsed} ms after SIGTERM`);
  });

  test("--drain-timeout 1s: an upstream that never answers does not hold the exit; exit 0 after about 1 s", async (t) => {
    let arrived = 0;
    const hung = await startUpstream((req) => {
      // Never answers: only the drain timeout can end this request.
      req.resume();
      arrived++;
    });
    const sc = await startSidecar(service("hung", [{ port: hung.port }]), {
      args: ["--drain-delay", "0s", "--drain-timeout", "1s"],
    });
    t.after(async () => {
      await sc.stop();
      await hung.close();
    });
    const inflight = send(sc.outbound, { headers: { Host: "hung" } }).then(
      (r) => r,
      (e: Error) => e,
    );
    await waitFor("the request to reach the upstream", async () => (arrived === 1 ? true : undefined), 5_000);

    const signalledAt = Date.now();
    const exit = exitWithin(sc.proc, 6_000, sc.logs);
    sc.proc.kill("SIGTERM");
    assert.equal(await exit, 0, sc.logs());
    const elapsed = Date.now() - signalledAt;
    // At least the timeout (it did wait for the in-flight request), far less than the route's 15 s timeout.
    assert.ok(elapsed >= 900 && elapsed < 3_000, `exited ${elapsed} ms after SIGTERM`);
    const r = await inflight;
    assert.ok(r instanceof Error || r.status !== 200, "the hung request cannot have succeeded");
    assert.match(sc.logs(), /"unfinished":1/);
  });
});

describe("stream idle timeout", () => {
  test("a stalled upload is cut after --stream-idle-timeout and lets go of its upstream request; a slow steady one is not", async (t) => {
    let upstreamAborted = 0;
    const echo = await startUpstream((req, res) => {
      let n = 0;
      req.on("data", (c: Buffer) => {
        n += c.length;
      });
      req.on("end", () => res.end(String(n)));
      req.on("close", () => {
        if (!req.complete) upstreamAborted++;
      });
    });
    const sc = await startSidecar(service("echo", [{ port: echo.port }]), { args: ["--stream-idle-timeout", "1s"] });
    t.after(async () => {
      await sc.stop();
      await echo.close();
    });

    const stalled = connect(sc.outbound, "127.0.0.1");
    stalled.on("error", () => {});
    stalled.write("PUT /up HTTP/1.1\r\nHost: echo\r\ncontent-length: 1000\r\n\r\n0123456789");
    const startedAt = Date.now();
    await once(stalled, "close", { signal: AbortSignal.timeout(5_000) });
    const elapsed = Date.now() - startedAt;
    assert.ok(elapsed >= 900 && elapsed < 3_000, `closed after ${elapsed} ms`);
    await waitFor("the upstream request to be aborted", async () => (upstreamAborted === 1 ? true : undefined), 5_000);

    // Activity resets the clock: 6 chunks 300 ms apart take 1.5 s, longer than the idle timeout.
    const steady = await new Promise<string>((resolve, reject) => {
      const req = request(
        { host: "127.0.0.1", port: sc.outbound, method: "PUT", headers: { Host: "echo", "content-length": "600" } },
        (res) => {
          let body = "";
          res.on("data", (c: Buffer) => {
            body += c.toString();
          });
          res.on("end", () => resolve(body));
        },
      );
      req.on("error", reject);
      let sent = 0;
      const next = () => {
        req.write(Buffer.alloc(100, 1));
        if (++sent < 6) setTimeout(next, 300);
        else req.end();
      };
      next();
    });
    assert.equal(steady, "600");
  });
});

describe("meshlet await", () => {
  test("started before the sidecar: waits for /ready, then runs the command and exits with its code", async (t) => {
    const admin = await freePort();
    const awaiter = startCli([
      "await",
      "--admin",
      `127.0.0.1:${admin}`,
      "--timeout",
      "20s",
      "--",
      process.execPath,
      "-e",
      "console.log('command ran'); process.exit(5)",
    ]);
    const out = capture(awaiter);
    let sc: Awaited<ReturnType<typeof startSidecar>> | undefined;
    t.after(async () => {
      await stopProcess(awaiter);
      await sc?.stop();
    });

    await sleep(1_000);
    assert.equal(awaiter.exitCode, null, `await gave up before the sidecar came: ${out.stderr()}`);
    assert.equal(out.stdout(), "", "the command ran before the sidecar was ready");

    // Later flags win in commander: this overrides the helper's --admin 127.0.0.1:0.
    sc = await startSidecar(service("svc", []), { args: ["--admin", `127.0.0.1:${admin}`] });
    assert.equal(sc.admin, admin);
    assert.equal(await exitWithin(awaiter, 10_000, out.stderr), 5, out.stderr());
    assert.equal(out.stdout(), "command ran\n");
  });

  test("SIGTERM while `meshlet await` still waits ends it with 143, without running the command", async (t) => {
    const awaiter = startCli([
      "await",
      "--admin",
      `127.0.0.1:${await freePort()}`,
      "--timeout",
      "20s",
      "--",
      process.execPath,
      "-e",
      "console.log('command ran')",
    ]);
    const out = capture(awaiter);
    t.after(() => stopProcess(awaiter));
    await sleep(500);
    const signalledAt = Date.now();
    awaiter.kill("SIGTERM");
    assert.equal(await exitWithin(awaiter, 3_000, out.stderr), 143, `signal ${awaiter.signalCode}: ${out.stderr()}`);
    assert.ok(Date.now() - signalledAt < 2_000);
    assert.equal(out.stdout(), "");
  });

  test("SIGTERM to `meshlet await` is forwarded to the command, and await exits with the command's code", async (t) => {
    const sc = await startSidecar(service("svc", []));
    const child = [
      "process.on('SIGTERM', () => { console.log('child got SIGTERM'); process.exit(7); });",
      "console.log('child ready');",
      // Keeps the child alive until the signal arrives.
      "setInterval(() => {}, 1000);",
    ].join(" ");
    const awaiter = startCli(["await", "--admin", `127.0.0.1:${sc.admin}`, "--", process.execPath, "-e", child]);
    const out = capture(awaiter);
    t.after(async () => {
      await stopProcess(awaiter);
      await sc.stop();
    });
    // Signal only once the child's handler is installed; before that, node's default action would kill it.
    await waitFor(
      "the command to start",
      async () => (out.stdout().includes("child ready") ? true : undefined),
      10_000,
    );
    awaiter.kill("SIGTERM");
    assert.equal(await exitWithin(awaiter, 5_000, out.stderr), 7, out.stderr());
    assert.equal(awaiter.signalCode, null, "await itself was killed by the signal");
    assert.match(out.stdout(), /child got SIGTERM/);
  });
});

describe("WebSocket through the sidecar", () => {
  test("a close code sent by the client reaches the upstream server", async (t) => {
    let closedWith: (v: { code: number; reason: string }) => void = () => {};
    const seen = new Promise<{ code: number; reason: string }>((r) => {
      closedWith = r;
    });
    const up = await startWsServer((ws) => {
      ws.on("close", (code, reason) => closedWith({ code, reason: reason.toString() }));
    });
    const sc = await startSidecar(service("chat", [{ port: up.port }]));
    t.after(async () => {
      await sc.stop();
      await up.close();
    });
    const ws = new WebSocket(`ws://127.0.0.1:${sc.outbound}/room`, { headers: { Host: "chat" } });
    t.after(() => ws.terminate());
    await once(ws, "open");
    ws.close(4002, "bye");
    const [clientCode] = (await once(ws, "close")) as [number];
    assert.deepEqual(await seen, { code: 4002, reason: "bye" });
    // The server echoes the code in its close frame; the client hears it back through the relay.
    assert.equal(clientCode, 4002);
  });

  test("consistent hashing by x-user-id keeps a user's WebSockets on one upstream; users spread out", async (t) => {
    const names = ["w0", "w1", "w2"];
    const servers = await Promise.all(names.map((name) => startWsServer((ws) => ws.send(name))));
    const sc = await startSidecar(
      service(
        "chat",
        servers.map((s) => ({ port: s.port })),
        "consistentHash: {header: x-user-id}",
      ),
    );
    t.after(async () => {
      await sc.stop();
      await Promise.all(servers.map((s) => s.close()));
    });
    const landsOn = async (user: string): Promise<string> => {
      const ws = new WebSocket(`ws://127.0.0.1:${sc.outbound}/`, { headers: { Host: "chat", "x-user-id": user } });
      try {
        const [m] = (await once(ws, "message")) as [Buffer];
        return m.toString();
      } finally {
        ws.terminate();
      }
    };
    const owners = new Set<string>();
    for (let u = 0; u < 12; u++) {
      const first = await landsOn(`user-${u}`);
      owners.add(first);
      for (let i = 0; i < 3; i++) assert.equal(await landsOn(`user-${u}`), first, `user-${u}, connection ${i + 2}`);
    }
    assert.ok(owners.size >= 2, `12 users all on ${[...owners].join(",")}`);
  });
});
