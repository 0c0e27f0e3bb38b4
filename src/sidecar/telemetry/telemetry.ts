import type { Registry } from "prom-client";
import type { Clock } from "../../common/clock.ts";
import type { IdentitySource } from "../identity-table.ts";
import { ACCESS_LOG_OFF, type AccessLogPolicy, accessLogLine, type LineSink, shouldLog } from "./access-log.ts";
import { type IdSource, randomIds } from "./ids.ts";
import type { ConnectionRecord, Direction, EndpointRef, RequestRecord, SpanIds } from "./record.ts";
import { RequestMetrics } from "./request-metrics.ts";
import { claimedSource, meshPeers, PeerSources, setSourceHeader, UNKNOWN_SOURCE } from "./source-identity.ts";
import type { FinishedSpan, SpanExporter } from "./spans.ts";
import { extractTraceContext, injectTraceContext } from "./trace-context.ts";

export interface TracingOptions {
  readonly exporter: SpanExporter;
  /** Share of new traces sampled, 0-1; a caller's decision (sampled flag) is kept as it is. */
  readonly sampleRate: number;
}

export interface TelemetryOptions {
  readonly localService: string;
  /** This instance's `version` label: the destination version of inbound requests answered before the app. */
  readonly localVersion: string;
  readonly registry: Registry;
  readonly clock: Clock;
  /** Wall-clock milliseconds since the epoch, for log lines and spans. */
  readonly wallNow: () => number;
  /** Uniform in [0, 1): access-log and trace sampling. */
  readonly random: () => number;
  readonly ids?: IdSource;
  readonly accessLog: AccessLogPolicy;
  readonly accessLogSink: LineSink | undefined;
  /** Who a verified peer identity is (the sidecar's one identity table). */
  readonly identities: IdentitySource;
}

/** What telemetry needs from a snapshot: the Services, their endpoints and access-log settings. */
export interface TelemetryView {
  readonly services: Iterable<{
    readonly name: string;
    readonly endpoints: readonly (EndpointRef & { readonly address: string })[];
    readonly accessLog?: AccessLogPolicy | undefined;
  }>;
}

const REQUEST_ID = "x-request-id";

/**
 * The one place a request's telemetry is made: `begin` when it arrives,
 * `outgoingHeaders` on the request sent upstream, `complete` once its
 * response ended (metrics, access log line, span). Built for the request
 * path: what depends on the config is built in `swap`, once per snapshot.
 */
export class Telemetry {
  readonly metrics: RequestMetrics;
  readonly #o: TelemetryOptions;
  readonly #ids: IdSource;
  #tracing: TracingOptions | undefined;
  readonly #identities: IdentitySource;
  #sources: PeerSources;
  /** Access-log settings of the Services that have their own. */
  #accessLogs: ReadonlyMap<string, AccessLogPolicy> = new Map();

  constructor(options: TelemetryOptions) {
    this.#o = options;
    this.#ids = options.ids ?? randomIds();
    this.#identities = options.identities;
    this.#sources = new PeerSources(meshPeers([]), this.#identities);
    this.metrics = new RequestMetrics(options.registry);
  }

  /** Turns tracing on (at start-up, once the exporter is loaded): until then no span is made. */
  useTracing(tracing: TracingOptions): void {
    this.#tracing = tracing;
  }

  /** Takes a new snapshot's Services: who belongs to the mesh (plain-text callers), who logs what. */
  swap(view: TelemetryView): void {
    const services = [...view.services];
    this.#sources = new PeerSources(meshPeers(services), this.#identities);
    const logs = new Map<string, AccessLogPolicy>();
    for (const s of services) if (s.accessLog !== undefined) logs.set(s.name, s.accessLog);
    this.#accessLogs = logs;
  }

  /**
   * A request arrived. `raw` is its header list as received ([name, value,
   * ...]); `peer` the address of the connection it came on; `peerIdentity`
   * the verified SPIFFE ID of an mTLS connection (undefined on plain text).
   */
  begin(
    direction: Direction,
    method: string,
    authority: string,
    path: string,
    raw: readonly string[],
    peer: string | undefined,
    peerIdentity?: string,
  ): RequestRecord {
    const ext = extractTraceContext(raw);
    const parent = ext.parent;
    let span: SpanIds | undefined;
    const tracing = this.#tracing;
    if (tracing !== undefined) {
      const sampled = ext.sampling ?? this.#o.random() < tracing.sampleRate;
      span = {
        traceId: parent?.traceId ?? this.#ids.traceId(),
        spanId: this.#ids.spanId(),
        parentSpanId: parent?.spanId ?? "",
        sampled,
        tracestate: parent?.tracestate ?? "",
        format: parent?.format,
      };
    } else if (parent === undefined) {
      // Tracing off: a request without a usable context still leaves with one, so the app's own spans join up.
      span = {
        traceId: this.#ids.traceId(),
        spanId: this.#ids.spanId(),
        parentSpanId: "",
        sampled: ext.sampling ?? true,
        tracestate: "",
        format: undefined,
      };
    }
    const requestId = headerValue(raw, REQUEST_ID);
    return {
      direction,
      method,
      authority,
      path,
      startWallMs: this.#o.wallNow(),
      startMs: this.#o.clock.now(),
      requestId: requestId ?? this.#ids.requestId(),
      sourceService:
        direction === "outbound"
          ? this.#o.localService
          : this.#sources.sourceOf(peerIdentity, peer, claimedSource(raw)),
      peerIdentity: direction === "inbound" ? peerIdentity : undefined,
      destinationService: UNKNOWN_SOURCE,
      endpoint: undefined,
      upstream: undefined,
      attempts: 0,
      status: 0,
      flags: "",
      grpcStatus: "",
      requestBytes: 0,
      responseBytes: 0,
      traceId: span?.traceId ?? parent?.traceId ?? "",
      span,
      requestIdGenerated: requestId === undefined,
    };
  }

