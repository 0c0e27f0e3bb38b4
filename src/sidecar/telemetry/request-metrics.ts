import { Counter, Histogram, type Registry } from "prom-client";
import { METRIC_PREFIX } from "../../common/metrics.ts";
import type { ConnectionRecord, Direction, EndpointRef, RequestRecord } from "./record.ts";
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
const LABELS = [
  "direction",
  "source_service",
  "destination_service",
  "destination_version",
  "response_code",
  "response_flags",
  "grpc_status",
] as const;
const TCP_LABELS = ["direction", "source_service", "destination_service", "destination_version"] as const;

export const MAX_VERSIONS = 20;
export const MAX_GROUPS = 2000;
export const OVERFLOW = "overflow";
const MAX_LABEL_LENGTH = 63;

const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const BYTE_BUCKETS = [64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216];

interface Series {
  readonly requests: { inc(): void };
  readonly duration: { observe(v: number): void };
  readonly requestBytes: { observe(v: number): void };
  readonly responseBytes: { observe(v: number): void };
}

/** The series of one (direction, source, destination, version): the usual answer made once, the rest on demand. */
interface Group {
  readonly labels: readonly [Direction, string, string, string];
  /** Answers without flags or gRPC status, by exact code. */
  readonly plain: Map<number, Series>;
  /** Anything else, by `code flags grpc`. */
  readonly other: Map<string, Series>;
  tcp: TcpSeries | undefined;
}

interface TcpSeries {
  readonly opened: { inc(): void };
  readonly closed: { inc(): void };
  readonly received: { inc(v: number): void };
  readonly sent: { inc(v: number): void };
}

export class RequestMetrics {
  readonly requests: Counter<(typeof LABELS)[number]>;
  readonly duration: Histogram<(typeof LABELS)[number]>;
  readonly requestBytes: Histogram<(typeof LABELS)[number]>;
  readonly responseBytes: Histogram<(typeof LABELS)[number]>;
  readonly tcpOpened: Counter<(typeof TCP_LABELS)[number]>;
  readonly tcpClosed: Counter<(typeof TCP_LABELS)[number]>;
  readonly tcpReceived: Counter<(typeof TCP_LABELS)[number]>;
  readonly tcpSent: Counter<(typeof TCP_LABELS)[number]>;
  /** direction -> destination -> version -> source -> group: nested maps, so a lookup builds no key string. */
  readonly #groups = new Map<Direction, Map<string, Map<string, Map<string, Group>>>>();
  #groupCount = 0;
  readonly #overflow: Record<Direction, Group> = {
    outbound: overflowGroup("outbound"),
    inbound: overflowGroup("inbound"),
  };
  /** Versions seen per destination service, for the MAX_VERSIONS cap. */
  readonly #versions = new Map<string, Set<string>>();

  constructor(registry: Registry) {
    const registers = [registry];
    const labelNames = LABELS;
    this.requests = new Counter({
      name: `${METRIC_PREFIX}requests_total`,
      help: "Requests completed, by direction, source and destination service, destination version, exact response code, response flags and gRPC status",
      labelNames,
      registers,
    });
    this.duration = new Histogram({
      name: `${METRIC_PREFIX}request_duration_seconds`,
      help: "Time from the request's arrival to the end of its response",
      labelNames,
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.requestBytes = new Histogram({
      name: `${METRIC_PREFIX}request_bytes`,
      help: "Request body bytes sent upstream",
      labelNames,
      buckets: BYTE_BUCKETS,
      registers,
    });
    this.responseBytes = new Histogram({
      name: `${METRIC_PREFIX}response_bytes`,
      help: "Response body bytes sent to the client",
      labelNames,
      buckets: BYTE_BUCKETS,
      registers,
    });
    const tcp = (name: string, help: string) =>
      new Counter({ name: `${METRIC_PREFIX}tcp_${name}`, help, labelNames: TCP_LABELS, registers });
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
      series = this.#series(
        d,
        s,
        dest,
        v,
        codeLabel(r.status),
        r.flags === "" ? "-" : r.flags,
        grpcLabel(r.grpcStatus),
      );
      if (plain) group.plain.set(r.status, series);
      else group.other.set(`${r.status} ${r.flags} ${r.grpcStatus}`, series);
    }
    series.requests.inc();
    series.duration.observe(durationSeconds);
    series.requestBytes.observe(r.requestBytes);
    series.responseBytes.observe(r.responseBytes);
  }

  connectionOpened(c: Omit<ConnectionRecord, "receivedBytes" | "sentBytes">, version: string): void {
    this.#tcp(c, version).opened.inc();
  }

  connectionClosed(c: ConnectionRecord, version: string): void {
    const t = this.#tcp(c, version);
    t.closed.inc();
    t.received.inc(c.receivedBytes);
    t.sent.inc(c.sentBytes);
  }

  /** Makes the plain series of a destination's endpoints ahead of traffic (called per snapshot). */
  prepare(direction: Direction, source: string, destination: string, endpoints: readonly EndpointRef[]): void {
    for (const e of endpoints) this.#group(direction, source, destination, e.labels.version ?? "");
  }

  #tcp(c: Omit<ConnectionRecord, "receivedBytes" | "sentBytes">, version: string): TcpSeries {
    const group = this.#group(c.direction, c.sourceService, c.destinationService, version);
    if (group.tcp === undefined) {
      const labels = group.labels;
      group.tcp = {
        opened: this.tcpOpened.labels(...labels),
        closed: this.tcpClosed.labels(...labels),
        received: this.tcpReceived.labels(...labels),
        sent: this.tcpSent.labels(...labels),
      };
    }
    return group.tcp;
  }

  #group(direction: Direction, source: string, destination: string, version: string): Group {
    const found = this.#groups.get(direction)?.get(destination)?.get(version)?.get(source);
    if (found !== undefined) return found;
    // Past the cap nothing is added to the maps either: one shared group per direction takes the rest.
    if (this.#groupCount >= MAX_GROUPS) return this.#overflow[direction];
    const group: Group = {
      labels: [direction, bounded(source), bounded(destination), this.#versionLabel(destination, version)],
      plain: new Map(),
      other: new Map(),
      tcp: undefined,
    };
    this.#groupCount++;
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
    return {
      requests: this.requests.labels(d, s, dest, v, code, flags, grpc),
      duration: this.duration.labels(d, s, dest, v, code, flags, grpc),
      requestBytes: this.requestBytes.labels(d, s, dest, v, code, flags, grpc),
      responseBytes: this.responseBytes.labels(d, s, dest, v, code, flags, grpc),
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

function overflowGroup(direction: Direction): Group {
  return { labels: [direction, OVERFLOW, OVERFLOW, OVERFLOW], plain: new Map(), other: new Map(), tcp: undefined };
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
