import { execFileSync } from "node:child_process";

function onPath(binary: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${binary}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/**
 * Makes `binary` available by installing Debian's `pkg` when it is missing:
 * a test that needs a real peer (a shell, promtool) sets it up itself on a
 * fresh machine. As root only; otherwise the test fails and says what to
 * install (a skipped test would hide that nothing was checked).
 */
export function ensureDebianPackage(binary: string, pkg: string): void {
  if (onPath(binary)) return;
  if (process.getuid?.() !== 0)
    throw new Error(`${binary} is missing: install the Debian package "${pkg}" (apt-get install -y ${pkg})`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  // Test files run in parallel: another one may be installing its package; wait for dpkg's lock instead of failing.
  const lock = ["-o", "DPkg::Lock::Timeout=600"];
  const install = () =>
    execFileSync("apt-get", [...lock, "install", "-y", "--no-install-recommends", pkg], {
      env,
      stdio: "ignore",
      timeout: 600_000,
    });
  try {
    install();
  } catch {
    // A fresh machine may have no package lists yet.
    execFileSync("apt-get", [...lock, "update"], { env, stdio: "ignore", timeout: 600_000 });
    install();
  }
  if (!onPath(binary)) throw new Error(`installed ${pkg}, still no ${binary} on PATH`);
}
