import { MeshletError } from "../../common/errors.ts";

export interface PolicyIssue {
  /** `Policy/ratings` */
  resource: string;
  /** `spec.circuitBreaker.errorThresholdPercentage` */
  path: string;
  message: string;
}

/**
 * A snapshot's policies cannot be applied: the sidecar NACKs it with these
 * issues and keeps running on the previous snapshot.
 */
export class PolicyRejectedError extends MeshletError {
  readonly issues: readonly PolicyIssue[];

  constructor(issues: readonly PolicyIssue[]) {
    super("ERR_POLICY_REJECTED", issues.map((i) => `${i.resource} ${i.path}: ${i.message}`).join("; "));
    this.name = "PolicyRejectedError";
    this.issues = issues;
  }
}