  /**
   * Sets the headers of the request sent upstream (a flat list, in place):
   * x-meshlet-source (ours on outbound, the trusted one or none on inbound),
   * x-request-id when the client sent none, and the trace headers with our
   * span as the parent.
   */
  outgoingHeaders(r: RequestRecord, headers: string[]): void {
    setSourceHeader(headers, r.sourceService);
    if (r.requestIdGenerated) headers.push(REQUEST_ID, r.requestId);
    if (r.span !== undefined) injectTraceContext(headers, r.span);
  }

  /** The response ended (or the client left): counted, logged and traced once. */
  complete(r: RequestRecord): void {
    const up = r.upstream;
    if (up !== undefined) {
      r.requestBytes += up.sentBytes;
      r.responseBytes += up.receivedBytes;
      if (r.grpcStatus === "") r.grpcStatus = up.grpcStatus;
    }
    const durationMs = this.#o.clock.now() - r.startMs;
    this.metrics.record(r, this.#versionOf(r), durationMs / 1000);
    const sink = this.#o.accessLogSink;
    if (sink !== undefined && shouldLog(this.#accessLogOf(r), this.#o.random)) sink.write(accessLogLine(r, durationMs));
    const exporter = this.#tracing?.exporter;
    if (exporter !== undefined && r.span?.sampled === true) exporter.export(finishedSpan(r, durationMs));
  }

  connectionOpened(c: Omit<ConnectionRecord, "receivedBytes" | "sentBytes">): void {
    this.metrics.connectionOpened(c, this.#versionOf(c));
  }

  connectionClosed(c: ConnectionRecord): void {
    this.metrics.connectionClosed(c, this.#versionOf(c));
  }

  /** The endpoint's version; on inbound, this instance's even when the app was not reached (a local 429). */
  #versionOf(r: { direction: Direction; endpoint: EndpointRef | undefined }): string {
    return r.endpoint?.labels.version ?? (r.direction === "inbound" ? this.#o.localVersion : "");
  }

  async shutdown(): Promise<void> {
    await this.#tracing?.exporter.shutdown();
  }

  #accessLogOf(r: RequestRecord): AccessLogPolicy {
    const service = r.direction === "outbound" ? r.destinationService : this.#o.localService;
    return this.#accessLogs.get(service) ?? this.#o.accessLog ?? ACCESS_LOG_OFF;
  }
}

/** The first value of a header (lower-case `name`) in a flat list. */
function headerValue(raw: readonly string[], name: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i] as string;
    if (n.length === name.length && n.toLowerCase() === name) return raw[i + 1];
  }
  return undefined;
}

function finishedSpan(r: RequestRecord, durationMs: number): FinishedSpan {
  const span = r.span as SpanIds;
  const attributes: Record<string, string | number> = {
    "http.request.method": r.method,
    "url.path": r.path,
    "server.address": r.authority,
    "http.response.status_code": r.status,
    "meshlet.direction": r.direction,
    "meshlet.response_flags": r.flags === "" ? "-" : r.flags,
    "meshlet.source_service": r.sourceService,
    "meshlet.destination_service": r.destinationService,
    "meshlet.upstream_address": r.endpoint?.key ?? "",
    "meshlet.attempts": r.attempts,
    "meshlet.request_id": r.requestId,
  };
  if (r.peerIdentity !== undefined) attributes["meshlet.peer_identity"] = r.peerIdentity;
  if (r.grpcStatus !== "") attributes["rpc.grpc.status_code"] = Number(r.grpcStatus);
  return {
    name: `${r.direction} ${r.destinationService}`,
    kind: r.direction === "inbound" ? "server" : "client",
    traceId: span.traceId,
    spanId: span.spanId,
    parentSpanId: span.parentSpanId,
    tracestate: span.tracestate,
    startWallMs: r.startWallMs,
    durationMs,
    error: r.status === 0 || r.status >= 500,
    attributes,
  };
}
