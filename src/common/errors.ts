/**
 * Errors are values with stable codes: callers and tests branch on `code`,
 * never on message text, and every code maps to one metric label.
 */
export class MeshletError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "MeshletError";
    this.code = code;
  }
}

/** A flag or value given on the command line or in the environment is unusable. */
export class UsageError extends MeshletError {
  constructor(message: string) {
    super("ERR_USAGE", message);
    this.name = "UsageError";
  }
}

/** A server (the control plane, a sidecar's admin API) could not be reached at all: CLI exit code 3. */
export class UnreachableError extends MeshletError {
  constructor(what: string, address: string, cause: unknown) {
    super("ERR_UNREACHABLE", `cannot reach ${what} at ${address}: ${describeCause(cause)}`, { cause });
    this.name = "UnreachableError";
  }
}

/** fetch() says "fetch failed" and keeps the reason (ECONNREFUSED, a timeout) in `cause`. */
function describeCause(err: unknown): string {
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : undefined;
  return cause ?? (err instanceof Error ? err.message : String(err));
}

/** An error with an HTTP status: the control plane answers with one, and the CLI gets it back as one. */
export class HttpError extends MeshletError {
  readonly status: number;

  constructor(status: number, code: string, message: string) {
    super(code, message);
    this.name = "HttpError";
    this.status = status;
  }
}

export function errorCode(err: unknown): string {
  if (err instanceof MeshletError) return err.code;
  if (err !== null && typeof err === "object" && "code" in err && typeof err.code === "string") return err.code;
  return "ERR_UNKNOWN";
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
