import { Option } from "commander";
import { UsageError } from "../common/errors.ts";
import { envName } from "./options.ts";

/**
 * `-o` on every command that prints resources or status, as kubectl has it:
 * `json` and `yaml` print the API's objects whole (stable field names, for
 * scripts), `name` one `kind/name` (or id) per line (for xargs), `wide` the
 * table with more columns, and no `-o` the short human view.
 */
export const OUTPUT_FORMATS = ["json", "yaml", "wide", "name"] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number] | "table";

export function outputOption(): Option {
  const flags = "-o, --output <format>";
  return new Option(flags, `output format: ${OUTPUT_FORMATS.join(" | ")} (default: a table)`)
    .env(envName(flags))
    .argParser((value: string): OutputFormat => {
      // "table" is the default spelled out; earlier releases documented it for `get`.
      if (value === "table" || (OUTPUT_FORMATS as readonly string[]).includes(value)) return value as OutputFormat;
      throw new UsageError(`-o: expected one of ${OUTPUT_FORMATS.join(", ")}, got "${value}"`);
    });
}

/** JSON or YAML of `value`, or undefined for the other formats (the command renders those itself). */
export async function structured(format: OutputFormat | undefined, value: unknown): Promise<string | undefined> {
  if (format === "json") return `${JSON.stringify(value, null, 2)}\n`;
  if (format === "yaml") {
    // Loaded only when asked for: `meshlet status` must not pay for the YAML library otherwise.
    const { stringify } = await import("yaml");
    return stringify(value);
  }
  return undefined;
}

/** kubectl-style table: left-aligned columns separated by three spaces. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("   ")
      .trimEnd();
  return `${[header, ...rows].map(line).join("\n")}\n`;
}
