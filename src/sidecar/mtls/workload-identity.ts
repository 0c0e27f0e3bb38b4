import { type KeyObject, X509Certificate } from "node:crypto";
import { createSecureContext, type SecureContext } from "node:tls";
import type { Clock, TimerHandle } from "../../common/clock.ts";
import { errorCode, errorMessage } from "../../common/errors.ts";
import type { Logger } from "../../common/logger.ts";
import { Counter, type Registry } from "../../common/prom.ts";
import type { Certificate__Output } from "../../gen/meshlet/discovery/v1/Certificate.ts";
import type { TrustBundle__Output } from "../../gen/meshlet/discovery/v1/TrustBundle.ts";
import { createCsr } from "../../security/csr-request.ts";
import { generateKeyPair, type KeyPair } from "../../security/keys.ts";
import { splitPem } from "../../security/pem.ts";
import { spiffeIdFor, type WorkloadName } from "../../security/spiffe.ts";
import { verifyWorkloadChain } from "../../security/verify.ts";

/** After a refused or failed request the sidecar asks again after this. */
const RETRY_MS = 5_000;
/**
 * A request with no answer by then is sent again with a new key: the stream it went on may look open but lead
 * nowhere (a node that went down without a FIN, a request the node dropped), and nothing else would ask again
 * until the stream is replaced. The wait doubles after each unanswered request, up to 2^3 times: a CA busy
 * signing for every sidecar of a restarted fleet must not get a new CSR from each of them every 10 s.
 */
export const REQUEST_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_GROWTH = 3;

/** What TLS needs of the identity, rebuilt whenever the certificate or the bundle changes. */
export interface TlsMaterial {
  /** This workload's SPIFFE ID. */
  identity: string;
  trustDomain: string;
  /** Key, chain and trust bundle, for both the inbound server and outbound clients. */
  context: SecureContext;
  keyPem: string;
  certChainPem: string;
  bundlePem: string;
  /**
   * The CAs a peer's certificate must be issued by (peer-issuer.ts); undefined when the control plane named
   * none (an older node): the chain to a root is then all.
   */
  issuers: readonly X509Certificate[] | undefined;
}

interface Bundle {
  pem: string;
  trustDomain: string;
  identity: string;
  issuersPem: string;
  /** The CA record's revision on the node that sent it (0 from a test or an unknown sender). */
  revision: number;
}

function bundleOf(b: TrustBundle__Output): Bundle {
  return {
    pem: b.pem,
    trustDomain: b.trustDomain,
    identity: b.identity,
    issuersPem: b.issuersPem,
    revision: b.revision,
  };
}

export interface WorkloadIdentityOptions {
  service: string;
  /** --namespace/--service-account: the identity asked for when the control plane names none. */
  account?: { namespace: string; name: string } | undefined;
  clock: Clock;
  /** Wall-clock ms (certificates carry calendar time). */
  wallNow: () => number;
  logger: Logger;
  registry: Registry;
  /** Sends a CSR on the discovery stream with its request id (the node echoes it); false when none is open. */
  send: (csrPem: string, requestId: number) => boolean;
}

/**
 * The sidecar's workload identity: a key made in this process (it never
 * leaves it), a CSR sent over the discovery stream, the certificate the
 * control plane signs, renewed at half its lifetime with a new key. New TLS
 * handshakes use the new material; open connections keep theirs.
 */
export class WorkloadIdentity {
  readonly #o: WorkloadIdentityOptions;
  readonly #listeners = new Set<(m: TlsMaterial) => void>();
  readonly #results: Counter;
  /** `identity`: what the control plane said this stream's certificate carries ("" from older nodes). */
  #bundle: Bundle | undefined;
  #pending: KeyPair | undefined;
  /** The id of the request in flight (0: none); the last id used, to make the next one. */
  #pendingId = 0;
  #lastId = 0;
  #current: { key: KeyObject; chainPem: string; renewAt: number } | undefined;
  #material: TlsMaterial | undefined;
  #timer: TimerHandle | undefined;
  #requestTimer: TimerHandle | undefined;
  /** Requests in a row that got no answer (the request timeout grows with it). */
  #unanswered = 0;
  #requesting = false;

