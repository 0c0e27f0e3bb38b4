import * as fs from "node:fs";
import * as path from "node:path";
import { MeshletError } from "../common/errors.ts";

/** Another live process holds the data dir. */
export class DataDirLockedError extends MeshletError {
  constructor(message: string) {
    super("ERR_DATA_DIR_LOCKED", message);
    this.name = "DataDirLockedError";
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, under another user.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * One process per data dir: two nodes appending to the same WAL would
 * interleave their records and lose acknowledged writes. The lock is a file
 * made with O_EXCL holding the owner's pid; one left by a process that died
 * (a crash, kill -9) is taken over. The same process may open its dir again
 * (a restart simulated in one process).
 */
export class DataDirLock {
  readonly #file: string;

  private constructor(file: string) {
    this.#file = file;
  }

  static acquire(dir: string): DataDirLock {
    const file = path.join(dir, "LOCK");
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        fs.writeFileSync(file, `${process.pid}\n`, { flag: "wx" });
        return new DataDirLock(file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
      const pid = Number.parseInt(fs.readFileSync(file, "utf8"), 10);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
        throw new DataDirLockedError(
          `${dir} is in use by process ${pid}; refusing to start (remove ${file} if no meshlet node runs on it)`,
        );
      }
      fs.rmSync(file, { force: true });
    }
    throw new DataDirLockedError(`${dir}: another process took the lock while this one started`);
  }

  release(): void {
    fs.rmSync(this.#file, { force: true });
  }
}
