import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { UsageError } from "../common/errors.ts";

const FILE_PATTERN = /\.(ya?ml|json)$/;

export interface InputFile {
  name: string;
  text: string;
}

/** `-f` values: a file, every *.yaml|*.yml|*.json in a directory (sorted, not recursive), or `-` for stdin. */
export async function readInputs(paths: readonly string[]): Promise<InputFile[]> {
  const out: InputFile[] = [];
  for (const path of paths) {
    if (path === "-") {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      out.push({ name: "<stdin>", text: Buffer.concat(chunks).toString("utf8") });
      continue;
    }
    const info = await stat(path).catch(() => undefined);
    if (info === undefined) throw new UsageError(`-f ${path}: no such file or directory`);
    if (info.isDirectory()) {
      const names = (await readdir(path)).filter((n) => FILE_PATTERN.test(n)).sort();
      for (const n of names) out.push({ name: join(path, n), text: await readFile(join(path, n), "utf8") });
    } else {
      out.push({ name: path, text: await readFile(path, "utf8") });
    }
  }
  if (out.length === 0) throw new UsageError("no resource files found");
  return out;
}
