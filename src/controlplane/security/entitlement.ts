import { formatAccount, type ServiceAccountRef, sameAccount } from "../../config/kube-names.ts";
import type { WorkloadName } from "../../security/spiffe.ts";

/**
 * Which identity a sidecar's certificate may carry. A sidecar names its
 * service, and may name a Kubernetes service account (its hello, or the
 * service-account token it joined with, which wins). Without an account it
 * is `/service/<service>`, as its token's binding already allows, unless the
 * Service lists accounts: then it must run as one of them, or a sidecar could
 * pick the form no namespace/principal DENY rule names. With one, the Service
 * must list the account in `spec.serviceAccounts`: an operator says which
 * accounts may act as a service, and a sidecar cannot mint the identity of an
 * account it merely names.
 */
export type Entitlement = { ok: true; name: WorkloadName } | { ok: false; message: string };

export interface IdentityClaim {
  service: string;
  /** The account the hello names (meshlet sidecar --namespace/--service-account). */
  account?: ServiceAccountRef | undefined;
}

/** The accounts a Service lists; undefined when no such Service is applied. */
export type AccountsOf = (service: string) => readonly ServiceAccountRef[] | undefined;

export function entitle(
  claim: IdentityClaim,
  tokenAccount: ServiceAccountRef | undefined,
  accountsOf: AccountsOf,
): Entitlement {
  if (tokenAccount !== undefined && claim.account !== undefined && !sameAccount(tokenAccount, claim.account))
    return {
      ok: false,
      message: `the hello names service account ${formatAccount(claim.account)} but the stream's token is for ${formatAccount(tokenAccount)}`,
    };
  const account = tokenAccount ?? claim.account;
  const listed = accountsOf(claim.service);
  if (account === undefined) {
    if (listed !== undefined && listed.length > 0)
      return {
        ok: false,
        message: `service "${claim.service}" lists service accounts in spec.serviceAccounts: its sidecars must run as one of them (--namespace and --service-account, or a Kubernetes token)`,
      };
    return { ok: true, name: { service: claim.service } };
  }
  if (listed?.some((a) => sameAccount(a, account)) !== true)
    return {
      ok: false,
      message:
        listed === undefined
          ? `service account ${formatAccount(account)} may not act as service "${claim.service}": no Service "${claim.service}" is applied`
          : `service account ${formatAccount(account)} may not act as service "${claim.service}": its spec.serviceAccounts does not list it`,
    };
  return { ok: true, name: { namespace: account.namespace, serviceAccount: account.name } };
}
