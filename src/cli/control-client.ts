import { authorizationHeader, controlFetch } from "../common/control-access.ts";
import { HttpError, UnreachableError } from "../common/errors.ts";
import type { Finding } from "../config/finding.ts";
import type { ErrorBody } from "../controlplane/resources/api-types.ts";

const REQUEST_TIMEOUT_MS = 15_000;

/** The control plane refused a change because sidecars would refuse it (HTTP 422); `findings` say why, per resource. */
export class RefusedError extends HttpError {
  readonly findings: readonly Finding[];
  constructor(message: string, findings: readonly Finding[]) {
    super(422, "ERR_CONFIG_REJECTED", message);
    this.name = "RefusedError";
    this.findings = findings;
  }
}

/**
 * One call to the control-plane HTTP API (its JSON answer, or a coded error). A 503 (no leader yet, election in progress)
 * is retried after its Retry-After until the overall deadline when the call
 * is safe to repeat: reads, and applies (an apply re-plans, so a repeat of a
 * committed one reports "unchanged").
 */
export async function request<T>(server: string, method: string, path: string, body?: string): Promise<T> {
  const url = new URL(path, server.endsWith("/") ? server : `${server}/`);
  const deadline = Date.now() + REQUEST_TIMEOUT_MS;
  const retryable = method === "GET" || path.startsWith("v1/apply") || path.startsWith("v1/analyze");
  for (;;) {
    const remaining = deadline - Date.now();
    let res: Response;
    try {
      res = await controlFetch(url, {
        method,
        headers: {
          ...authorizationHeader(),
          accept: "application/json",
          "x-meshlet-timeout": String(Math.max(1, remaining - 500)),
          ...(body === undefined ? {} : { "content-type": "application/yaml" }),
        },
        ...(body === undefined ? {} : { body }),
        signal: AbortSignal.timeout(Math.max(1, remaining)),
      });
    } catch (err) {
      throw new UnreachableError("the control plane", url.origin, err);
    }
    const text = await res.text();
    const json: unknown = text === "" ? {} : safeJson(text);
    if (res.ok) return json as T;
    const retryAfterMs = Math.min(1000, Number(res.headers.get("retry-after") ?? "1") * 1000);
    if (res.status === 503 && retryable && Date.now() + retryAfterMs < deadline) {
      await new Promise((r) => setTimeout(r, retryAfterMs));
      continue;
    }
    const e = (json as Partial<ErrorBody>).error;
    const retry = res.headers.get("retry-after");
    const suffix = retry === null ? "" : ` (retry after ${retry}s)`;
    const message =
      e?.message ?? (text.trim() || `HTTP ${res.status} from ${url.origin}: is it a meshlet control plane?`);
    if (res.status === 422 && e?.findings !== undefined) throw new RefusedError(message, e.findings);
    throw new HttpError(res.status, e?.code ?? `HTTP_${res.status}`, `${message}${suffix}`);
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { error: { code: "ERR_BAD_RESPONSE", message: text.slice(0, 200) } };
  }
}
