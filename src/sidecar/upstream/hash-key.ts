import { hash32 } from "../../common/hash.ts";
import type { ConsistentHash } from "../../config/resources.ts";
import type { RequestView } from "../request-view.ts";

/** Extracts a request's hash for consistent hashing; undefined when the key is absent (the balancer then picks at random). */
export type HashKeyOf = (req: RequestView) => number | undefined;

export function hashKeyOf(spec: ConsistentHash): HashKeyOf {
  if (spec.header !== undefined) {
    const name = spec.header.toLowerCase();
    return (req) => {
      const v = req.headers[name];
      const s = Array.isArray(v) ? v[0] : v;
      return s === undefined ? undefined : hash32(s);
    };
  }
  if (spec.cookie !== undefined) {
    const prefix = `${spec.cookie.name}=`;
    return (req) => {
      const c = req.headers.cookie;
      const cookie = Array.isArray(c) ? c.join("; ") : c;
      if (cookie === undefined) return undefined;
      for (const part of cookie.split(";")) {
        const p = part.trim();
        if (p.startsWith(prefix)) return hash32(p.slice(prefix.length));
      }
      return undefined;
    };
  }
  if (spec.queryParameter !== undefined) {
    const name = spec.queryParameter;
    return (req) => {
      const url = req.url ?? "";
      const q = url.indexOf("?");
      if (q < 0) return undefined;
      const v = new URLSearchParams(url.slice(q + 1)).get(name);
      return v === null ? undefined : hash32(v);
    };
  }
  return (req) => {
    const ip = req.socket.remoteAddress;
    return ip === undefined ? undefined : hash32(ip);
  };
}
