import type { Metric, Registry } from "prom-client";

/**
 * Metric families whose series are plain objects the request path bumps
 * (`value++`, a bucket index): no label hashing, validation or allocation per
 * request, which prom-client's own `labels(...).observe()` does on every call.
 * prom-client still renders them: each family is registered as a metric
 * whose `get()` lists its series, as prom-client's own metrics do.
 */
export type Labels = Readonly<Record<string, string>>;

export interface CounterSeries {
  readonly labels: Labels;
  value: number;
}

export interface HistogramSeries {
  readonly labels: Labels;
  sum: number;
  count: number;
  /** Observations per bucket (not cumulative): bucket i holds values <= bounds[i]; the last one, the rest. */
  readonly buckets: Float64Array;
}

interface Value {
  readonly value: number;
  readonly labels: Record<string, string | number>;
  readonly metricName?: string;
}

abstract class Family<S> {
  readonly name: string;
  readonly help: string;
  abstract readonly type: "counter" | "histogram";
  readonly aggregator = "sum";
  protected readonly series: S[] = [];
  /** A series is rendered only once it counted something (prom-client's own children behave so). */
  protected readonly hideEmpty: boolean;

  constructor(registry: Registry, name: string, help: string, hideEmpty = false) {
    this.name = name;
    this.help = help;
    this.hideEmpty = hideEmpty;
    // prom-client takes any object with name, help, type and get(); its Metric type names only its own classes.
    registry.registerMetric(this as unknown as Metric);
  }

  /** Series are never removed: their label values are bounded by the caller (docs/telemetry.md). */
  get size(): number {
    return this.series.length;
  }

  abstract values(): Value[];

  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Value[] }> {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.values() };
  }

  reset(): void {
    this.series.length = 0;
  }
}

export class CounterFamily extends Family<CounterSeries> {
  readonly type = "counter";

  add(labels: Labels): CounterSeries {
    const s = { labels, value: 0 };
    this.series.push(s);
    return s;
  }

  values(): Value[] {
    const out: Value[] = [];
    for (const s of this.series) if (s.value !== 0 || !this.hideEmpty) out.push({ labels: s.labels, value: s.value });
    return out;
  }
}

export class HistogramFamily extends Family<HistogramSeries> {
  readonly type = "histogram";
  readonly bounds: readonly number[];

  constructor(registry: Registry, name: string, help: string, bounds: readonly number[], hideEmpty = false) {
    super(registry, name, help, hideEmpty);
    this.bounds = bounds;
  }

  add(labels: Labels): HistogramSeries {
    const s = { labels, sum: 0, count: 0, buckets: new Float64Array(this.bounds.length + 1) };
    this.series.push(s);
    return s;
  }

  /** Counts one value: a linear scan of the (about 15) bounds, no allocation. */
  observe(s: HistogramSeries, v: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && v > (bounds[i] as number)) i++;
    s.buckets[i] = (s.buckets[i] as number) + 1;
    s.sum += v;
    s.count++;
  }

  values(): Value[] {
    const out: Value[] = [];
    for (const s of this.series) {
      if (s.count === 0 && this.hideEmpty) continue;
      let cumulative = 0;
      for (let i = 0; i <= this.bounds.length; i++) {
        cumulative += s.buckets[i] as number;
        const le = i < this.bounds.length ? (this.bounds[i] as number) : "+Inf";
        out.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le }, value: cumulative });
      }
      out.push({ metricName: `${this.name}_sum`, labels: s.labels, value: s.sum });
      out.push({ metricName: `${this.name}_count`, labels: s.labels, value: s.count });
    }
    return out;
  }
}
