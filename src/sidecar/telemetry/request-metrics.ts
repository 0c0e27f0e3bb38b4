import type { Registry } from "prom-client";
import { METRIC_PREFIX } from "../../common/metrics.ts";
import type { ConnectionRecord, Direction, RequestRecord } from "./record.ts";
import { CounterFamily, type CounterSeries, HistogramFamily, type HistogramSeries } from "./series.ts";
import { UNKNOWN_SOURCE } from "./source-identity.ts";

/**
 * Istio's standard request metrics, in meshlet's names:
 * `meshlet_requests_total`, `meshlet_request_duration_seconds`,
 * `meshlet_request_bytes` and `meshlet_response_bytes`, all with the same
 * labels, and `meshlet_tcp_*` for upgraded (WebSocket) connections.
 *
 * Label values are bounded: services come from the running config (a caller
 * the sidecar cannot trust is `unknown`), versions from endpoint labels (at
 * most MAX_VERSIONS per service, then `other`), codes are three digits or
 * `0`, flags a fixed set, grpc_status 0-16 or `other`. Past MAX_GROUPS
 * (source, destination, version) triples every label but direction is
 * `overflow`, so a bad config cannot exhaust the scrape either.
 */
export const MAX_VERSIONS = 20;
export const MAX_GROUPS = 2000;
export const OVERFLOW = "overflow";
const MAX_LABEL_LENGTH = 63;

const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const BYTE_BUCKETS = [64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216];

interface Series {
  readonly requests: CounterSeries;
  readonly duration: HistogramSeries;
  readonly requestBytes: HistogramSeries;
  readonly responseBytes: HistogramSeries;
}

/** The series of one (direction, source, destination, version): the usual answer made once, the rest on demand. */
interface Group {
  readonly labels: readonly [Direction, string, string, string];
  /** Answers without flags or gRPC status, by exact code. */
  readonly plain: Map<number, Series>;
  /** Anything else, by `code flags grpc`. */
  readonly other: Map<string, Series>;
  /** The series by their label values: two raw values with one label (two codes that are both "other") share one. */
  readonly byLabels: Map<string, Series>;
  tcp: TcpSeries | undefined;
}

interface TcpSeries {
  readonly opened: CounterSeries;
  readonly closed: CounterSeries;
  readonly received: CounterSeries;
  readonly sent: CounterSeries;
}

