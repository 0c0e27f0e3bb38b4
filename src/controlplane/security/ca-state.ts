import type { RevisionedKv } from "../state/kv.ts";
import type { StateMachine } from "../state/machine.ts";
import { BadCommandError } from "../state/machine.ts";
import { storedFromText, storedText } from "../state/value.ts";

/**
 * The mesh CA in the Raft state, so that every node can sign: its chain and
 * private key, and the roots it replaced (kept in the trust bundle so that
 * certificates issued before a rotation keep verifying until renewed). The
 * key sits in the WAL and snapshots: docs/security.md says what that means
 * for the data dir.
 */
export const CA_KEY = "security/ca";

export interface CaRecord {
  certChainPem: string;
  keyPem: string;
  /** Roots of the CAs this one replaced, newest first (at most MAX_PREVIOUS_ROOTS). */
  previousRoots: string[];
  /**
   * The CA certificates this one replaced (each chain's first certificate: the one that signed workloads),
   * newest first, at most MAX_PREVIOUS_ROOTS; absent from records written before it was kept.
   */
  previousIssuers?: string[];
}

/** One previous root is enough overlap: a rotation more often than --cert-ttl is refused by nothing but sense. */
const MAX_PREVIOUS_ROOTS = 1;

export interface SetCaCommand {
  type: "security.ca.set";
  certChainPem: string;
  keyPem: string;
  /** A first leader's generated root: applied only when the state has no CA yet (two leaders may race). */
  onlyIfAbsent: boolean;
}

export function readCa(kv: Pick<RevisionedKv, "get">): { record: CaRecord; revision: number } | undefined {
  const stored = kv.get(CA_KEY);
  if (stored === undefined) return undefined;
  return { record: JSON.parse(storedText(stored.value)) as CaRecord, revision: stored.revision };
}

/**
 * The certificate blocks of a chain exactly as written (each with a newline). The apply handler's output must
 * not change with a helper shared by the rest of the code (security/pem.ts re-emits blocks canonically now, an
 * older version did not): nodes of two versions applying one entry must store the same record.
 */
function certificateBlocks(chainPem: string): string[] {
  return [...chainPem.matchAll(/-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----/g)].map(
    (m) => `${m[0]}\n`,
  );
}

function rootOf(chainPem: string): string | undefined {
  const certs = certificateBlocks(chainPem);
  return certs[certs.length - 1];
}

/** The chain's first certificate: the CA that signs. */
function issuerOf(chainPem: string): string | undefined {
  return certificateBlocks(chainPem)[0];
}

/** The newest `max` of `[replaced, ...kept]` without `current` (a CA set again is not its own predecessor). */
function previous(replaced: string | undefined, kept: string[], current: string | undefined): string[] {
  if (replaced === undefined || replaced === current) return kept;
  return [replaced, ...kept].filter((r) => r !== current).slice(0, MAX_PREVIOUS_ROOTS);
}

export function registerSecurityCommands(sm: StateMachine): void {
  sm.register("security.ca.set", (command, { kv }) => {
    const c = command as unknown as SetCaCommand;
    if (typeof c.certChainPem !== "string" || typeof c.keyPem !== "string" || rootOf(c.certChainPem) === undefined)
      throw new BadCommandError("security.ca.set needs certChainPem (PEM certificates) and keyPem");
    const current = readCa(kv);
    if (current !== undefined && c.onlyIfAbsent) return { applied: false };
    const old = current?.record;
    const previousRoots = previous(
      old === undefined ? undefined : rootOf(old.certChainPem),
      old?.previousRoots ?? [],
      rootOf(c.certChainPem),
    );
    const previousIssuers = previous(
      old === undefined ? undefined : issuerOf(old.certChainPem),
      old?.previousIssuers ?? [],
      issuerOf(c.certChainPem),
    );
    const record: CaRecord = { certChainPem: c.certChainPem, keyPem: c.keyPem, previousRoots, previousIssuers };
    kv.put(CA_KEY, storedFromText(JSON.stringify(record)));
    return { applied: true };
  });
}
