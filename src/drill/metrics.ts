/** One sample of a Prometheus text exposition: name, labels, value. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses the samples of `names` (others skipped) from a /metrics body. */
export function parseSamples(text: string, names: ReadonlySet<string>): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = LINE.exec(line);
    if (m === null || !names.has(m[1] ?? "")) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(LABEL)) labels[l[1] ?? ""] = (l[2] ?? "").replace(/\\(.)/g, "$1");
    out.push({ name: m[1] ?? "", labels, value: Number(m[3]) });
  }
  return out;
}

/** Outbound request counts of one sidecar: total, failed (5xx), served by a fallback (flag FB). */
export interface RequestCounts {
  requests: number;
  errors: number;
  fallbacks: number;
}

export function requestCounts(samples: readonly Sample[], destination: string | undefined): RequestCounts {
  const c = { requests: 0, errors: 0, fallbacks: 0 };
  for (const s of samples) {
    if (s.name !== "meshlet_requests_total" || s.labels.direction !== "outbound") continue;
    if (destination !== undefined && s.labels.destination_service !== destination) continue;
    c.requests += s.value;
    if (Number(s.labels.response_code) >= 500) c.errors += s.value;
    if ((s.labels.response_flags ?? "").split(",").includes("FB")) c.fallbacks += s.value;
  }
  return c;
}