  constructor(o: WorkloadIdentityOptions) {
    this.#o = o;
    this.#results = new Counter({
      name: "meshlet_sidecar_certificate_requests_total",
      help: "Certificate requests of this sidecar by result: issued, refused (by the control plane, with its code), invalid (what came back did not verify), unanswered (asked again after the request timeout) or stale (the answer to a request given up on, ignored)",
      labelNames: ["result", "code"],
      registers: [o.registry],
    });
  }

  /** The current TLS material; undefined until the first certificate arrived. */
  get material(): TlsMaterial | undefined {
    return this.#material;
  }

  onChange(listener: (m: TlsMaterial) => void): void {
    this.#listeners.add(listener);
  }

  stop(): void {
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#settled();
  }

  /** Renewal is due from half the remaining lifetime at receipt on (and at once when there is no certificate). */
  #due(): boolean {
    const c = this.#current;
    return c === undefined || this.#o.wallNow() >= c.renewAt;
  }

  streamOpened(): void {
    // A request sent on a stream that went down will not be answered: ask again on this one.
    this.#settled();
    if (this.#bundle !== undefined && this.#due()) this.#request();
  }

  trustBundle(b: TrustBundle__Output): void {
    if (b.pem === "" || b.trustDomain === "") return;
    const changed = this.#bundle?.pem !== b.pem || this.#bundle.issuersPem !== b.issuersPem;
    const renamed = this.#bundle !== undefined && this.#bundle.identity !== b.identity;
    this.#bundle = bundleOf(b);
    // Another identity (a node that decides otherwise, an account added to the Service): a new certificate now.
    // So too after a root rotation: the certificate from the replaced CA verifies only until the overlap ends.
    if ((renamed || (changed && !fromSigningCa(this.#current, b.issuersPem))) && this.#current !== undefined)
      this.#current.renewAt = 0;
    if (changed && this.#current !== undefined)
      this.#install(this.#current.key, this.#current.chainPem, this.#current.renewAt);
    if (this.#due()) this.#request();
  }

  certificate(c: Certificate__Output): void {
    // The bundle an answer carries is the one it was signed under: never older than the one pushed since (a
    // rotation that applied while the answer was being made would otherwise be undone until the next push).
    const carried = c.trustBundle;
    if (carried !== null && carried !== undefined && carried.revision >= (this.#bundle?.revision ?? 0))
      this.#bundle = bundleOf(carried);
    const key = this.#pending;
    this.#unanswered = 0;
    if (this.#stale(c, key)) {
      // The answer to a request given up on (timed out, or made on a stream since replaced): the one in flight
      // is still to be answered, whether this is a certificate or a refusal.
      this.#results.inc({ result: "stale", code: c.errorCode });
      return;
    }
    this.#settled();
    if (c.errorCode !== "") {
      this.#results.inc({ result: "refused", code: c.errorCode });
      this.#o.logger.error(
        { code: c.errorCode, err: c.error },
        "the control plane refused this sidecar's certificate request",
      );
      this.#retryLater();
      return;
    }
    if (key === undefined || this.#bundle === undefined) {
      // No request in flight: an answer to one given up on (a refusal for it may have come first).
      this.#results.inc({ result: "stale", code: "" });
      return;
    }
    try {
      const expected = this.#identity(this.#bundle);
      verifyWorkloadChain(c.certChainPem, this.#bundle.pem, this.#o.wallNow(), expected);
      this.#install(key.privateKey, c.certChainPem);
      this.#results.inc({ result: "issued", code: "" });
    } catch (err) {
      this.#results.inc({ result: "invalid", code: errorCode(err) });
      this.#o.logger.error(
        { code: errorCode(err), err: errorMessage(err) },
        "the certificate from the control plane does not verify",
      );
      this.#retryLater();
    }
  }

  /**
   * Whether an answer is for another request than the one in flight. A node that echoes request ids says so
   * exactly; an older one (id 0) is paired by the certificate's public key, and its refusals cannot be told
   * apart (they end the request in flight, as before).
   */
  #stale(c: Certificate__Output, key: KeyPair | undefined): boolean {
    if (c.requestId !== 0) return key === undefined || c.requestId !== this.#pendingId;
    return c.errorCode === "" && key !== undefined && !issuedFor(c.certChainPem, key);
  }

  /**
   * Renewal at half the lifetime, counted from receipt: the CA backdates
   * notBefore a few minutes for clock skew, which would otherwise make a
   * short-lived certificate look half spent on arrival.
   */
  #install(key: KeyObject, chainPem: string, renewAt?: number): void {
    const bundle = this.#bundle;
    if (bundle === undefined) return;
    const now = this.#o.wallNow();
    const notAfter = new X509Certificate(chainPem).validToDate.getTime();
    const due = renewAt ?? now + (notAfter - now) / 2;
    this.#current = { key, chainPem, renewAt: due };
    const keyPem = key.export({ type: "pkcs8", format: "pem" }).toString();
    this.#material = {
      identity: this.#identity(bundle),
      trustDomain: bundle.trustDomain,
      context: createSecureContext({ key: keyPem, cert: chainPem, ca: bundle.pem, minVersion: "TLSv1.3" }),
      keyPem,
      certChainPem: chainPem,
      bundlePem: bundle.pem,
      issuers: certificates(bundle.issuersPem),
    };
    this.#o.logger.info(
      { identity: this.#material.identity, notAfter: new Date(notAfter).toISOString() },
      "workload certificate installed",
    );
    this.#schedule(Math.max(0, due - now));
    for (const l of this.#listeners) l(this.#material);
  }

  /** The control plane's word when it gave one; else the account of the flags, else the service. */
  #identity(bundle: { trustDomain: string; identity: string }): string {
    if (bundle.identity !== "") return bundle.identity;
    const a = this.#o.account;
    const name: WorkloadName =
      a === undefined ? { service: this.#o.service } : { namespace: a.namespace, serviceAccount: a.name };
    return spiffeIdFor(bundle.trustDomain, name);
  }

  #schedule(ms: number): void {
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = this.#o.clock.setTimeout(() => {
      this.#timer = undefined;
      this.#request();
    }, ms);
  }

  #retryLater(): void {
    this.#schedule(RETRY_MS);
  }

  /** No request in flight any more (answered, or given up): an answer that still comes for it is ignored. */
  #settled(): void {
    this.#requesting = false;
    this.#pending = undefined;
    this.#pendingId = 0;
    if (this.#requestTimer !== undefined) this.#o.clock.clearTimeout(this.#requestTimer);
    this.#requestTimer = undefined;
  }

  #request(): void {
    const bundle = this.#bundle;
    if (this.#requesting || bundle === undefined) return;
    this.#requesting = true;
    try {
      const keys = generateKeyPair();
      const csr = createCsr(keys, this.#identity(bundle));
      this.#pending = keys;
      this.#pendingId = ++this.#lastId;
      if (!this.#o.send(csr, this.#pendingId)) {
        // No stream: the next streamOpened() asks again.
        this.#settled();
        return;
      }
      const timeoutMs = REQUEST_TIMEOUT_MS * 2 ** Math.min(this.#unanswered, REQUEST_TIMEOUT_GROWTH);
      this.#requestTimer = this.#o.clock.setTimeout(() => {
        this.#requestTimer = undefined;
        this.#unanswered++;
        this.#results.inc({ result: "unanswered", code: "" });
        this.#o.logger.warn({ timeoutMs }, "no answer to this sidecar's certificate request; asking again");
        this.#settled();
        this.#request();
      }, timeoutMs);
    } catch (err) {
      this.#settled();
      this.#o.logger.error({ err: errorMessage(err) }, "cannot build a certificate request");
      this.#retryLater();
    }
  }
}

/** Whether the chain's leaf carries this key pair's public key; a chain that does not parse counts as the answer (it fails verification next). */
/**
 * Whether the certificate was issued by the CA that signs now: the first of the control plane's issuers. True
 * without a certificate, or without a list (an older node): nothing to renew for.
 */
function fromSigningCa(current: { chainPem: string } | undefined, issuersPem: string): boolean {
  const signing = splitPem(issuersPem, "CERTIFICATE")[0];
  if (current === undefined || signing === undefined) return true;
  try {
    const issuer = new X509Certificate(signing);
    const leaf = new X509Certificate(current.chainPem);
    return leaf.checkIssued(issuer) && leaf.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

function issuedFor(chainPem: string, key: KeyPair): boolean {
  try {
    return new X509Certificate(chainPem).publicKey.equals(key.publicKey);
  } catch {
    return true;
  }
}

/**
 * The PEM certificates, parsed; undefined for none. One that does not parse is left out: with none left the
 * list is empty and no peer passes (closed, not open).
 */
function certificates(pem: string): X509Certificate[] | undefined {
  const certs = splitPem(pem, "CERTIFICATE");
  if (certs.length === 0) return undefined;
  const out: X509Certificate[] = [];
  for (const c of certs) {
    try {
      out.push(new X509Certificate(c));
    } catch {
      // left out (above)
    }
  }
  return out;
}
