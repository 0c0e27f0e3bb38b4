import type { CompiledSnapshot } from "../snapshot.ts";

export type MtlsMode = "STRICT" | "PERMISSIVE" | "DISABLE";

/**
 * Each Service's mTLS mode as written (spec.mtls.mode), read once per
 * snapshot. A Service without one is STRICT: what a sidecar holding a
 * certificate does by default (docs/security.md).
 */
export function mtlsModes(snap: CompiledSnapshot): Map<string, MtlsMode> {
  const modes = new Map<string, MtlsMode>();
  for (const r of snap.resources) if (r.kind === "Service") modes.set(r.metadata.name, r.spec.mtls?.mode ?? "STRICT");
  return modes;
}
