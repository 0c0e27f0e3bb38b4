import fs from "node:fs";
import { syncBuiltinESMExports } from "node:module";

/**
 * Makes the data dir under `dir` behave as a full disk for this process: from
 * fail() until heal(), every write (sync or async) and fsync on a file opened
 * under `dir` fails with ENOSPC, as on a real full filesystem. Modules that
 * import node:fs as a namespace see the change (syncBuiltinESMExports).
 */
export function diskFullFaults(dir: string) {
  const real = {
    openSync: fs.openSync,
    open: fs.open,
    writeSync: fs.writeSync,
    fdatasync: fs.fdatasync,
    fdatasyncSync: fs.fdatasyncSync,
  };
  const fds = new Set<number>();
  let full = false;
  const enospc = () => Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
  const patch: Partial<Record<keyof typeof real, unknown>> = {
    openSync: (file: fs.PathLike, flags?: fs.OpenMode, mode?: fs.Mode) => {
      const fd = real.openSync(file, flags ?? "r", mode);
      if (String(file).startsWith(dir)) fds.add(fd);
      return fd;
    },
    writeSync: (fd: number, ...rest: unknown[]) => {
      if (full && fds.has(fd)) throw enospc();
      return (real.writeSync as (...a: unknown[]) => number)(fd, ...rest);
    },
    fdatasync: (fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
      if (full && fds.has(fd)) setImmediate(() => cb(enospc()));
      else real.fdatasync(fd, cb);
    },
    fdatasyncSync: (fd: number) => {
      if (full && fds.has(fd)) throw enospc();
      real.fdatasyncSync(fd);
    },
  };
  Object.assign(fs, patch);
  syncBuiltinESMExports();
  return {
    fail: () => {
      full = true;
    },
    heal: () => {
      full = false;
    },
    restore: () => {
      Object.assign(fs, real);
      syncBuiltinESMExports();
    },
  };
}