export class RequestMetrics {
  readonly requests: CounterFamily;
  readonly duration: HistogramFamily;
  readonly requestBytes: HistogramFamily;
  readonly responseBytes: HistogramFamily;
  readonly tcpOpened: CounterFamily;
  readonly tcpClosed: CounterFamily;
  readonly tcpReceived: CounterFamily;
  readonly tcpSent: CounterFamily;
  /** direction -> destination -> version -> source -> group: nested maps, so a lookup builds no key string. */
  readonly #groups = new Map<Direction, Map<string, Map<string, Map<string, Group>>>>();
  #groupCount = 0;
  readonly #byLabels = new Map<string, Group>();
  readonly #overflow: Record<Direction, Group> = {
    outbound: overflowGroup("outbound"),
    inbound: overflowGroup("inbound"),
  };
  /** Versions seen per destination service, for the MAX_VERSIONS cap. */
  readonly #versions = new Map<string, Set<string>>();

  constructor(registry: Registry) {
    const name = (n: string) => `${METRIC_PREFIX}${n}`;
    this.requests = new CounterFamily(
      registry,
      name("requests_total"),
      "Requests completed, by direction, source and destination service, destination version, exact response code, response flags and gRPC status",
    );
    this.duration = new HistogramFamily(
      registry,
      name("request_duration_seconds"),
      "Time from the request's arrival to the end of its response",
      DURATION_BUCKETS,
    );
    this.requestBytes = new HistogramFamily(
      registry,
      name("request_bytes"),
      "Request body bytes sent upstream",
      BYTE_BUCKETS,
    );
    this.responseBytes = new HistogramFamily(
      registry,
      name("response_bytes"),
      "Response body bytes sent to the client",
      BYTE_BUCKETS,
    );
    const tcp = (n: string, help: string) => new CounterFamily(registry, name(`tcp_${n}`), help);
    this.tcpOpened = tcp("connections_opened_total", "Upgraded (WebSocket) connections relayed to an upstream");
    this.tcpClosed = tcp("connections_closed_total", "Upgraded (WebSocket) connections that ended");
    this.tcpReceived = tcp("received_bytes_total", "Bytes received from the client on upgraded connections");
    this.tcpSent = tcp("sent_bytes_total", "Bytes sent to the client on upgraded connections");
  }

  /** Counts a completed request; `version` is the destination's (its endpoint's `version` label), "" when unknown. */
  record(r: RequestRecord, version: string, durationSeconds: number): void {
    const group = this.#group(r.direction, r.sourceService, r.destinationService, version);
    const plain = r.flags === "" && r.grpcStatus === "";
    let series = plain ? group.plain.get(r.status) : group.other.get(`${r.status} ${r.flags} ${r.grpcStatus}`);
    if (series === undefined) {
      const [d, s, dest, v] = group.labels;
      const code = codeLabel(r.status);
      const flags = r.flags === "" ? "-" : r.flags;
      const grpc = grpcLabel(r.grpcStatus);
      const key = `${code} ${flags} ${grpc}`;
      series = group.byLabels.get(key) ?? this.#series(d, s, dest, v, code, flags, grpc);
      group.byLabels.set(key, series);
      if (plain) group.plain.set(r.status, series);
      else group.other.set(`${r.status} ${r.flags} ${r.grpcStatus}`, series);
    }
    series.requests.value++;
    this.duration.observe(series.duration, durationSeconds);
    this.requestBytes.observe(series.requestBytes, r.requestBytes);
    this.responseBytes.observe(series.responseBytes, r.responseBytes);
  }

  connectionOpened(c: Omit<ConnectionRecord, "receivedBytes" | "sentBytes">, version: string): void {
    this.#tcp(c, version).opened.value++;
  }

  connectionClosed(c: ConnectionRecord, version: string): void {
    const t = this.#tcp(c, version);
    t.closed.value++;
    t.received.value += c.receivedBytes;
    t.sent.value += c.sentBytes;
  }

  #tcp(c: Omit<ConnectionRecord, "receivedBytes" | "sentBytes">, version: string): TcpSeries {
    const group = this.#group(c.direction, c.sourceService, c.destinationService, version);
    if (group.tcp === undefined) {
      const [direction, source_service, destination_service, destination_version] = group.labels;
      const labels = { direction, source_service, destination_service, destination_version };
      group.tcp = {
        opened: this.tcpOpened.add(labels),
        closed: this.tcpClosed.add(labels),
        received: this.tcpReceived.add(labels),
        sent: this.tcpSent.add(labels),
      };
    }
    return group.tcp;
  }

  #group(direction: Direction, source: string, destination: string, version: string): Group {
    const found = this.#groups.get(direction)?.get(destination)?.get(version)?.get(source);
    if (found !== undefined) return found;
    // Past the cap nothing is added to the maps either: one shared group per direction takes the rest.
    if (this.#groupCount >= MAX_GROUPS) return this.#overflow[direction];
    const labels = [
      direction,
      bounded(source),
      bounded(destination),
      this.#versionLabel(destination, version),
    ] as const;
    // Raw values that get one label (two versions past the cap are both "other") share the group of that label.
    const key = labels.join("\n");
    let group = this.#byLabels.get(key);
    if (group === undefined) {
      group = newGroup(labels);
      this.#byLabels.set(key, group);
      this.#groupCount++;
    }
    child(child(child(this.#groups, direction), destination), version).set(source, group);
    return group;
  }

  #versionLabel(destination: string, version: string): string {
    if (version === "") return UNKNOWN_SOURCE;
    let seen = this.#versions.get(destination);
    if (seen === undefined) {
      seen = new Set();
      this.#versions.set(destination, seen);
    }
    if (!seen.has(version)) {
      if (seen.size >= MAX_VERSIONS) return "other";
      seen.add(version);
    }
    return bounded(version);
  }

  #series(d: Direction, s: string, dest: string, v: string, code: string, flags: string, grpc: string): Series {
    const labels = {
      direction: d,
      source_service: s,
      destination_service: dest,
      destination_version: v,
      response_code: code,
      response_flags: flags,
      grpc_status: grpc,
    };
    return {
      requests: this.requests.add(labels),
      duration: this.duration.add(labels),
      requestBytes: this.requestBytes.add(labels),
      responseBytes: this.responseBytes.add(labels),
    };
  }
}

/** An exact status code; 0 when no response was sent (the client left), "other" outside 100-599. */
export function codeLabel(status: number): string {
  if (status === 0) return "0";
  return Number.isInteger(status) && status >= 100 && status <= 599 ? String(status) : "other";
}

/** gRPC status codes are 0-16 (grpc/doc/statuscodes.md): anything else an upstream sends is "other". */
export function grpcLabel(value: string): string {
  if (value === "") return "";
  const n = Number(value);
  return /^\d{1,2}$/.test(value) && n <= 16 ? String(n) : "other";
}

function bounded(v: string): string {
  return v.length > MAX_LABEL_LENGTH ? OVERFLOW : v;
}

function newGroup(labels: readonly [Direction, string, string, string]): Group {
  return { labels, plain: new Map(), other: new Map(), byLabels: new Map(), tcp: undefined };
}

function overflowGroup(direction: Direction): Group {
  return newGroup([direction, OVERFLOW, OVERFLOW, OVERFLOW]);
}

/** The map under `key`, made when missing. */
function child<K, V>(m: Map<K, Map<string, V>>, key: K): Map<string, V> {
  let c = m.get(key);
  if (c === undefined) {
    c = new Map();
    m.set(key, c);
  }
  return c;
}
