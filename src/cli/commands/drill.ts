import type { Command } from "commander";
import { UsageError } from "../../common/errors.ts";
import { EXIT } from "../exit-codes.ts";
import { envOption } from "../options.ts";

interface DrillFlags {
  dir: string;
  report?: string;
  timeScale: string;
}

/**
 * `meshlet drill FILE`: runs a scripted resilience drill against the local
 * mesh `meshlet demo` started (docs/drills.md); exit 0 when every check held,
 * 1 when one did not.
 */
export function registerDrill(program: Command): void {
  program
    .command("drill <file>")
    .description(
      "run a drill (faults, node kills, load, checks) against the local demo mesh; exit 0 if every check held",
    )
    .addOption(envOption("--dir <dir>", "the running demo's directory (its demo.json)", ".meshlet/demo"))
    .addOption(envOption("--report <file>", "also write the report as JSON to this file"))
    .addOption(
      envOption("--time-scale <x>", "multiply waits and load durations (not thresholds) by this: 0.2 rehearses", "1"),
    )
    .action(async (file: string, flags: DrillFlags) => {
      const timeScale = Number(flags.timeScale);
      if (!Number.isFinite(timeScale) || timeScale <= 0 || timeScale > 100)
        throw new UsageError(`--time-scale: expected a number above 0 up to 100, got "${flags.timeScale}"`);
      // Loaded when it runs: other commands never pay for zod schemas or the load generator.
      const [
        { readFileSync, writeFileSync },
        path,
        { parse },
        { drillSchema },
        { LocalMesh },
        { DrillRunner, formatReport },
        { adminTokenFile },
        { controlAccess, setControlAccess },
      ] = await Promise.all([
        import("node:fs"),
        import("node:path"),
        import("yaml"),
        import("../../drill/spec.ts"),
        import("../../drill/mesh.ts"),
        import("../../drill/run.ts"),
        import("../../demo/state.ts"),
        import("../../common/control-access.ts"),
      ]);
      let text: string;
      try {
        text = readFileSync(file, "utf8");
      } catch (err) {
        throw new UsageError(`${file}: ${(err as Error).message}`);
      }
      let doc: unknown;
      try {
        doc = parse(text);
      } catch (err) {
        throw new UsageError(`${file}: not YAML: ${(err as Error).message}`);
      }
      const parsed = drillSchema.safeParse(doc);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new UsageError(`${file}: ${issue?.path.join(".") ?? ""}: ${issue?.message ?? "invalid drill"}`);
      }
      const mesh = new LocalMesh(flags.dir);
      // Without --token, the admin token the demo's control plane wrote (the drill acts for the mesh's operator).
      if (controlAccess().token === undefined) {
        try {
          const token = readFileSync(adminTokenFile(flags.dir, mesh.controls.length), "utf8").trim();
          setControlAccess({ ...controlAccess(), token });
        } catch {
          // No token file: calls go without one and a secured control plane refuses them with 401, reported per step.
        }
      }
      // Without --ca-file, the mesh CA of the demo (its control plane serves TLS under it).
      if (controlAccess().caFile === undefined && mesh.caFile !== undefined)
        setControlAccess({ ...controlAccess(), caFile: mesh.caFile });
      const runner = new DrillRunner(mesh, path.dirname(file), timeScale);
      const report = await runner.run(parsed.data);
      process.stdout.write(formatReport(report));
      if (flags.report !== undefined) writeFileSync(flags.report, `${JSON.stringify(report, null, 2)}\n`);
      process.exitCode = report.passed ? EXIT.OK : EXIT.FAILED;
    });
}
