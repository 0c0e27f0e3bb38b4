import { MeshletError } from "../common/errors.ts";

/**
 * Every refusal of the PKI has a stable code, so the control plane and the
 * sidecar count them by code (metric label) and tests assert on it.
 */
export type PkiErrorCode =
  | "ERR_CSR_MALFORMED"
  | "ERR_CSR_SIGNATURE"
  | "ERR_CSR_IDENTITY"
  | "ERR_CSR_KEY"
  | "ERR_CSR_EXTENSION"
  | "ERR_CA_INVALID"
  | "ERR_CERT_MALFORMED"
  | "ERR_CERT_EXPIRED"
  | "ERR_CERT_NOT_YET_VALID"
  | "ERR_CERT_UNKNOWN_ISSUER"
  | "ERR_CERT_IDENTITY";

export class PkiError extends MeshletError {
  declare readonly code: PkiErrorCode;

  constructor(code: PkiErrorCode, message: string) {
    super(code, message);
    this.name = "PkiError";
  }
}
