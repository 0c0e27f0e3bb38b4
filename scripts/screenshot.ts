/**
 * `npm run screenshot`: starts the demo on free ports in a scratch directory, lets traffic flow, breaks
 * ratings so a breaker opens, and saves the dashboard as docs/dashboard.png (for the README).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { launchChromium } from "../test/support/chromium.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BIN = join(ROOT, "bin", "meshlet.js");
const OUT = join(ROOT, "docs", "dashboard.png");

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => resolve(typeof a === "object" && a !== null ? a.port : 0));
    });
  });
}

const step = (text: string) => process.stderr.write(`screenshot: ${text}\n`);
const dir = mkdtempSync(join(tmpdir(), "meshlet-screenshot-"));
const [http, grpc, outbound] = [await freePort(), await freePort(), await freePort()];
step(`starting the demo in ${dir}`);
const demo: ChildProcess = spawn(
  process.execPath,
  [
    BIN,
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
  { stdio: ["ignore", "pipe", "inherit"] },
);
let chromium: Awaited<ReturnType<typeof launchChromium>> | undefined;
try {
  await new Promise<void>((resolve, reject) => {
    let out = "";
    demo.stdout?.on("data", (c: Buffer) => {
      out += c.toString();
      if (out.includes("Ctrl-C stops everything")) resolve();
    });
    demo.once("exit", (code) => reject(new Error(`the demo exited (${code}):\n${out}`)));
  });
  step("demo up; letting traffic flow for 6 s, then failing ratings");
  await new Promise((r) => setTimeout(r, 6_000));
  execFileSync(process.execPath, [BIN, "demo", "fail", "ratings", "--dir", dir], { stdio: "inherit" });
  await new Promise((r) => setTimeout(r, 9_000));
  step("opening Chromium");
  chromium = await launchChromium();
  const page = await chromium.browser.newPage();
  await page.setViewport({ width: 1280, height: 900, deviceScaleFactor: 1 });
  await page.goto(`http://127.0.0.1:${http}/`, { waitUntil: "networkidle0" });
  await page.waitForSelector('#services tr[data-service="ratings"]');
  await new Promise((r) => setTimeout(r, 1_500));
  await page.screenshot({ path: OUT, fullPage: true });
  step(`saved ${OUT}`);
} finally {
  await chromium?.close();
  demo.kill("SIGINT");
  await new Promise((r) => demo.once("exit", r));
  rmSync(dir, { recursive: true, force: true });
}
