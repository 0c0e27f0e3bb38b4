import { authorizationHeader, controlFetch } from "../../common/control-access.ts";
import { MeshletError, UnreachableError } from "../../common/errors.ts";

/** The control plane answered with an error status; its code and message are passed through. */
export class ApiError extends MeshletError {
  readonly status: number;
  readonly body: unknown;
  constructor(status: number, code: string, message: string, body: unknown) {
    super(code, message);
    this.name = "ApiError";
    this.status = status;
    this.body = body;
  }
}

export interface ApiReply {
  status: number;
  headers: Headers;
  body: Buffer;
}

/** One request to the control-plane HTTP API; non-2xx answers become ApiErrors. */
export async function callApi(
  server: string,
  method: string,
  path: string,
  options: {
    body?: string | Buffer;
    headers?: Record<string, string>;
    timeoutMs?: number;
    /** Who is called, for the "cannot reach" message (default: the control plane). */
    peer?: string;
  } = {},
): Promise<ApiReply> {
  const url = `${server.replace(/\/+$/, "")}${path}`;
  let res: Response;
  try {
    // The control plane's token goes to the control plane only, never to a sidecar's admin port (options.peer).
    const auth = options.peer === undefined ? authorizationHeader() : {};
    res = await (options.peer === undefined ? controlFetch : fetch)(url, {
      method,
      headers: { ...auth, ...options.headers },
      ...(options.body === undefined ? {} : { body: options.body }),
      signal: AbortSignal.timeout(options.timeoutMs ?? 15_000),
    });
  } catch (err) {
    throw new UnreachableError(options.peer ?? "the control plane", server, err);
  }
  const body = Buffer.from(await res.arrayBuffer());
  if (res.status >= 200 && res.status < 300) return { status: res.status, headers: res.headers, body };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString("utf8"));
  } catch {
    parsed = body.toString("utf8");
  }
  const e = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
  throw new ApiError(
    res.status,
    e?.code ?? `HTTP_${res.status}`,
    // The code too: it is what a script or a search of the documentation goes by.
    `${e?.message ?? body.toString("utf8")} (HTTP ${res.status}${e?.code === undefined ? "" : ` ${e.code}`})`,
    parsed,
  );
}
