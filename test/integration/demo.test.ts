import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { freePorts, until } from "../controlplane/harness.ts";
import { MESHLET_BIN, REPO_ROOT, runCli } from "../helpers/cli.ts";
import { ensureSystemPackage } from "../support/system-package.ts";

interface Demo {
  proc: ChildProcess;
  out: () => string;
  err: () => string;
}

/** `meshlet demo` as a user starts it (its own ports, so tests never take the defaults). */
function startDemo(dir: string, ports: number[]): Demo {
  const [http, grpc, outbound] = ports;
  const proc = spawn(
    process.execPath,
    [
      MESHLET_BIN,
      "demo",
      "--dir",
      dir,
      "--http",
      `127.0.0.1:${http}`,
      "--grpc",
      `127.0.0.1:${grpc}`,
      "--outbound",
      `127.0.0.1:${outbound}`,
    ],
    { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  let err = "";
  proc.stdout?.on("data", (c: Buffer) => {
    out += c.toString();
  });
  proc.stderr?.on("data", (c: Buffer) => {
    err += c.toString();
  });
  return { proc, out: () => out, err: () => err };
}

async function ready(demo: Demo): Promise<number> {
  await until(
    "the demo to be up",
    async () => {
      if (demo.proc.exitCode !== null) throw new Error(`the demo exited: ${demo.out()}${demo.err()}`);
      return demo.out().includes("Ctrl-C stops everything") ? true : undefined;
    },
    60_000,
  );
  const seconds = Number(/meshlet demo is up in ([\d.]+) s/.exec(demo.out())?.[1]);
  assert.ok(seconds > 0 && seconds < 20, `ready in ${seconds} s`);
  return seconds;
}

/** Every process whose parent is `pid` (the demo's children are in process groups of their own). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(true));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(false)));
  });
}

/** The demo's ports: the control plane's, and every app's and sidecar's from its state file. */
function demoPorts(dir: string): number[] {
  const state = JSON.parse(readFileSync(join(dir, "demo.json"), "utf8")) as {
    http: string;
    grpc: string;
    instances: { appPort: number; outbound: string; inbound: string; admin: string }[];
  };
  const port = (a: string) => Number(a.slice(a.lastIndexOf(":") + 1));
  return [
    port(state.http),
    port(state.grpc),
    ...state.instances.flatMap((i) => [i.appPort, port(i.outbound), port(i.inbound), port(i.admin)]),
  ];
}

async function assertAllGone(pids: number[], ports: number[]): Promise<void> {
  await until("every child process to be gone", async () => (pids.every((p) => !alive(p)) ? true : undefined), 15_000);
  for (const port of ports) assert.equal(await listening(port), false, `port ${port} still has a listener`);
}

/** A test that failed midway still stops its demo (and, through it, the demo's processes). */
async function stop(demo: Demo): Promise<void> {
  if (demo.proc.exitCode !== null || demo.proc.signalCode !== null) return;
  const exited = new Promise((r) => demo.proc.once("exit", r));
  demo.proc.kill("SIGTERM");
  await exited;
}

/** Runs one printed command line as a user would paste it into a shell. */
function sh(line: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile("bash", ["-c", line], { cwd: REPO_ROOT, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err === null ? 0 : Number(err.code ?? 1), stdout, stderr }),
    );
  });
}

describe("meshlet demo", () => {
  const dir = mkdtempSync(join(tmpdir(), "meshlet-demo-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("comes up in under 20 s, every command it prints works as printed, and Ctrl-C stops everything", async (t) => {
    // The printed commands are run as printed, with curl.
    await ensureSystemPackage("curl", "curl");
    const ports = await freePorts(3);
    const demo = startDemo(dir, ports);
    t.after(() => stop(demo));
    await ready(demo);
    const printed = demo.out();
    const commands = printed
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => /^(curl|npx|for) /.test(l));
    assert.ok(commands.length >= 7, printed);

    // A second demo on the same directory says so in one line, and leaves the first alone.
    const second = await runCli(["demo", "--dir", dir, "--http", "127.0.0.1:1", "--grpc", "127.0.0.1:2"]);
    assert.equal(second.code, 1);
    assert.match(
      second.stderr,
      new RegExp(
        `^meshlet demo is already running \\(pid ${demo.proc.pid}, dashboard https://127.0.0.1:${ports[0]}/\\)[^\\n]*\\n$`,
      ),
    );

    const [plainCurl, status, canary, sticky, fail, , heal] = commands;
    const plain = await sh(plainCurl ?? "");
    assert.match(plain.stdout, /"service":"reviews".*"ratings":\{"service":"ratings"/);
    const st = await sh(status ?? "");
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, /Sidecars: 5 connected/);
    for (let i = 0; i < 5; i++) assert.match((await sh(canary ?? "")).stdout, /"version":"v2"/);
    const lines = (await sh(sticky ?? "")).stdout.trim().split("\n");
    assert.equal(lines.length, 6);
    assert.equal(new Set(lines.slice(0, 3)).size, 1, lines.join("\n"));
    assert.equal(new Set(lines.slice(3)).size, 1, lines.join("\n"));
    assert.match(lines[0] ?? "", /^reviews-v1-[ab] \(reviews v1\) for alice$/);

    assert.equal((await sh(fail ?? "")).code, 0);
    const degraded = await until(
      "the fallback answer once ratings' breaker opened",
      async () => {
        const r = await sh(plainCurl ?? "");
        return r.stdout.includes('"degraded":true') ? r.stdout : undefined;
      },
      30_000,
    );
    assert.match(degraded, /"ratingsFlags":"CB,FB"/);
    assert.equal((await sh(heal ?? "")).code, 0);
    await until(
      "ratings to answer again",
      async () => ((await sh(plainCurl ?? "")).stdout.includes('"ratings":{"service":"ratings"') ? true : undefined),
      30_000,
    );

    const pid = demo.proc.pid ?? 0;
    const pids = childrenOf(pid);
    assert.equal(pids.length, 11, "a control plane, five apps and five sidecars");
    const used = demoPorts(dir);
    const exited = new Promise((r) => demo.proc.once("exit", (code) => r(code)));
    demo.proc.kill("SIGINT");
    assert.equal(await exited, 0);
    assert.match(demo.out(), /meshlet demo: stopped\n$/);
    await assertAllGone(pids, used);
  });

  it("starts again on the same data, and SIGTERM stops everything too", async (t) => {
    const demo = startDemo(dir, await freePorts(3));
    t.after(() => stop(demo));
    await ready(demo);
    const pids = childrenOf(demo.proc.pid ?? 0);
    assert.equal(pids.length, 11);
    const used = demoPorts(dir);
    const exited = new Promise((r) => demo.proc.once("exit", (code) => r(code)));
    demo.proc.kill("SIGTERM");
    assert.equal(await exited, 0);
    await assertAllGone(pids, used);
  });

  it("leaves no orphan even when the demo itself is killed (SIGKILL)", async (t) => {
    const demo = startDemo(dir, await freePorts(3));
    t.after(() => stop(demo));
    await ready(demo);
    const pids = childrenOf(demo.proc.pid ?? 0);
    assert.equal(pids.length, 11);
    const used = demoPorts(dir);
    demo.proc.kill("SIGKILL");
    await assertAllGone(pids, used);
  });
});
