import type { Command } from "commander";
import { UsageError } from "../../common/errors.ts";
import { durationFlag, envOption, serverOption } from "../options.ts";
import { type OutputFormat, outputOption, renderTable, structured } from "../output.ts";

interface Common {
  server: string;
  output?: OutputFormat;
}

/** What the control plane answers (controlplane/security/mesh-ca.ts); declared here so the CLI loads none of it. */
interface CertificateView {
  fingerprint: string;
  subject: string;
  notAfter: string;
}

interface CaView {
  origin: string;
  root: CertificateView;
  issuer?: CertificateView;
  previousRoots: CertificateView[];
  previousUntil: string | null;
  revision: number;
}

interface RotationView {
  root: CertificateView;
  previousRoot: CertificateView;
  previousUntil: string;
  revision: number;
}

/** The longest --overlap, as the control plane takes it. */
const MAX_OVERLAP_MS = 365 * 24 * 3_600_000;

const json = { "content-type": "application/json" };

/** `meshlet ca show|rotate`: the mesh CA's roots, and a rotation of a generated root (docs/security.md). */
export function registerCa(program: Command): void {
  const ca = program.command("ca").description("show the mesh CA; rotate a generated root (admin)");
  ca.command("show")
    .description("the current root, and the replaced roots still trusted and until when")
    .addOption(serverOption())
    .addOption(outputOption())
    .action(async (o: Common) => {
      const { callApi } = await import("../../controlplane/http/client.ts");
      const r = await callApi(o.server, "GET", "/v1/ca");
      const view = JSON.parse(r.body.toString("utf8")) as CaView;
      const out = await structured(o.output, view);
      if (out !== undefined) return void process.stdout.write(out);
      const until = view.previousUntil ?? "the next rotation";
      const rows = [
        ["root", view.root.fingerprint, view.root.notAfter, "now"],
        ...(view.issuer === undefined ? [] : [["issuer", view.issuer.fingerprint, view.issuer.notAfter, "now"]]),
        ...view.previousRoots.map((p) => ["previous root", p.fingerprint, p.notAfter, until]),
      ];
      if (o.output === "name") return void process.stdout.write(rows.map((row) => `${row[1]}\n`).join(""));
      process.stdout.write(`origin: ${view.origin}\n`);
      process.stdout.write(renderTable(["ROLE", "SHA-256 FINGERPRINT", "NOT AFTER", "TRUSTED UNTIL"], rows));
    });
  ca.command("rotate")
    .description(
      "generate a new root and make it the mesh CA; the old root stays trusted for --overlap (mesh-generated roots only)",
    )
    .addOption(
      envOption(
        "--overlap <duration>",
        "how long the old root stays in the trust bundle, e.g. 48h (default: twice the control plane's --cert-ttl)",
      ),
    )
    .addOption(serverOption())
    .addOption(outputOption())
    .action(async (o: Common & { overlap?: string }) => {
      if (o.overlap !== undefined && durationFlag("--overlap", o.overlap, true) > MAX_OVERLAP_MS)
        throw new UsageError(`--overlap: at most 8760h (a year), got "${o.overlap}"`);
      const { callApi } = await import("../../controlplane/http/client.ts");
      const body = JSON.stringify(o.overlap === undefined ? {} : { overlap: o.overlap });
      const r = await callApi(o.server, "POST", "/v1/ca/rotate", { headers: json, body, timeoutMs: 30_000 });
      const view = JSON.parse(r.body.toString("utf8")) as RotationView;
      const out = await structured(o.output, view);
      if (out !== undefined) return void process.stdout.write(out);
      process.stdout.write(
        `new root ${view.root.fingerprint}\nprevious root ${view.previousRoot.fingerprint} trusted until ${view.previousUntil}\n`,
      );
    });
}
