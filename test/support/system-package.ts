/**
 * Real peers for the tests (redis-server, chromium, ...) come from Debian's packages, installed by the test
 * that needs one when it is missing, so `npm ci && npm test` passes on a fresh machine with nothing else
 * installed. Test files run in parallel processes: installs are serialised by a lock file, and the package
 * lists are updated once per machine (a stamp file), as apt-get needs before its first install.
 */
import { execFile } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";

const LOCK = join(tmpdir(), "meshlet-test-apt.lock");
const UPDATED = join(tmpdir(), "meshlet-test-apt.updated");
/** Package lists older than this are fetched again before an install. */
const LISTS_MAX_AGE_MS = 6 * 3600_000;
const INSTALL_TIMEOUT_MS = 15 * 60_000;

/** The path of `bin` on PATH (plus the sbin directories), or undefined. */
export function findExecutable(bin: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/usr/bin", "/sbin", "/bin"];
  for (const dir of dirs) {
    if (dir === "") continue;
    const path = join(dir, bin);
    try {
      if (statSync(path).isFile()) return path;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/**
 * Returns the path of `bin`, installing the Debian package `pkg` first when it is missing (as root).
 * Fails with a message naming the package when it cannot be had: a test that needs a peer never skips.
 */
export async function ensureSystemPackage(bin: string, pkg: string): Promise<string> {
  const found = findExecutable(bin);
  if (found !== undefined) return found;
  if (process.getuid?.() !== 0)
    throw new Error(`${bin} is missing: install the Debian package ${pkg} (apt-get install -y ${pkg}), or run as root`);
  const release = await lock();
  try {
    // Another test process may have installed it while this one waited for the lock.
    const installed = findExecutable(bin);
    if (installed !== undefined) return installed;
    if (!listsFresh()) {
      await run("apt-get", ["update", "-qq"]);
      writeFileSync(UPDATED, new Date().toISOString());
    }
    await run("apt-get", ["install", "-y", "-qq", "--no-install-recommends", pkg]);
  } finally {
    release();
  }
  const path = findExecutable(bin);
  if (path === undefined) throw new Error(`apt-get installed ${pkg} but ${bin} is still not on PATH`);
  return path;
}

function listsFresh(): boolean {
  try {
    return Date.now() - statSync(UPDATED).mtimeMs < LISTS_MAX_AGE_MS;
  } catch {
    return false;
  }
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" }, timeout: INSTALL_TIMEOUT_MS, maxBuffer: 64 << 20 },
      (err, _stdout, stderr) => {
        if (err === null) resolve();
        else reject(new Error(`${cmd} ${args.join(" ")} failed: ${err.message}\n${stderr.slice(-2000)}`));
      },
    );
  });
}

/** Takes the install lock (a file holding the owner's pid); a dead owner's lock is taken over. */
async function lock(): Promise<() => void> {
  const deadline = Date.now() + INSTALL_TIMEOUT_MS;
  for (;;) {
    try {
      const fd = openSync(LOCK, "wx");
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      return () => {
        if (existsSync(LOCK) && readFileSync(LOCK, "utf8") === String(process.pid)) unlinkSync(LOCK);
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    if (!ownerAlive()) {
      try {
        unlinkSync(LOCK);
      } catch {
        // taken over by another waiter first
      }
      continue;
    }
    if (Date.now() > deadline) throw new Error(`waited too long for ${LOCK} (another test installing packages)`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function ownerAlive(): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(LOCK, "utf8"));
  } catch {
    return true; // being written or just removed: look again
  }
  if (!Number.isInteger(pid) || pid <= 0) return Date.now() - safeMtime(LOCK) < 5_000;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function safeMtime(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}
