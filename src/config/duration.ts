/**
 * Durations in Go's `time.ParseDuration` syntax, which Envoy, Istio, Linkerd
 * and Kubernetes users already write: one or more decimal numbers, each with
 * a unit (`ns`, `us`/`µs`, `ms`, `s`, `m`, `h`), e.g. "1m30s", "1.5s",
 * "500us", "2h45m". A bare "0" is zero. No sign: a mesh never waits a
 * negative time.
 */
const COMPONENT = /(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** The same grammar as a whole-string regular expression, for the JSON Schema and zod. */
export const DURATION_PATTERN = "^(?:0|(?:(?:\\d+\\.?\\d*|\\.\\d+)(?:ns|us|µs|μs|ms|s|m|h))+)$";
export const DURATION_HINT = 'expected a duration like "1m30s", "1.5s", "250ms" or "500us"';

/** "1m30s" -> 90000; "500us" -> 0.5; "0" -> 0 (milliseconds); undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  if (text === "0") return 0;
  if (text === "") return undefined;
  COMPONENT.lastIndex = 0;
  let ms = 0;
  while (COMPONENT.lastIndex < text.length) {
    const m = COMPONENT.exec(text);
    if (m === null || m[1] === undefined || m[2] === undefined) return undefined;
    const unit = UNIT_MS[m[2]];
    if (unit === undefined) return undefined;
    ms += Number(m[1]) * unit;
  }
  return Number.isFinite(ms) ? ms : undefined;
}

/** For values already validated by the schema. */
export function durationMs(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined) throw new Error(`invalid duration "${text}"`);
  return ms;
}
