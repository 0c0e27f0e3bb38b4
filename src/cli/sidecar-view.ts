import { type Finding, formatFinding } from "../config/finding.ts";
import type { SidecarView } from "../controlplane/resources/api-types.ts";

/** What a sidecar's status report (`SidecarView.status`) may say about its config. */
interface ReportedStatus {
  rejected?: Finding[];
  warnings?: Finding[];
}

/**
 * What a sidecar refuses now, one line per resource: none unless its latest
 * answer was a NACK (the control plane forgets a NACK once the sidecar ACKs
 * a later version); the resources it reported, else the NACK's message.
 */
export function refusedBy(s: SidecarView): string[] {
  if (s.lastNack === null) return [];
  const reported = (s.status as ReportedStatus | null)?.rejected;
  if (Array.isArray(reported) && reported.length > 0) return reported.map(formatFinding);
  return [s.lastNack.error];
}

/** The shared check's warnings the sidecar reported (e.g. a global rate limit it runs without Redis). */
export function warningsOf(s: SidecarView): Finding[] {
  const reported = (s.status as ReportedStatus | null)?.warnings;
  return Array.isArray(reported) ? reported.filter((w) => w.severity === "warning") : [];
}
