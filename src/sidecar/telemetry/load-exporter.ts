import type { OtlpOptions, SpanExporter } from "./spans.ts";

/** The OTLP exporter, imported on first use: only a sidecar started with --tracing-endpoint loads the SDK. */
export async function loadOtlpExporter(options: OtlpOptions): Promise<SpanExporter> {
  const { OtlpSpanExporter } = await import("./otlp-exporter.ts");
  return new OtlpSpanExporter(options);
}
