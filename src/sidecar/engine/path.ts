/**
 * Request path normalization, applied before routing AND to the path
 * forwarded, so a Route's prefix means what the upstream will serve
 * (`/public/../secret` and `/public/%2e%2e/secret` are `/secret`). As
 * Envoy's normalize_path, merge_slashes and path_with_escaped_slashes_action.
 */

/** What to do with `%2F` and `%5C` (escaped `/` and `\`). */
export type EscapedSlashes = "keep" | "reject" | "decode";

export interface PathOptions {
  readonly mergeSlashes: boolean;
  readonly escapedSlashes: EscapedSlashes;
}

export const DEFAULT_PATH_OPTIONS: PathOptions = { mergeSlashes: false, escapedSlashes: "keep" };

function hex(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** RFC 3986 §2.3 unreserved: decoding them never changes what the path means. */
function unreserved(c: number): boolean {
  return (
    (c >= 65 && c <= 90) ||
    (c >= 97 && c <= 122) ||
    (c >= 48 && c <= 57) ||
    c === 45 ||
    c === 46 ||
    c === 95 ||
    c === 126
  );
}

const UPPER_HEX = "0123456789ABCDEF";

/**
 * Decodes escaped unreserved characters, upper-cases the hex of the other
 * escapes and applies the escaped-slash choice. undefined: refused (a bad
 * escape, or an escaped slash under "reject").
 */
function decodeEscapes(path: string, slashes: EscapedSlashes): string | undefined {
  if (path.indexOf("%") < 0) return path;
  let out = "";
  let last = 0;
  for (let i = path.indexOf("%"); i >= 0; i = path.indexOf("%", i + 1)) {
    const h = hex(path.charCodeAt(i + 1));
    const l = hex(path.charCodeAt(i + 2));
    if (h < 0 || l < 0) return undefined;
    const c = h * 16 + l;
    let rep: string;
    if (unreserved(c)) rep = String.fromCharCode(c);
    else if (c === 0x2f || c === 0x5c) {
      if (slashes === "reject") return undefined;
      rep = slashes === "decode" ? String.fromCharCode(c) : `%${UPPER_HEX[h]}${UPPER_HEX[l]}`;
    } else rep = `%${UPPER_HEX[h]}${UPPER_HEX[l]}`;
    out += path.slice(last, i) + rep;
    last = i + 3;
    i += 2;
  }
  return out + path.slice(last);
}

/** RFC 3986 §5.2.4 remove_dot_segments, on an absolute path. */
export function removeDotSegments(path: string): string {
  // A dot segment follows a slash: a path with dots only inside names (every gRPC path: /pkg.Service/Method)
  // is returned as it is, without the split.
  if (path.indexOf("/.") < 0) return path;
  const segments = path.split("/");
  const out: string[] = [];
  // segments[0] is "" (the path starts with "/").
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i] as string;
    const last = i === segments.length - 1;
    if (s === ".") {
      if (last) out.push("");
    } else if (s === "..") {
      out.pop();
      if (last) out.push("");
    } else out.push(s);
  }
  return `/${out.join("/")}`;
}

function mergeSlashes(path: string): string {
  return path.indexOf("//") < 0 ? path : path.replace(/\/{2,}/g, "/");
}

/** A normalized origin-form path (no query); undefined when the path must be refused with 400. */
export function normalizePath(path: string, o: PathOptions): string | undefined {
  if (path.charCodeAt(0) !== 47) return undefined;
  const decoded = decodeEscapes(path, o.escapedSlashes);
  if (decoded === undefined) return undefined;
  const merged = o.mergeSlashes ? mergeSlashes(decoded) : decoded;
  return removeDotSegments(merged);
}
