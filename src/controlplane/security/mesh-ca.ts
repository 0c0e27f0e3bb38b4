import { X509Certificate as NodeCertificate } from "node:crypto";
import { chmodSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Registry } from "prom-client";
import { errorCode, errorMessage, MeshletError } from "../../common/errors.ts";
import type { Logger } from "../../common/logger.ts";
import { Counter } from "../../common/prom.ts";
import { bundlePem } from "../../security/bundle.ts";
import { type CaMaterial, CertificateAuthority, createRootCa, DEFAULT_ROOT_TTL_MS } from "../../security/ca.ts";
import { verifyCsr } from "../../security/csr.ts";
import { splitPem } from "../../security/pem.ts";
import { spiffeIdFor, type WorkloadName } from "../../security/spiffe.ts";
import type { ControlNode } from "../node.ts";
import {
  type CaOrigin,
  type CaRecord,
  caRevision,
  type ExpireCaCommand,
  readCa,
  rotationRefusal,
  type SetCaCommand,
} from "./ca-state.ts";

export interface MeshSecurityOptions {
  trustDomain: string;
  /** Lifetime of workload certificates (meshlet control --cert-ttl). */
  certTtlMs: number;
  /** The operator's CA (--ca-cert/--ca-key), already checked; undefined = generate a root. */
  operatorCa?: CaMaterial;
  dataDir: string;
  /** Wall-clock ms: certificates carry calendar time. */
  wallClock: () => number;
}

export interface CurrentCa {
  ca: CertificateAuthority;
  /** The trust bundle as PEM: this CA's root and the roots it replaced. */
  bundlePem: string;
  /** The CA certificates a workload certificate must be issued by: this CA's and the one it replaced. */
  issuersPem: string;
  /** Raft revision of the CA record: a sidecar's bundle is stale when its revision differs. */
  revision: number;
  trustDomain: string;
  /** When the replaced CA stops being trusted (wall-clock ms); undefined: none replaced, or no end recorded. */
  previousUntil: number | undefined;
}

/**
 * The issuers a node's own certificate may stay under at `now`: during a rotation's overlap the replaced CA's
 * too (clients holding only the old root still reach the node), none but the CA's once it ended, by this node's
 * clock, whether or not it applied the end yet (a node back from a long stop is otherwise refused by peers that
 * did), and none for a record without an end (re-signed at once, as before the overlap had one).
 */
export function nodeCertificateIssuers(current: CurrentCa, now: number): string {
  return current.previousUntil !== undefined && now < current.previousUntil ? current.issuersPem : current.ca.certPem;
}

const PROPOSE_DEADLINE_MS = 10_000;
/** setTimeout's limit is about 24.8 days: a longer overlap is waited for in steps. */
const MAX_TIMER_MS = 24 * 3_600_000;
/** A failed proposal of the overlap's end is made again after this long. */
const EXPIRE_RETRY_MS = 5_000;
/** The longest overlap `meshlet ca rotate --overlap` takes. */
export const MAX_OVERLAP_MS = 365 * 24 * 3_600_000;

/** One certificate as `meshlet ca show` prints it. */
export interface CertificateView {
  /** SHA-256 of the DER, colon-separated hex (as `openssl x509 -fingerprint -sha256` prints it). */
  fingerprint: string;
  subject: string;
  notAfter: string;
}

/** GET /v1/ca: the mesh CA as trusted now (never its key). */
export interface CaView {
  origin: CaOrigin | "unknown";
  root: CertificateView;
  /** The CA that signs workloads, when it is an intermediate under the root. */
  issuer?: CertificateView;
  /** Roots replaced by a rotation and still in the trust bundle. */
  previousRoots: CertificateView[];
  /** When they leave the bundle (ISO 8601); null: at the next rotation (a record from an older version). */
  previousUntil: string | null;
  /** Raft revision of the CA record. */
  revision: number;
}

