/**
 * The sidecar's spans as plain data, and what exports them. The exporter is
 * loaded only when tracing is on (`load-exporter.ts`), so a sidecar without
 * --tracing-endpoint never loads the OpenTelemetry SDK.
 */
export interface FinishedSpan {
  readonly name: string;
  /** `server` for a request arriving at the inbound listener, `client` for the app's outgoing call. */
  readonly kind: "server" | "client";
  readonly traceId: string;
  readonly spanId: string;
  /** "" for a root span. */
  readonly parentSpanId: string;
  readonly tracestate: string;
  readonly startWallMs: number;
  readonly durationMs: number;
  readonly error: boolean;
  readonly attributes: Readonly<Record<string, string | number>>;
}

export interface SpanExporter {
  /** Queues a finished, sampled span; never blocks or throws on the request path. */
  export(span: FinishedSpan): void;
  /** Sends what is queued, then stops. */
  shutdown(): Promise<void>;
}

export interface OtlpOptions {
  /** OTLP/HTTP traces URL, e.g. http://collector:4318/v1/traces. */
  readonly endpoint: string;
  readonly serviceName: string;
  readonly instance: string;
  /** How long spans wait in the batch before they are sent. */
  readonly flushIntervalMs: number;
}
