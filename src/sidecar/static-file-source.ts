import { createHash } from "node:crypto";
import { open, stat } from "node:fs/promises";
import { DEFAULT_MAX_APPLY_BYTES } from "../config/limits.ts";
import { ConfigError, parseResources } from "../config/load.ts";
import type { ConfigSource } from "./config-source.ts";
import type { ConfigSnapshot } from "./snapshot.ts";

/**
 * The largest static config file: what one apply may hold. The file is parsed on the sidecar's event loop,
 * at boot and on every SIGHUP, so its size bounds that pause (a 50 MB file took 16 s and 2 GB).
 */
export const MAX_CONFIG_FILE_BYTES = DEFAULT_MAX_APPLY_BYTES;

const utf8 = new TextDecoder("utf-8", { fatal: true });

export class StaticFileSource implements ConfigSource {
  readonly name: string;
  readonly #file: string;
  readonly #maxBytes: number;

  constructor(file: string, maxBytes = MAX_CONFIG_FILE_BYTES) {
    this.#file = file;
    this.#maxBytes = maxBytes;
    this.name = `file:${file}`;
  }

  async load(): Promise<ConfigSnapshot> {
    const text = await this.#read();
    const resources = parseResources(text, this.#file);
    // A release is made on the control plane; in a file it would do nothing, so it is refused, not ignored.
    // So is an experiment: its deadline is set when the control plane starts it.
    const refused = resources.filter((r) => r.kind === "ConfigRelease" || r.kind === "FaultExperiment");
    if (refused.length > 0)
      throw new ConfigError(
        refused.map((r) => ({
          file: this.#file,
          resource: `${r.kind}/${r.metadata.name}`,
          message:
            r.kind === "ConfigRelease"
              ? "config releases are made on the control plane (meshlet config release)"
              : "fault experiments are started on the control plane (meshlet chaos start)",
        })),
      );
    const version = createHash("sha256").update(text).digest("hex").slice(0, 12);
    return { version, source: this.name, resources };
  }

  /** At most maxBytes + 1 bytes are read, whatever the file's size (it may grow while it is read). */
  async #read(): Promise<string> {
    const fh = await open(this.#file, "r");
    let bytes: Buffer;
    try {
      const buf = Buffer.alloc(this.#maxBytes + 1);
      let n = 0;
      while (n < buf.length) {
        const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
        if (bytesRead === 0) break;
        n += bytesRead;
      }
      bytes = buf.subarray(0, n);
    } finally {
      await fh.close();
    }
    if (bytes.length > this.#maxBytes) {
      const size = await stat(this.#file).then(
        (st) => st.size,
        () => bytes.length,
      );
      throw new ConfigError(
        [
          {
            file: this.#file,
            message: `is ${size} bytes; a static config may hold at most ${this.#maxBytes} bytes (what one apply may)`,
          },
        ],
        "ERR_TOO_LARGE",
      );
    }
    try {
      return utf8.decode(bytes);
    } catch {
      throw new ConfigError([{ file: this.#file, message: "is not valid UTF-8" }]);
    }
  }
}
