import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { MESHLET_BIN, REPO_ROOT } from "./cli.ts";

/**
 * A small tmpfs mounted in a private mount namespace (unshare -m): a disk that
 * fills up, visible only to the processes started in it (nsenter) and, through
 * /proc/<pid>/root, to this test. It lives as long as its holder process, a
 * sleep, so a node started in it may be killed and started again on the same
 * data. Needs root.
 */
export interface TmpfsNamespace {
  /** The mount point, as the processes in the namespace see it. */
  dir: string;
  /** `p` (a path under dir) as this process reaches it. */
  outside(p: string): string;
  /** Starts `meshlet ARGS` in the namespace. */
  startCli(args: string[]): ChildProcess;
  /** Writes zeros under dir until the tmpfs is full; returns the file. */
  fill(): string;
  close(): Promise<void>;
}

export const isRoot = (): boolean => process.getuid?.() === 0;

export async function tmpfsNamespace(bytes: number): Promise<TmpfsNamespace> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "meshlet-tmpfs-"));
  const holder = spawn(
    "unshare",
    [
      "-m",
      "--propagation",
      "private",
      "sh",
      "-c",
      `mount -t tmpfs -o size=${bytes} meshlet-test '${dir}' && echo mounted && exec sleep 3600`,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  holder.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  await new Promise<void>((resolve, reject) => {
    holder.stdout?.on("data", (d: Buffer) => {
      if (d.toString().includes("mounted")) resolve();
    });
    holder.once("exit", (code) => reject(new Error(`unshare/mount exited ${code}: ${stderr}`)));
  });
  const pid = holder.pid;
  if (pid === undefined) throw new Error("no pid for the namespace holder");
  const outside = (p: string) => `/proc/${pid}/root${p}`;
  return {
    dir,
    outside,
    startCli: (args) =>
      spawn("nsenter", ["-t", String(pid), "-m", "--", process.execPath, MESHLET_BIN, ...args], {
        cwd: REPO_ROOT,
        env: process.env,
        stdio: ["ignore", "pipe", "pipe"],
      }),
    fill() {
      const file = path.join(dir, `filler-${Date.now()}`);
      const fd = fs.openSync(outside(file), "w");
      const chunk = Buffer.alloc(64 * 1024);
      try {
        for (;;) fs.writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
      } finally {
        fs.closeSync(fd);
      }
      return file;
    },
    async close() {
      if (holder.exitCode === null && holder.signalCode === null) {
        const exited = new Promise((r) => holder.once("exit", r));
        holder.kill("SIGKILL");
        await exited;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
