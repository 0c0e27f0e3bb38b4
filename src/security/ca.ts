import { type KeyObject, X509Certificate as NodeCertificate, randomBytes } from "node:crypto";
import { PkiError } from "./errors.ts";
import {
  type CryptoKey,
  generateKeyPair,
  loadPrivateKey,
  privateKeyPem,
  signingParams,
  toSigningKey,
  toVerifyingKey,
} from "./keys.ts";
import { nodeSubject, serverSans } from "./node-cert.ts";
import type { NodeName } from "./node-name.ts";
import { splitPem } from "./pem.ts";
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  type Extension,
  KeyUsageFlags,
  KeyUsagesExtension,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
  X509Certificate,
  X509CertificateGenerator,
} from "./x509.ts";

/** A CA as stored in the Raft state: its certificate chain (CA first, up to a root) and its private key. */
export interface CaMaterial {
  certChainPem: string;
  keyPem: string;
}

export const DEFAULT_ROOT_TTL_MS = 10 * 365 * 24 * 3_600_000;
/** Certificates start this much before "now": nodes' clocks differ a little. */
const BACKDATE_MS = 5 * 60_000;

export interface IssueOptions {
  /** Wall-clock time in ms (Date.now() in production, fixed in tests). */
  now: number;
  ttlMs: number;
  /** Serial number bytes; random in production. */
  serial?: () => Buffer;
}

function serialHex(serial: (() => Buffer) | undefined): string {
  const bytes = serial?.() ?? randomBytes(16);
  // Positive and non-zero, as RFC 5280 §4.1.2.2 asks.
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01;
  return bytes.toString("hex");
}

/** A new self-signed root for the mesh (what a first control-plane leader creates). */
export async function createRootCa(trustDomain: string, o: IssueOptions): Promise<CaMaterial> {
  const keys = generateKeyPair();
  const cert = await X509CertificateGenerator.createSelfSigned({
    serialNumber: serialHex(o.serial),
    name: `O=meshlet, CN=meshlet root CA ${trustDomain}`,
    notBefore: new Date(o.now - BACKDATE_MS),
    notAfter: new Date(o.now + o.ttlMs),
    signingAlgorithm: signingParams(keys.privateKey),
    keys: { privateKey: toSigningKey(keys.privateKey), publicKey: toVerifyingKey(keys.publicKey) },
    extensions: [
      new BasicConstraintsExtension(true, undefined, true),
      new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true),
      await SubjectKeyIdentifierExtension.create(toVerifyingKey(keys.publicKey)),
    ],
  });
  return { certChainPem: cert.toString("pem"), keyPem: privateKeyPem(keys.privateKey) };
}

/**
 * Signs workload and node certificates. Built from CaMaterial after checking
 * it: the first certificate is a CA matching the key, each one is issued by
 * the next, and the chain ends at a self-signed root (what TLS peers need to
 * anchor a leaf signed by an intermediate).
 */
export class CertificateAuthority {
  readonly #cert: X509Certificate;
  readonly #chain: NodeCertificate[];
  readonly #key: KeyObject;
  readonly #signingKey: CryptoKey;

  private constructor(cert: X509Certificate, chain: NodeCertificate[], key: KeyObject) {
    this.#cert = cert;
    this.#chain = chain;
    this.#key = key;
    this.#signingKey = toSigningKey(key);
  }

  static load(material: CaMaterial): CertificateAuthority {
    const pems = splitPem(material.certChainPem, "CERTIFICATE");
    if (pems.length === 0) throw new PkiError("ERR_CA_INVALID", "the CA certificate file holds no PEM CERTIFICATE");
    let chain: NodeCertificate[];
    try {
      chain = pems.map((p) => new NodeCertificate(p));
    } catch (err) {
      throw new PkiError("ERR_CA_INVALID", `cannot parse the CA certificate: ${(err as Error).message}`);
    }
    const key = loadPrivateKey(material.keyPem);
    const [first] = chain as [NodeCertificate, ...NodeCertificate[]];
    if (!first.ca)
      throw new PkiError("ERR_CA_INVALID", "the CA certificate is not a CA (basicConstraints cA is not set)");
    if (!first.checkPrivateKey(key))
      throw new PkiError("ERR_CA_INVALID", "the CA key does not match the CA certificate");
    for (let i = 0; i + 1 < chain.length; i++) {
      const child = chain[i] as NodeCertificate;
      const parent = chain[i + 1] as NodeCertificate;
      if (!child.checkIssued(parent) || !child.verify(parent.publicKey))
        throw new PkiError(
          "ERR_CA_INVALID",
          `certificate ${i + 1} of the CA chain is not issued by certificate ${i + 2}`,
        );
    }
    const last = chain[chain.length - 1] as NodeCertificate;
    if (!last.checkIssued(last) || !last.verify(last.publicKey))
      throw new PkiError(
        "ERR_CA_INVALID",
        "the CA chain does not end at a self-signed root: append the issuing certificates up to the root",
      );
    return new CertificateAuthority(new X509Certificate(first.raw), chain, key);
  }

