import { X509Certificate } from "node:crypto";
import { createSecureContext } from "node:tls";
import { CertificateAuthority, createRootCa } from "../../../src/security/ca.ts";
import { generateKeyPair } from "../../../src/security/keys.ts";
import type { TlsMaterial } from "../../../src/sidecar/mtls/workload-identity.ts";

export const TD = "cluster.local";

/**
 * An operator's PKI: one root and two intermediates under it, the mesh CA and another one (a team's CA, a
 * different product's). Both chain to the root the mesh's trust bundle holds.
 */
export async function operatorPki(): Promise<{
  root: CertificateAuthority;
  mesh: CertificateAuthority;
  other: CertificateAuthority;
}> {
  const now = Date.now();
  const root = CertificateAuthority.load(await createRootCa(TD, { now, ttlMs: 86_400_000 }));
  const intermediate = async (name: string) => {
    const keys = generateKeyPair();
    const certChainPem = await root.signIntermediate(keys.publicKey, name, { now, ttlMs: 86_400_000 });
    return CertificateAuthority.load({
      certChainPem,
      keyPem: keys.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    });
  };
  return { root, mesh: await intermediate("mesh"), other: await intermediate("other") };
}

/**
 * A workload's TLS material: a certificate for `identity` from `issuer`, trusting `bundle`'s roots, and
 * accepting peers issued by `issuers` (undefined: any issuer under the roots, as with an older control plane).
 */
export async function workloadMaterial(
  issuer: CertificateAuthority,
  identity: string,
  bundle: CertificateAuthority,
  issuers?: CertificateAuthority[],
): Promise<TlsMaterial> {
  const keys = generateKeyPair();
  const certChainPem = await issuer.signWorkload(keys.publicKey, identity, { now: Date.now(), ttlMs: 3_600_000 });
  const keyPem = keys.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  return {
    identity,
    trustDomain: TD,
    keyPem,
    certChainPem,
    bundlePem: bundle.rootPem,
    context: createSecureContext({ key: keyPem, cert: certChainPem, ca: bundle.rootPem, minVersion: "TLSv1.3" }),
    issuers: issuers?.map((c) => new X509Certificate(c.certPem)),
  };
}
