import type { TraceFormat } from "./trace-context.ts";

export type Direction = "outbound" | "inbound";

/** The endpoint a request went to: its address and the labels it registered with (`version` among them). */
export interface EndpointRef {
  readonly key: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** What an upstream exchange counted; read when the request completes. */
export interface UpstreamCounts {
  readonly sentBytes: number;
  readonly receivedBytes: number;
  readonly grpcStatus: string;
}

/** The sidecar's own span of a request, with the caller's span as its parent. */
export interface SpanIds {
  readonly traceId: string;
  readonly spanId: string;
  /** "" for a request that starts the trace. */
  readonly parentSpanId: string;
  readonly sampled: boolean;
  readonly tracestate: string;
  readonly format: TraceFormat | undefined;
}

/**
 * Everything telemetry needs about one request, filled in by the request path
 * as it goes and handed to `Telemetry.complete` once the response ended. Plain
 * data: no socket, no node:http object, so any engine can fill it.
 */
export interface RequestRecord {
  readonly direction: Direction;
  readonly method: string;
  readonly authority: string;
  readonly path: string;
  /** Wall-clock milliseconds (for the log line and the span), and monotonic milliseconds (for durations). */
  readonly startWallMs: number;
  readonly startMs: number;
  readonly requestId: string;
  /** The client sent no x-request-id: the sidecar made `requestId`, and adds it upstream. */
  readonly requestIdGenerated: boolean;
  /** The calling service: this sidecar's own on outbound; on inbound, from the peer's certificate or the trusted `x-meshlet-source`. */
  sourceService: string;
  /** Inbound over mTLS: the caller's verified SPIFFE ID; undefined on plain text and on outbound. */
  readonly peerIdentity: string | undefined;
  /** "unknown" until routed (and for a request no route takes). */
  destinationService: string;
  /** The last endpoint tried; undefined when none was (a local answer). */
  endpoint: EndpointRef | undefined;
  attempts: number;
  /** 0 when no response head was sent (the client left first). */
  status: number;
  /** Response flags, comma-joined; "" when none. */
  flags: string;
  /** grpc-status of a gRPC response (from its headers or trailers); "" otherwise. */
  grpcStatus: string;
  /** The last upstream exchange: its byte counts and gRPC status are added at completion. */
  upstream: UpstreamCounts | undefined;
  /** Body bytes sent upstream, and body bytes sent to the client (a local answer's body, or what upstream passed). */
  requestBytes: number;
  responseBytes: number;
  /** The trace this request belongs to ("" when unknown), and our span in it when tracing is on. */
  traceId: string;
  span: SpanIds | undefined;
}

/** A WebSocket (or other upgraded) connection, counted by bytes and connections rather than responses. */
export interface ConnectionRecord {
  readonly direction: Direction;
  readonly sourceService: string;
  readonly destinationService: string;
  readonly endpoint: EndpointRef | undefined;
  readonly receivedBytes: number;
  readonly sentBytes: number;
}
