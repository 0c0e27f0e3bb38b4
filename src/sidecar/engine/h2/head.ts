import type { IncomingHttpHeaders } from "node:http2";
import type { Framing, Head } from "../head.ts";

/**
 * An HTTP/2 header block as the engine's Head, so stages, matchers, telemetry and an HTTP/1.1 upstream read it
 * as they read any request: pseudo-headers left out (the caller passes method, target and authority), names
 * already lower-case (HTTP/2 requires it), `host` from `:authority` (which wins over a Host field, RFC 9113
 * §8.3.1), repeated fields one entry each. No body (END_STREAM on the headers): framing "none"; a valid
 * content-length: "length" (the stream is held to it); else "chunked" (length unknown, as HTTP/1.1 sends it).
 */
export function h2Head(
  headers: IncomingHttpHeaders,
  method: string,
  target: string,
  authority: string,
  endStream: boolean,
  status = 0,
): Head {
  const names: string[] = [];
  const values: string[] = [];
  if (authority !== "") {
    names.push("host");
    values.push(authority);
  }
  let contentLength = -1;
  for (const name of Object.keys(headers)) {
    if (name.charCodeAt(0) === 58 || (name === "host" && authority !== "")) continue;
    const v = headers[name];
    if (v === undefined) continue;
    if (Array.isArray(v)) {
      for (const one of v) {
        names.push(name);
        values.push(one);
      }
      continue;
    }
    if (name === "content-length") contentLength = /^\d{1,15}$/.test(v) ? Number(v) : -2;
    names.push(name);
    values.push(v);
  }
  const framing: Framing = endStream ? "none" : contentLength >= 0 ? "length" : "chunked";
  return {
    method,
    target,
    status,
    reason: "",
    minor: 1,
    names,
    rawNames: names,
    values,
    framing,
    contentLength: framing === "length" ? contentLength : 0,
    connection: [],
    close: false,
    bytes: 0,
  };
}
