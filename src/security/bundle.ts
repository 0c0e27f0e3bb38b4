import { X509Certificate } from "node:crypto";
import { splitPem } from "./pem.ts";

/**
 * The trust bundle: the roots a workload accepts peers under. During a root
 * rotation it holds the new root and the previous one, so certificates
 * issued before the switch keep verifying until they are re-issued (a
 * sidecar renews at half its lifetime, so one --cert-ttl after the switch
 * no certificate under the old root is left).
 */
export function bundlePem(roots: readonly string[]): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const pem of roots.flatMap((r) => splitPem(r, "CERTIFICATE"))) {
    const fp = new X509Certificate(pem).fingerprint256;
    if (seen.has(fp)) continue;
    seen.add(fp);
    out.push(pem);
  }
  return out.join("");
}
