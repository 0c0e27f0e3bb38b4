import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { connect } from "node:net";
import { after, before, describe, test } from "node:test";
import { type RunningSidecar, send, service, startSidecar } from "../helpers.ts";
import { type RawUpstream, startRawUpstream } from "./raw-upstream.ts";

/** A seeded generator: the same bytes every run, so a failure reproduces. */
function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x1_0000_0000;
  };
}

const PREFIXES = [
  "",
  "GET / HTTP/1.1\r\nHost: up\r\n",
  "POST / HTTP/1.1\r\nHost: up\r\nTransfer-Encoding: chunked\r\n\r\n",
  "POST / HTTP/1.1\r\nHost: up\r\nContent-Length: 10\r\n\r\n",
  "GET /ws HTTP/1.1\r\nHost: up\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
];

function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Sends one fuzz input on its own connection, then leaves: abruptly or politely, as the seed says. */
function fuzzOne(port: number, bytes: Buffer, abrupt: boolean): Promise<void> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.on("error", () => {});
    s.on("close", () => resolve());
    s.on("data", () => {});
    s.write(bytes);
    setTimeout(() => (abrupt ? s.resetAndDestroy() : s.end()), 20);
    setTimeout(() => s.destroy(), 500);
  });
}

describe("engine fuzz: random bytes never crash the sidecar or leak a socket", () => {
  let up: RawUpstream;
  let sc: RunningSidecar;

  before(async () => {
    up = await startRawUpstream();
    sc = await startSidecar(service("up", [{ port: up.port }]), { args: ["--drain-timeout", "2s"] });
  });

  after(async () => {
    await sc?.stop();
    await up?.close();
  });

  test("2,000 random inputs (raw and after valid prefixes), then normal service and fds back to the baseline", async () => {
    const pid = sc.proc.pid as number;
    assert.equal((await send(sc.outbound, { headers: { host: "up" } })).status, 200);
    const baseline = fdCount(pid);
    const random = xorshift(28);
    const inputs: { bytes: Buffer; abrupt: boolean }[] = [];
    for (let i = 0; i < 2_000; i++) {
      const len = Math.floor(random() * 300);
      const noise = Buffer.alloc(len);
      for (let k = 0; k < len; k++) {
        // Mostly printable bytes and line ends, so the parser gets past the first line often.
        const r = random();
        noise[k] = r < 0.1 ? 13 : r < 0.2 ? 10 : r < 0.25 ? Math.floor(random() * 256) : 32 + Math.floor(random() * 95);
      }
      const prefix = PREFIXES[Math.floor(random() * PREFIXES.length)] ?? "";
      inputs.push({ bytes: Buffer.concat([Buffer.from(prefix, "latin1"), noise]), abrupt: random() < 0.5 });
    }
    for (let i = 0; i < inputs.length; i += 50) {
      await Promise.all(inputs.slice(i, i + 50).map((x) => fuzzOne(sc.outbound, x.bytes, x.abrupt)));
    }
    assert.equal(sc.proc.exitCode, null, "the sidecar is still running");
    assert.equal((await send(sc.outbound, { headers: { host: "up" } })).status, 200);
    const deadline = Date.now() + 5_000;
    let fds = fdCount(pid);
    while (fds > baseline + 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      fds = fdCount(pid);
    }
    assert.ok(fds <= baseline + 2, `fds ${fds} vs baseline ${baseline}`);
  });

  test("SIGTERM after the fuzz run ends the sidecar within its drain timeout", async () => {
    const started = Date.now();
    assert.equal(await sc.stop(), 0);
    assert.ok(Date.now() - started < 3_500);
  });
});
