/** `meshlet analyze`, loaded when it runs. */
import { MeshletError, UsageError } from "../../common/errors.ts";
import { analyzeMesh } from "../../config/analyze.ts";
import { formatFinding, type Severity } from "../../config/finding.ts";
import type { AnalyzeResponse } from "../../controlplane/resources/api-types.ts";
import { request } from "../control-client.ts";
import { type InputFile, readInputs } from "../input-files.ts";
import { type OutputFormat, renderTable, structured } from "../output.ts";
import { validateInputs, whereIs } from "./resource-actions.ts";

export interface AnalyzeFlags {
  filename?: string[];
  local?: boolean;
  failOn: string;
  output?: OutputFormat;
  server: string;
}

const SEVERITIES: readonly Severity[] = ["error", "warning", "info"];
const LABEL: Record<Severity, string> = { error: "Error", warning: "Warning", info: "Info" };

export async function analyze(flags: AnalyzeFlags): Promise<void> {
  const failOn = flags.failOn as Severity;
  if (!SEVERITIES.includes(failOn))
    throw new UsageError(`--fail-on: expected error, warning or info, got "${flags.failOn}"`);
  if (flags.local === true && flags.filename === undefined) throw new UsageError("--local needs -f FILE");
  const files: InputFile[] = flags.filename === undefined ? [] : await readInputs(flags.filename);
  const resources = validateInputs(files);
  let report: AnalyzeResponse;
  if (flags.local === true) report = { revision: 0, findings: analyzeMesh(resources) };
  else if (files.length === 0) report = await request<AnalyzeResponse>(flags.server, "GET", "v1/analyze");
  else
    report = await request<AnalyzeResponse>(
      flags.server,
      "POST",
      "v1/analyze",
      files.map((f) => f.text).join("\n---\n"),
    );
  await printReport(report, files, flags);
  const threshold = SEVERITIES.indexOf(failOn);
  const failing = report.findings.filter((f) => SEVERITIES.indexOf(f.severity) <= threshold);
  if (failing.length > 0) {
    // The report is on stdout; stderr gets the one line that says why the exit code is 1.
    throw new MeshletError(
      "ERR_ANALYZE_FINDINGS",
      `${failing.length} finding(s) at or above ${failOn}${flags.local === true ? "" : ` (revision ${report.revision})`}`,
    );
  }
}

async function printReport(report: AnalyzeResponse, files: readonly InputFile[], flags: AnalyzeFlags): Promise<void> {
  const write = (text: string) => process.stdout.write(text);
  const out = await structured(flags.output, report);
  if (out !== undefined) {
    write(out);
    return;
  }
  if (flags.output === "name") {
    write(
      [...new Set(report.findings.map((f) => f.resource))]
        .map((r) => `${r.replace(/^[A-Z]/, (c) => c.toLowerCase())}\n`)
        .join(""),
    );
    return;
  }
  if (report.findings.length === 0) {
    write(flags.local === true ? "No findings in the given files.\n" : `No findings (revision ${report.revision}).\n`);
    return;
  }
  if (flags.output === "wide") {
    write(
      renderTable(
        ["SEVERITY", "CODE", "RESOURCE", "PATH", "WHERE", "MESSAGE"],
        report.findings.map((f) => [
          f.severity,
          f.code,
          f.resource,
          f.path || "-",
          whereIs(files, f).trim() || "-",
          f.message,
        ]),
      ),
    );
    return;
  }
  write(
    report.findings.map((f) => `${LABEL[f.severity]} [${f.code}] ${whereIs(files, f)}${formatFinding(f)}\n`).join(""),
  );
}
