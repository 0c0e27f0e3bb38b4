import { createPublicKey, X509Certificate as NodeCertificate } from "node:crypto";
import { chmodSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { SecureContextOptions } from "node:tls";
import { errorMessage } from "../../common/errors.ts";
import type { Logger } from "../../common/logger.ts";
import type { CertificateAuthority } from "../../security/ca.ts";
import { generateKeyPair, loadPrivateKey, privateKeyPem } from "../../security/keys.ts";
import { isSelfSigned, selfSignedNodeCertificate } from "../../security/node-cert.ts";
import { type NodeName, nodeNameOf } from "../../security/node-name.ts";
import { splitPem } from "../../security/pem.ts";

/** Node certificates live a year and are re-signed once past half of it (at a CA change or a restart). */
export const NODE_CERT_TTL_MS = 365 * 24 * 3_600_000;

export interface NodeTlsMaterial {
  keyPem: string;
  certChainPem: string;
  /** The mesh CA's trust bundle; undefined before this node knows it (a founding node's first seconds). */
  bundlePem: string | undefined;
  /** Signed by the mesh CA, not self-signed. */
  fromMeshCa: boolean;
}

/**
 * What became of `<data-dir>/node-cert.pem` at start: used, or why not. A node of an existing cluster whose
 * certificate is not usable gets a new one from the mesh CA (run.ts), never a new founding window.
 */
export type StoredCertificate = "usable" | "missing" | "unreadable" | "expired" | "other_node" | "key_mismatch";

/** Every reason a stored certificate was not used, for metrics that must show each one from the start. */
export const UNUSABLE_CERTIFICATE: readonly Exclude<StoredCertificate, "usable">[] = [
  "missing",
  "unreadable",
  "expired",
  "other_node",
  "key_mismatch",
];

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

function writeAtomic(path: string, text: string, mode: number): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, text, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

/**
 * This node's key and certificate: what its HTTPS and gRPC listeners serve and what it presents to its peers.
 * Kept in `<data-dir>/node-key.pem` (0600) and `node-cert.pem`, so a restarted node can talk to its peers
 * before it has replayed the Raft log that holds the CA. A founding node's first certificate is self-signed;
 * once the mesh CA is applied the node signs its own with it (every node holds the CA).
 */
export class NodeIdentity {
  readonly name: NodeName;
  readonly stored: StoredCertificate;
  /** Why an unreadable certificate or key did not parse (the parser's message: never the file's content). */
  readonly storedDetail: string | undefined;
  readonly #dataDir: string;
  readonly #names: readonly string[];
  readonly #logger: Logger;
  readonly #listeners = new Set<(m: NodeTlsMaterial) => void>();
  #material: NodeTlsMaterial;

  private constructor(
    dataDir: string,
    name: NodeName,
    names: readonly string[],
    material: NodeTlsMaterial,
    stored: StoredCertificate,
    storedDetail: string | undefined,
    logger: Logger,
  ) {
    this.#dataDir = dataDir;
    this.name = name;
    this.stored = stored;
    this.storedDetail = storedDetail;
    this.#names = names;
    this.#material = material;
    this.#logger = logger;
  }

  /**
   * The stored identity when it is this node's and still valid; a new self-signed one otherwise (`stored` says
   * why). Whether that is a founder's first certificate or a lost one is the caller's to decide, from Raft state.
   */
  static async open(
    dataDir: string,
    name: NodeName,
    names: readonly string[],
    now: number,
    logger: Logger,
  ): Promise<NodeIdentity> {
    const keyPem = readOptional(join(dataDir, "node-key.pem"));
    const certChainPem = readOptional(join(dataDir, "node-cert.pem"));
    const bundlePem = readOptional(join(dataDir, "ca.pem"));
    let stored: StoredCertificate = "missing";
    let detail: string | undefined;
    if (keyPem !== undefined && certChainPem !== undefined) {
      try {
        const leaf = new NodeCertificate(splitPem(certChainPem, "CERTIFICATE")[0] ?? "");
        const named = nodeNameOf(leaf);
        const selfSigned = isSelfSigned(leaf);
        if (named?.nodeId !== name.nodeId || named.clusterId !== name.clusterId) stored = "other_node";
        else if (Date.parse(leaf.validTo) <= now) stored = "expired";
        else if (!leaf.checkPrivateKey(loadPrivateKey(keyPem))) stored = "key_mismatch";
        else
          return new NodeIdentity(
            dataDir,
            name,
            names,
            { keyPem, certChainPem, bundlePem, fromMeshCa: !selfSigned },
            "usable",
            undefined,
            logger,
          );
      } catch (err) {
        stored = "unreadable";
        detail = errorMessage(err);
      }
    } else if (keyPem !== undefined || certChainPem !== undefined) {
      stored = "unreadable";
      detail = keyPem === undefined ? "node-key.pem is missing" : "node-cert.pem is missing";
    }
    const keys = generateKeyPair();
    const self = await selfSignedNodeCertificate(keys, name, names, { now, ttlMs: NODE_CERT_TTL_MS });
    const identity = new NodeIdentity(
      dataDir,
      name,
      names,
      { keyPem: privateKeyPem(keys.privateKey), certChainPem: self, bundlePem, fromMeshCa: false },
      stored,
      detail,
      logger,
    );
    identity.#persist();
    return identity;
  }

  material(): NodeTlsMaterial {
    return this.#material;
  }

  /** The listeners' TLS options: this certificate, and the bundle to verify the client certificates of peers. */
  serverContext(): SecureContextOptions {
    const m = this.#material;
    return { key: m.keyPem, cert: m.certChainPem, ...(m.bundlePem === undefined ? {} : { ca: m.bundlePem }) };
  }

  /** Called at each change of certificate or bundle. */
  onChange(listener: (m: NodeTlsMaterial) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * The mesh CA is known (applied, or rotated): trust its bundle, and sign this node's certificate with it
   * unless the current one is already issued by one of `issuersPem` (the CA, and during a rotation's overlap the
   * one it replaced) and not past half its life. Keeping a certificate under the replaced root for the overlap
   * lets clients that still hold only the old root (a `--ca-file` not yet updated) reach this node; the end of
   * the overlap takes that issuer out, and the node re-signs then.
   */
  async adoptCa(ca: CertificateAuthority, bundlePem: string, issuersPem: string, now: number): Promise<void> {
    const current = this.#material;
    const leaf = new NodeCertificate(splitPem(current.certChainPem, "CERTIFICATE")[0] ?? "");
    const issued =
      current.fromMeshCa &&
      [ca.certPem, ...splitPem(issuersPem, "CERTIFICATE")].some((pem) => {
        const issuer = new NodeCertificate(pem);
        return leaf.checkIssued(issuer) && leaf.verify(issuer.publicKey);
      });
    const from = Date.parse(leaf.validFrom);
    const halfLife = from + (Date.parse(leaf.validTo) - from) / 2;
    if (issued && now < halfLife) {
      if (current.bundlePem !== bundlePem) this.#set({ ...current, bundlePem });
      return;
    }
    const key = loadPrivateKey(current.keyPem);
    const certChainPem = await ca.signNode(createPublicKey(key), this.name, this.#names, {
      now,
      ttlMs: NODE_CERT_TTL_MS,
    });
    this.#set({ keyPem: current.keyPem, certChainPem, bundlePem, fromMeshCa: true });
    this.#logger.info({ node: this.name.nodeId }, "node certificate issued by the mesh CA");
  }

  /** A certificate a member issued to this node (a joiner), for the key this identity holds. */
  install(certChainPem: string, bundlePem: string): void {
    this.#set({ ...this.#material, certChainPem, bundlePem, fromMeshCa: true });
  }

  /** What `POST /v1/cluster/node-certificates` is asked to sign for this node: its names that `claim` keeps. */
  request(claim: (name: string) => boolean = () => true): { id: string; publicKeyPem: string; names: string[] } {
    const publicKeyPem = createPublicKey(loadPrivateKey(this.#material.keyPem)).export({ type: "spki", format: "pem" });
    return { id: this.name.nodeId, publicKeyPem: publicKeyPem.toString(), names: this.#names.filter(claim) };
  }

  #set(next: NodeTlsMaterial): void {
    this.#material = next;
    this.#persist();
    for (const l of this.#listeners) l(next);
  }

  #persist(): void {
    try {
      writeAtomic(join(this.#dataDir, "node-key.pem"), this.#material.keyPem, 0o600);
      writeAtomic(join(this.#dataDir, "node-cert.pem"), this.#material.certChainPem, 0o644);
    } catch (err) {
      this.#logger.error({ err: errorMessage(err) }, "cannot write the node certificate to the data dir");
    }
  }
}
