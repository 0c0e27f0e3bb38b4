import { statSync } from "node:fs";
import { readCaBundle } from "./control-access.ts";
import { errorMessage } from "./errors.ts";
import type { Logger } from "./logger.ts";

/**
 * The control plane's CA bundle from --ca-file, for a process that outlives a rotation (the sidecar). The node
 * writes its new bundle to <data-dir>/ca.pem when the mesh CA rotates, and the operator mounts or copies it to
 * where --ca-file points: a bundle read once at start would leave the process unable to verify the control plane
 * once its certificate comes from the new root, so it could never reconnect. `current()` is asked at each
 * (re)connect and reads the file again only when its inode, size or mtime changed (one stat otherwise). A file
 * that cannot be read, or holds no certificate (half written, emptied), keeps the last good bundle, logged once
 * until the file is good again. A file that changed is checked as at start (readCaBundle).
 */
export class CaFile {
  readonly #path: string;
  readonly #log: Logger;
  #pem: Buffer;
  /** What the file looked like when last read (good or bad); undefined after a failed stat, so it is read again. */
  #stamp: string | undefined;
  #failing = false;

  /** `pem`: the file's bytes as read and checked at start. */
  constructor(path: string, pem: Buffer, logger: Logger) {
    this.#path = path;
    this.#pem = pem;
    this.#log = logger;
    try {
      this.#stamp = this.#stat();
    } catch {
      this.#stamp = undefined;
    }
  }

  current(): Buffer {
    let stamp: string | undefined;
    try {
      stamp = this.#stat();
    } catch (err) {
      this.#stamp = undefined;
      this.#failed(err);
      return this.#pem;
    }
    if (stamp === this.#stamp) return this.#pem;
    this.#stamp = stamp;
    let pem: Buffer;
    try {
      // The check of the start (certificates only, each whole): a file caught half written is not a bundle.
      pem = readCaBundle(this.#path);
    } catch (err) {
      this.#failed(err);
      return this.#pem;
    }
    this.#failing = false;
    if (!pem.equals(this.#pem)) {
      this.#pem = pem;
      this.#log.info({ file: this.#path }, "--ca-file changed: trusting the control plane's new CA bundle");
    }
    return this.#pem;
  }

  #stat(): string {
    const s = statSync(this.#path);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  }

  #failed(err: unknown): void {
    if (this.#failing) return;
    this.#failing = true;
    this.#log.error(
      { file: this.#path, err: errorMessage(err) },
      "cannot use --ca-file; keeping the CA bundle read before",
    );
  }
}
