import * as fs from "node:fs";
import * as path from "node:path";

/**
 * The control plane is secure by default: every API call needs a token. Tests that start control-plane nodes
 * register each node's HTTP origin here with the admin token file of its cluster (`<data-dir>/admin-token`, the
 * file a founding node writes on first start); from then on a `fetch` to that origin without an Authorization
 * header carries `Bearer <that token>`, and the CLI processes the tests start get it as MESHLET_TOKEN. A test
 * about refusals sends its own header (an empty one for "no token"), which is left as it is.
 */
const tokenFiles = new Map<string, string>();
let lastTokenFile: string | undefined;
let installed = false;

export function adminTokenFile(dataDir: string): string {
  return path.join(dataDir, "admin-token");
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

/** Calls to `origin` (e.g. http://127.0.0.1:PORT) carry the token in `tokenFile` unless they set their own. */
export function authorizeControlPlane(origin: string, tokenFile: string): void {
  tokenFiles.set(new URL(origin).origin, tokenFile);
  lastTokenFile = tokenFile;
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
    const file = tokenFiles.get(origin);
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
    const token = file === undefined ? undefined : readToken(file);
    if (token === undefined || headers.has("authorization")) return plain(input, init);
    headers.set("authorization", `Bearer ${token}`);
    return plain(input, { ...init, headers });
  };
}

/** MESHLET_TOKEN for CLI processes: the token of the cluster a test started last (empty before any). */
export function controlTokenEnv(): NodeJS.ProcessEnv {
  const token = lastTokenFile === undefined ? undefined : readToken(lastTokenFile);
  return token === undefined ? {} : { MESHLET_TOKEN: token };
}