/** POST /v1/ca/rotate's answer. */
export interface RotationView {
  root: CertificateView;
  previousRoot: CertificateView;
  /** When the replaced root leaves the bundle (ISO 8601). */
  previousUntil: string;
  revision: number;
}

function viewOf(pem: string): CertificateView {
  const c = new NodeCertificate(pem);
  return {
    fingerprint: c.fingerprint256,
    subject: c.subject.replaceAll("\n", ", "),
    notAfter: new Date(c.validTo).toISOString(),
  };
}

/** The default overlap of a rotation: twice --cert-ttl, so every certificate issued under the old root has expired. */
export function defaultOverlapMs(certTtlMs: number): number {
  return 2 * certTtlMs;
}

/**
 * The control plane as certificate authority. The first leader of a new mesh
 * proposes a root (or the operator's CA); when a leader finds the operator's
 * CA differs from the stored one it proposes that, which rotates the root
 * with overlap (ca-state.ts). Every node builds its signer from the applied
 * state and writes the trust bundle to `<data-dir>/ca.pem` when it changes.
 */
export class MeshSecurity {
  readonly options: MeshSecurityOptions;
  readonly #node: ControlNode;
  readonly #logger: Logger;
  readonly #proposals: Counter;
  readonly #issued: Counter;
  #current: CurrentCa | undefined;
  #loading: number | undefined;
  #proposing = false;
  /**
   * The commit index this node knew at start, and the index it has applied up to. Until its own log is replayed
   * to there, the CA record in the state may be one a later entry of that log replaced (a root rotated before
   * the restart): acting on it would re-sign this node's certificate with the old CA, and serve it, until the
   * newer record applies. So nothing is loaded, signed or proposed before.
   */
  #replayUntil = 0;
  #appliedIndex = 0;
  #expiryTimer: ReturnType<typeof setTimeout> | undefined;
  #overlapTimer: ReturnType<typeof setTimeout> | undefined;
  /** After stop(): a proposal still settling must not arm a timer again. */
  #stopped = false;
  readonly #unsubscribe: (() => void)[] = [];
  readonly #listeners = new Set<(ca: CurrentCa) => void | Promise<void>>();

