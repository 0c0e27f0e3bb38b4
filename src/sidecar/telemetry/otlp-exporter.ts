import { type HrTime, SpanKind, SpanStatusCode, TraceFlags } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, type ReadableSpan } from "@opentelemetry/sdk-trace";
import { MESHLET_VERSION } from "../../common/version.ts";
import type { FinishedSpan, OtlpOptions, SpanExporter } from "./spans.ts";

/**
 * Spans to an OpenTelemetry collector over OTLP/HTTP, batched by the SDK's
 * BatchSpanProcessor (bounded queue: spans past it are dropped, never held).
 * The sidecar makes its own ids (it continues the caller's trace), so spans
 * are handed to the processor as finished ReadableSpans rather than made by
 * the SDK's tracer.
 */
export class OtlpSpanExporter implements SpanExporter {
  readonly #processor: BatchSpanProcessor;
  readonly #resource;
  readonly #scope = { name: "meshlet-sidecar", version: MESHLET_VERSION };

  constructor(o: OtlpOptions) {
    this.#resource = resourceFromAttributes({
      "service.name": o.serviceName,
      "service.instance.id": o.instance,
      "service.version": MESHLET_VERSION,
    });
    this.#processor = new BatchSpanProcessor({
      exporter: new OTLPTraceExporter({ url: o.endpoint }),
      scheduledDelayMillis: o.flushIntervalMs,
      maxQueueSize: 4096,
      maxExportBatchSize: 512,
    });
  }

  export(span: FinishedSpan): void {
    this.#processor.onEnd(this.#readable(span));
  }

  shutdown(): Promise<void> {
    return this.#processor.shutdown();
  }

  #readable(s: FinishedSpan): ReadableSpan {
    const context = { traceId: s.traceId, spanId: s.spanId, traceFlags: TraceFlags.SAMPLED, isRemote: false };
    return {
      name: s.name,
      kind: s.kind === "server" ? SpanKind.SERVER : SpanKind.CLIENT,
      spanContext: () => context,
      ...(s.parentSpanId === ""
        ? {}
        : { parentSpanContext: { traceId: s.traceId, spanId: s.parentSpanId, traceFlags: 1, isRemote: true } }),
      startTime: hrTime(s.startWallMs),
      endTime: hrTime(s.startWallMs + s.durationMs),
      duration: hrTime(s.durationMs),
      status: { code: s.error ? SpanStatusCode.ERROR : SpanStatusCode.UNSET },
      attributes: s.attributes,
      links: [],
      events: [],
      ended: true,
      resource: this.#resource,
      instrumentationScope: this.#scope,
      droppedAttributesCount: 0,
      droppedEventsCount: 0,
      droppedLinksCount: 0,
    };
  }
}

function hrTime(ms: number): HrTime {
  const seconds = Math.floor(ms / 1000);
  return [seconds, Math.round((ms - seconds * 1000) * 1e6)];
}