  /** This CA's own certificate (the first of its chain): the issuer of every certificate it signs. */
  get certPem(): string {
    return (this.#chain[0] as NodeCertificate).toString();
  }

  /** The root certificate(s) peers anchor on: the last of the chain. */
  get rootPem(): string {
    return (this.#chain[this.#chain.length - 1] as NodeCertificate).toString();
  }

  /** Certificates a leaf presents after itself: the CA and any intermediates, not the root. */
  get intermediatesPem(): string {
    return this.#chain
      .slice(0, -1)
      .map((c) => c.toString())
      .join("");
  }

  get notAfter(): number {
    return this.#cert.notAfter.getTime();
  }

  /** A workload (sidecar) certificate: the SPIFFE ID as its only SAN, client and server auth. */
  async signWorkload(publicKey: KeyObject, identity: string, o: IssueOptions): Promise<string> {
    return this.#sign(
      publicKey,
      [{ type: "url", value: identity }],
      o,
      [ExtendedKeyUsage.serverAuth, ExtendedKeyUsage.clientAuth],
      `CN=${identity}`,
    );
  }

  /** A subordinate CA (an operator's intermediate, a rotation drill); the chain it returns ends at this CA's root. */
  async signIntermediate(publicKey: KeyObject, name: string, o: IssueOptions): Promise<string> {
    const cert = await X509CertificateGenerator.create({
      serialNumber: serialHex(o.serial),
      subject: `O=meshlet, CN=${name}`,
      issuer: this.#cert.subject,
      notBefore: new Date(o.now - BACKDATE_MS),
      notAfter: new Date(Math.min(o.now + o.ttlMs, this.notAfter)),
      publicKey: toVerifyingKey(publicKey),
      signingKey: this.#signingKey,
      signingAlgorithm: signingParams(this.#key),
      extensions: [
        new BasicConstraintsExtension(true, 0, true),
        new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true),
        await AuthorityKeyIdentifierExtension.create(this.#cert, false),
      ],
    });
    return `${cert.toString("pem")}\n${this.#chain.map((c) => c.toString()).join("")}`;
  }

  /**
   * A control-plane node's certificate, for its HTTP and gRPC listeners (DNS names and IPs as SANs) and as the
   * client certificate it presents to its peers: the subject names the node (node-cert.ts).
   */
  async signNode(publicKey: KeyObject, node: NodeName, names: readonly string[], o: IssueOptions): Promise<string> {
    return this.#sign(
      publicKey,
      serverSans(names),
      o,
      [ExtendedKeyUsage.serverAuth, ExtendedKeyUsage.clientAuth],
      nodeSubject(node),
    );
  }

  async #sign(
    publicKey: KeyObject,
    sans: { type: "url" | "dns" | "ip"; value: string }[],
    o: IssueOptions,
    usages: ExtendedKeyUsage[],
    subject: string,
  ): Promise<string> {
    // A leaf never outlives its CA: peers would refuse it at the CA's expiry anyway.
    const notAfter = Math.min(o.now + o.ttlMs, this.notAfter);
    const extensions: Extension[] = [
      new BasicConstraintsExtension(false, undefined, true),
      new KeyUsagesExtension(KeyUsageFlags.digitalSignature | KeyUsageFlags.keyEncipherment, true),
      new ExtendedKeyUsageExtension(usages, false),
      // Critical when the subject is empty (RFC 5280 §4.2.1.6); we set a subject, so not critical.
      new SubjectAlternativeNameExtension(sans, false),
      await AuthorityKeyIdentifierExtension.create(this.#cert, false),
    ];
    const cert = await X509CertificateGenerator.create({
      serialNumber: serialHex(o.serial),
      subject,
      issuer: this.#cert.subject,
      notBefore: new Date(o.now - BACKDATE_MS),
      notAfter: new Date(notAfter),
      publicKey: toVerifyingKey(publicKey),
      signingKey: this.#signingKey,
      signingAlgorithm: signingParams(this.#key),
      extensions,
    });
    return `${cert.toString("pem")}\n${this.intermediatesPem}`;
  }
}
