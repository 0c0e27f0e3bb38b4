import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { errorMessage, UsageError } from "./errors.ts";

/**
 * How this process calls the control plane: its bearer token (--token, MESHLET_TOKEN) and the CA that signed the
 * control plane's certificate (--ca-file, MESHLET_CA_FILE). Set once from the command line (cli/program.ts), read
 * by every client of the control-plane API, so no command has to thread them through its calls.
 */
export interface ControlAccess {
  token?: string;
  caFile?: string;
}

let access: ControlAccess = {};
let ca: Buffer | undefined;

export function setControlAccess(next: ControlAccess): void {
  access = next;
  ca = undefined;
}

export function controlAccess(): ControlAccess {
  return access;
}

/** The Authorization header for the control plane, or none without a token. */
export function authorizationHeader(): Record<string, string> {
  return access.token === undefined || access.token === "" ? {} : { authorization: `Bearer ${access.token}` };
}

/**
 * The bytes of --ca-file (read once), or undefined without one. A file that cannot be read, or that is not a bundle
 * of PEM certificates, is a usage error (exit 2): checked by the CLI before a command runs, so a wrong file is told
 * as such, not later as an unreachable server or a failed handshake.
 */
export function controlCaPem(): Buffer | undefined {
  return caBytes();
}

function caBytes(): Buffer | undefined {
  if (access.caFile === undefined || access.caFile === "") return undefined;
  ca ??= readCaBundle(access.caFile);
  return ca;
}

const PEM_LABEL = /-----BEGIN ([^-\r\n]*)-----/g;
const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+?-----END CERTIFICATE-----/g;

/**
 * A CA bundle: one or more PEM certificates and nothing else that PEM can say (a key is refused, never echoed).
 * Throws a UsageError naming the file and the reason.
 */
export function readCaBundle(file: string): Buffer {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "a directory, not a file" : errorMessage(err);
    throw new UsageError(`--ca-file ${file}: ${why}`);
  }
  const text = bytes.toString("latin1");
  const labels = [...text.matchAll(PEM_LABEL)].map((m) => m[1] ?? "");
  const other = labels.find((l) => l !== "CERTIFICATE");
  if (other !== undefined)
    throw new UsageError(`--ca-file ${file}: holds a PEM "${other}" block; a CA file holds certificates only`);
  if (labels.length === 0)
    throw new UsageError(
      `--ca-file ${file}: not a PEM certificate bundle (no "-----BEGIN CERTIFICATE-----" line); give the control plane's CA, e.g. <data-dir>/ca.pem`,
    );
  const blocks = [...text.matchAll(PEM_CERTIFICATE)].map((m) => m[0]);
  if (blocks.length !== labels.length)
    throw new UsageError(
      `--ca-file ${file}: a certificate block is cut short or not base64 between its BEGIN and END lines`,
    );
  for (const [i, pem] of blocks.entries()) {
    try {
      new X509Certificate(pem);
    } catch (err) {
      throw new UsageError(
        `--ca-file ${file}: certificate ${i + 1} of ${blocks.length} is not a valid X.509 certificate (${errorMessage(err)})`,
      );
    }
  }
  return bytes;
}

const NULL_BODY = new Set([101, 204, 205, 304]);

/**
 * fetch() for the control plane: plain fetch for http://, and for https:// a request that trusts --ca-file (the
 * mesh CA) besides the system's roots, which the global fetch cannot be told per call. The answer is a standard
 * Response, its body streamed (watches read it as it comes).
 */
export async function controlFetch(url: string | URL, init: RequestInit = {}): Promise<Response> {
  const target = new URL(url);
  if (target.protocol !== "https:") return fetch(target, init);
  const caCert = caBytes();
  // Loaded on the first https call only: most commands and every sidecar start without node:https.
  const [{ request: httpsRequest }, { Readable }] = await Promise.all([import("node:https"), import("node:stream")]);
  const headers = new Headers(init.headers);
  const body = init.body;
  return new Promise<Response>((resolve, reject) => {
    const req = httpsRequest(
      target,
      {
        method: init.method ?? "GET",
        headers: Object.fromEntries(headers),
        ...(caCert === undefined ? {} : { ca: caCert }),
        ...(init.signal === undefined || init.signal === null ? {} : { signal: init.signal }),
        minVersion: "TLSv1.2",
      },
      (res) => {
        const responseHeaders = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          if (value === undefined) continue;
          for (const v of Array.isArray(value) ? value : [value]) responseHeaders.append(name, v);
        }
        const status = res.statusCode ?? 500;
        const stream = NULL_BODY.has(status) ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>);
        if (stream === null) res.resume();
        resolve(new Response(stream, { status, headers: responseHeaders }));
      },
    );
    req.on("error", (err) => reject(Object.assign(new TypeError("fetch failed"), { cause: err })));
    if (body === undefined || body === null) req.end();
    else if (typeof body === "string" || Buffer.isBuffer(body) || body instanceof Uint8Array) req.end(body);
    else reject(new TypeError("controlFetch: unsupported body type"));
  });
}