  constructor(node: ControlNode, options: MeshSecurityOptions, logger: Logger, registry: Registry) {
    this.#node = node;
    this.options = options;
    this.#logger = logger;
    this.#proposals = new Counter({
      name: "meshlet_ca_proposals_total",
      help: "CA records this node proposed (a first root, or the operator's CA replacing the stored one), by result",
      labelNames: ["result"],
      registers: [registry],
    });
    this.#issued = new Counter({
      name: "meshlet_ca_certificates_total",
      help: "Workload certificate requests answered by this node: result issued or refused, code of the refusal",
      labelNames: ["result", "code"],
      registers: [registry],
    });
  }

  /**
   * Signs a sidecar's CSR for the identity its stream is entitled to (the
   * service's, or a service account's the Service lists). Refusals (another
   * identity, a bad signature, no CA yet) are counted by code and logged once
   * here with the workload, never with the CSR.
   */
  async issueWorkload(name: WorkloadName, csrPem: string): Promise<{ certChainPem: string; bundle: CurrentCa }> {
    try {
      const identity = spiffeIdFor(this.options.trustDomain, name);
      const { publicKey } = await verifyCsr(csrPem, identity);
      // Signing is asynchronous: a CA that changed meanwhile (a rotation applied) has pushed its bundle already,
      // and an answer signed by the one before, carrying its bundle, would take the sidecar back to it.
      for (let attempt = 0; attempt < 3; attempt++) {
        const current = this.#current;
        if (current === undefined)
          throw new MeshletError("ERR_CA_UNAVAILABLE", "the mesh CA is not ready on this node yet");
        const certChainPem = await current.ca.signWorkload(publicKey, identity, {
          now: this.options.wallClock(),
          ttlMs: this.options.certTtlMs,
        });
        if (this.#current !== current) continue;
        this.#issued.inc({ result: "issued", code: "" });
        return { certChainPem, bundle: current };
      }
      throw new MeshletError("ERR_CA_UNAVAILABLE", "the mesh CA changed while signing; ask again");
    } catch (err) {
      const code = errorCode(err);
      this.#issued.inc({ result: "refused", code });
      this.#logger.warn({ workload: name, code, err: errorMessage(err) }, "certificate request refused");
      throw err instanceof MeshletError ? err : new MeshletError("ERR_CSR_IDENTITY", errorMessage(err));
    }
  }

  start(): void {
    const { commit, applied } = this.#node.raftStatus();
    this.#replayUntil = commit;
    this.#appliedIndex = applied;
    this.#unsubscribe.push(
      this.#node.on("applied", (index) => {
        if (index > this.#appliedIndex) this.#appliedIndex = index;
        this.#refresh();
      }),
    );
    this.#unsubscribe.push(
      this.#node.on("leaderChange", () => {
        this.#maybePropose();
        this.#scheduleExpiry();
      }),
    );
    this.#refresh();
    this.#maybePropose();
  }

  stop(): void {
    this.#stopped = true;
    for (const off of this.#unsubscribe.splice(0)) off();
    clearTimeout(this.#expiryTimer);
    clearTimeout(this.#overlapTimer);
    this.#listeners.clear();
  }

  /** The CA to sign with; undefined until the first CA record is applied on this node (after its start's replay). */
  current(): CurrentCa | undefined {
    return this.#current;
  }

  /** Called with the CA whenever it changes (and at once when one is known). */
  onChange(listener: (ca: CurrentCa) => void | Promise<void>): () => void {
    this.#listeners.add(listener);
    if (this.#current !== undefined) listener(this.#current);
    return () => this.#listeners.delete(listener);
  }

  /** Still replaying the log this node had at start (see #replayUntil). */
  #replaying(): boolean {
    return this.#appliedIndex < this.#replayUntil;
  }

  #refresh(): void {
    if (this.#replaying()) return;
    // Every applied entry comes here: the record (its key PEM and chain) is parsed only when it changed.
    const revision = caRevision(this.#node.kv);
    if (revision === undefined || revision === this.#current?.revision || revision === this.#loading) return;
    const stored = readCa(this.#node.kv);
    if (stored === undefined) return;
    this.#loading = stored.revision;
    let ca: CertificateAuthority;
    try {
      ca = CertificateAuthority.load(stored.record);
    } catch (err) {
      this.#logger.error({ err: errorMessage(err), code: errorCode(err) }, "the CA in the cluster state is unusable");
      return;
    }
    const bundle = bundlePem([ca.rootPem, ...stored.record.previousRoots]);
    // A record from before previousIssuers was kept: its predecessors' roots stand in (a generated root is both).
    const issuers = bundlePem([ca.certPem, ...(stored.record.previousIssuers ?? stored.record.previousRoots)]);
    const current = {
      ca,
      bundlePem: bundle,
      issuersPem: issuers,
      revision: stored.revision,
      trustDomain: this.options.trustDomain,
      previousUntil: stored.record.previousRoots.length === 0 ? undefined : stored.record.previousUntil,
    };
    this.#current = current;
    this.#armOverlapEnd(current);
    // ca.pem is written once the listeners are done: the node's own certificate is then signed by this CA, so a
    // client that waits for ca.pem and trusts it finds the listeners serving a certificate it verifies.
    void Promise.allSettled([...this.#listeners].map(async (l) => l(current))).then((results) => {
      for (const r of results)
        if (r.status === "rejected")
          this.#logger.error({ err: errorMessage(r.reason) }, "applying the mesh CA on this node failed");
      if (this.#current !== current) return;
      this.#writeBundle(bundle);
      this.#logger.info(
        { revision: stored.revision, roots: splitPem(bundle, "CERTIFICATE").length },
        "mesh CA loaded; trust bundle written",
      );
    });
    this.#maybePropose();
    this.#scheduleExpiry();
  }

  #writeBundle(pem: string): void {
    const path = join(this.options.dataDir, "ca.pem");
    try {
      const tmp = `${path}.tmp`;
      writeFileSync(tmp, pem, { mode: 0o644 });
      chmodSync(tmp, 0o644);
      renameSync(tmp, path);
    } catch (err) {
      this.#logger.error({ path, err: errorMessage(err) }, "cannot write the trust bundle");
    }
  }

  /** On the leader only: a mesh without a CA gets one; an operator CA that differs from the stored one replaces it. */
  #maybePropose(): void {
    if (this.#proposing || this.#replaying() || !this.#node.isLeader()) return;
    const stored = readCa(this.#node.kv);
    const operator = this.options.operatorCa;
    // The operator's CA stored by a version that kept no origin is set again once, with it: a lone self-signed
    // operator root would otherwise pass for a generated one, and `ca rotate` would replace it.
    const unmarked = operator !== undefined && stored?.record.origin === undefined;
    if (
      stored !== undefined &&
      (operator === undefined || (stored.record.certChainPem === operator.certChainPem && !unmarked))
    )
      return;
    this.#proposing = true;
    this.#propose(stored === undefined, operator)
      .then(
        () => this.#proposals.inc({ result: "ok" }),
        (err: unknown) => {
          this.#proposals.inc({ result: "error" });
          this.#logger.warn(
            { err: errorMessage(err), code: errorCode(err) },
            "proposing the mesh CA failed; retried at the next leader change or apply",
          );
        },
      )
      .finally(() => {
        this.#proposing = false;
      });
  }

  async #propose(absent: boolean, operator: CaMaterial | undefined): Promise<void> {
    const material =
      operator ??
      (await createRootCa(this.options.trustDomain, { now: this.options.wallClock(), ttlMs: DEFAULT_ROOT_TTL_MS }));
    const now = this.options.wallClock();
    const command: SetCaCommand = {
      type: "security.ca.set",
      certChainPem: material.certChainPem,
      keyPem: material.keyPem,
      onlyIfAbsent: operator === undefined && absent,
      origin: operator === undefined ? "generated" : "operator",
      now,
      // An operator's new CA replacing the stored one: the old root stays trusted for the default overlap.
      previousUntil: now + defaultOverlapMs(this.options.certTtlMs),
    };
    await this.#node.propose({ ...command }, { deadlineMs: PROPOSE_DEADLINE_MS });
    this.#logger.info({ source: operator === undefined ? "generated root" : "--ca-cert" }, "mesh CA proposed");
  }

  /** GET /v1/ca: the CA this node applied, undefined before it has one. */
  describe(): CaView | undefined {
    const stored = readCa(this.#node.kv);
    if (stored === undefined) return undefined;
    const { record } = stored;
    const chain = splitPem(record.certChainPem, "CERTIFICATE");
    const root = chain[chain.length - 1] ?? "";
    const issuer = chain[0] ?? "";
    return {
      origin: record.origin ?? "unknown",
      root: viewOf(root),
      ...(chain.length > 1 ? { issuer: viewOf(issuer) } : {}),
      previousRoots: record.previousRoots.map(viewOf),
      previousUntil: record.previousUntil === undefined ? null : new Date(record.previousUntil).toISOString(),
      revision: stored.revision,
    };
  }

  /**
   * `meshlet ca rotate`: a new root generated on this node (its key goes into the Raft entry and nowhere else,
   * never into a log line), committed as the mesh CA; the replaced root and issuer stay trusted for `overlapMs`.
   * Refused (MeshletError with a code) on an operator CA, while an earlier overlap runs, before the CA exists.
   */
  async rotate(overlapMs: number): Promise<RotationView> {
    const stored = readCa(this.#node.kv);
    const now = this.options.wallClock();
    if (stored !== undefined && this.options.operatorCa !== undefined)
      throw new MeshletError(
        "ERR_CA_OPERATOR",
        "this node runs on the operator's CA (--ca-cert): rotate it by restarting the control plane with a new --ca-cert/--ca-key",
      );
    if (stored === undefined) throw new MeshletError("ERR_CA_UNAVAILABLE", "the mesh CA is not ready on this node yet");
    const old: CaRecord = stored.record;
    const refusal = rotationRefusal(old, old.certChainPem, now);
    if (refusal !== undefined) throw refusal;
    const material = await createRootCa(this.options.trustDomain, { now, ttlMs: DEFAULT_ROOT_TTL_MS });
    const previousUntil = now + overlapMs;
    const command: SetCaCommand = {
      type: "security.ca.set",
      certChainPem: material.certChainPem,
      keyPem: material.keyPem,
      onlyIfAbsent: false,
      origin: "generated",
      now,
      previousUntil,
      replaces: old.certChainPem,
    };
    try {
      const { revision } = await this.#node.propose({ ...command }, { deadlineMs: PROPOSE_DEADLINE_MS });
      this.#proposals.inc({ result: "ok" });
      const root = viewOf(material.certChainPem);
      const chain = splitPem(old.certChainPem, "CERTIFICATE");
      const previousRoot = viewOf(chain[chain.length - 1] ?? "");
      this.#logger.info(
        { root: root.fingerprint, previousRoot: previousRoot.fingerprint, previousUntil: new Date(previousUntil) },
        "mesh CA rotated to a new generated root",
      );
      return { root, previousRoot, previousUntil: new Date(previousUntil).toISOString(), revision };
    } catch (err) {
      this.#proposals.inc({ result: "error" });
      throw err;
    }
  }

  /**
   * On every node: at the end of the overlap the listeners hear of the CA again, so that this node's certificate
   * moves to the new root by its own clock even before (or without, cut off) the leader's end is applied.
   */
  #armOverlapEnd(current: CurrentCa): void {
    clearTimeout(this.#overlapTimer);
    this.#overlapTimer = undefined;
    const until = current.previousUntil;
    if (until === undefined || this.#stopped) return;
    const delay = until - this.options.wallClock();
    if (delay <= 0) return;
    this.#overlapTimer = setTimeout(
      () => {
        if (this.#current !== current) return;
        if (this.options.wallClock() < until) return this.#armOverlapEnd(current);
        for (const l of this.#listeners)
          Promise.resolve(l(current)).catch((err: unknown) =>
            this.#logger.error({ err: errorMessage(err) }, "applying the end of the rotation overlap failed"),
          );
      },
      Math.min(delay, MAX_TIMER_MS),
    );
    this.#overlapTimer.unref();
  }

  /** On the leader: the end of the running overlap is proposed when it comes (nodes' clocks only decide when). */
  #scheduleExpiry(): void {
    clearTimeout(this.#expiryTimer);
    this.#expiryTimer = undefined;
    if (this.#stopped || !this.#node.isLeader()) return;
    const record = readCa(this.#node.kv)?.record;
    if (record?.previousUntil === undefined || record.previousRoots.length === 0) return;
    const delay = Math.min(Math.max(0, record.previousUntil - this.options.wallClock()), MAX_TIMER_MS);
    this.#expiryTimer = setTimeout(() => this.#expire(record.previousUntil ?? 0), delay);
    this.#expiryTimer.unref();
  }

  #expire(until: number): void {
    const now = this.options.wallClock();
    if (now < until) {
      this.#scheduleExpiry();
      return;
    }
    const command: ExpireCaCommand = { type: "security.ca.expire", now };
    this.#node.propose({ ...command }, { deadlineMs: PROPOSE_DEADLINE_MS }).then(
      () => this.#logger.info({ until: new Date(until) }, "rotation overlap ended: the previous root left the bundle"),
      (err: unknown) => {
        this.#logger.warn(
          { err: errorMessage(err), code: errorCode(err) },
          "proposing the end of the rotation overlap failed; retried",
        );
        if (this.#stopped) return;
        this.#expiryTimer = setTimeout(() => this.#scheduleExpiry(), EXPIRE_RETRY_MS);
        this.#expiryTimer.unref();
      },
    );
  }
}
