import * as fs from "node:fs";
import * as path from "node:path";
import * as tls from "node:tls";

/**
 * The control plane is secure by default: TLS under the mesh CA, and every API call needs a token. Tests that
 * start control-plane nodes register each node's HTTPS origin here with the admin token file of its cluster
 * (`<data-dir>/admin-token`, the file a founding node writes on first start) and its CA bundle
 * (`<data-dir>/ca.pem`, written once the mesh CA is applied). From then on a `fetch` to that origin trusts the
 * CA and, without an Authorization header, carries `Bearer <that token>`; the CLI processes the tests start get
 * them as MESHLET_TOKEN and MESHLET_CA_FILE. A test about refusals sends its own header (an empty one for "no
 * token"), which is left as it is.
 */
const tokenFiles = new Map<string, string>();
const caFiles = new Map<string, string>();
/** CA bundles added to this process's default trust store, by file: the global fetch cannot take one per call. */
const trusted = new Map<string, string>();
let baseCas: string[] | undefined;
let lastTokenFile: string | undefined;
let lastCaFile: string | undefined;
let installed = false;

export function adminTokenFile(dataDir: string): string {
  return path.join(dataDir, "admin-token");
}

export function caFileOf(dataDir: string): string {
  return path.join(dataDir, "ca.pem");
}

/** The token in `file`, or undefined before the node wrote it. */
export function readToken(file: string): string | undefined {
  try {
    const token = fs.readFileSync(file, "utf8").trim();
    return token === "" ? undefined : token;
  } catch {
    return undefined;
  }
}

/** Trusts the bundle in `file` for every TLS client of this process (fetch included) once the node wrote it. */
export function trustCaFile(file: string): boolean {
  let pem: string;
  try {
    pem = fs.readFileSync(file, "utf8");
  } catch {
    return false;
  }
  if (pem === "" || trusted.get(file) === pem) return pem !== "";
  trusted.set(file, pem);
  baseCas ??= tls.getCACertificates("default");
  tls.setDefaultCACertificates([...baseCas, ...trusted.values()]);
  return true;
}

/**
 * Calls to `origin` (e.g. https://127.0.0.1:PORT) carry the token in `tokenFile` unless they set their own, and
 * trust the CA in `caFile` (default: ca.pem next to the token file).
 */
export function authorizeControlPlane(
  origin: string,
  tokenFile: string,
  caFile = path.join(path.dirname(tokenFile), "ca.pem"),
): void {
  tokenFiles.set(new URL(origin).origin, tokenFile);
  caFiles.set(new URL(origin).origin, caFile);
  lastTokenFile = tokenFile;
  lastCaFile = caFile;
  if (installed) return;
  installed = true;
  const plain = globalThis.fetch;
  globalThis.fetch = (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    let origin: string;
    try {
      origin = new URL(url).origin;
    } catch {
      return plain(input, init);
    }
    const ca = caFiles.get(origin);
    if (ca !== undefined) trustCaFile(ca);
    const file = tokenFiles.get(origin);
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
    const token = file === undefined ? undefined : readToken(file);
    if (token === undefined || headers.has("authorization")) return plain(input, init);
    headers.set("authorization", `Bearer ${token}`);
    return plain(input, { ...init, headers });
  };
}

/** MESHLET_TOKEN and MESHLET_CA_FILE for CLI processes: those of the cluster a test started last (once written). */
export function controlTokenEnv(): NodeJS.ProcessEnv {
  const token = lastTokenFile === undefined ? undefined : readToken(lastTokenFile);
  const ca = lastCaFile !== undefined && fs.existsSync(lastCaFile) ? lastCaFile : undefined;
  return {
    ...(token === undefined ? {} : { MESHLET_TOKEN: token }),
    ...(ca === undefined ? {} : { MESHLET_CA_FILE: ca }),
  };
}
