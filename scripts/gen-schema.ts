import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { renderJsonSchemas } from "../src/config/json-schema.ts";

/** Writes schemas/*.json from the zod schemas; with --check, fails when the committed files are stale. */
const dir = fileURLToPath(new URL("../schemas", import.meta.url));
const check = process.argv.includes("--check");
const stale: string[] = [];
await mkdir(dir, { recursive: true });
for (const [file, text] of renderJsonSchemas()) {
  const path = join(dir, file);
  if (check) {
    const current = await readFile(path, "utf8").catch(() => "");
    if (current !== text) stale.push(file);
  } else {
    await writeFile(path, text);
  }
}
if (stale.length > 0) {
  process.stderr.write(`schemas/ is stale (${stale.join(", ")}): run 'npm run gen:schema' and commit the result\n`);
  process.exitCode = 1;
} else if (check) {
  process.stdout.write("schemas/ is up to date\n");
}
