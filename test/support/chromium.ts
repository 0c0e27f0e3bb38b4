import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import puppeteer, { type Browser } from "puppeteer-core";
import { ensureSystemPackage } from "./system-package.ts";

/** A real headless Chromium (Debian's, installed when missing) with a fresh profile, removed on close. */
export async function launchChromium(): Promise<{ browser: Browser; close(): Promise<void> }> {
  const executablePath = await ensureSystemPackage("chromium", "chromium");
  const profile = mkdtempSync(join(tmpdir(), "meshlet-chromium-"));
  const browser = await puppeteer.launch({
    executablePath,
    headless: true,
    // The control plane's certificate is from the mesh CA, which this throwaway profile does not trust; what is
    // under test is the page, not the browser's trust store.
    acceptInsecureCerts: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      `--user-data-dir=${profile}`,
    ],
  });
  return {
    browser,
    async close() {
      await browser.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
