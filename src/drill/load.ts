import { Agent, request } from "node:http";

export interface LoadTarget {
  /** host:port of a sidecar's outbound listener. */
  address: string;
  host: string;
  path: string;
  headers: Record<string, string>;
  timeoutMs: number;
}

/** What one load step saw. */
export interface LoadStepResult {
  mode: "concurrency" | "rate";
  level: number;
  durationMs: number;
  requests: number;
  failed: number;
  errorRate: number;
  throughput: number;
  p50Ms: number;
  p99Ms: number;
  /** Why requests failed: status codes and error codes, with counts. */
  failures: Record<string, number>;
}

/** The q-quantile (0..1) of sorted values, nearest rank. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] ?? 0;
}

/**
 * One step of the built-in load generator: a fixed concurrency (closed
 * model: each worker sends its next request when the last answered) or a
 * fixed rate (open model: requests leave on schedule whatever the answers,
 * so a slow mesh shows as latency, not as a lower rate). A request fails on
 * a 5xx, a connection error or its timeout. Keep-alive connections, as apps
 * use them.
 */
export async function runLoadStep(
  target: LoadTarget,
  mode: "concurrency" | "rate",
  level: number,
  durationMs: number,
): Promise<LoadStepResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: mode === "concurrency" ? level : 256 });
  const latencies: number[] = [];
  const failures: Record<string, number> = {};
  let failed = 0;
  const fail = (why: string) => {
    failed++;
    failures[why] = (failures[why] ?? 0) + 1;
  };
  const [hostname, port] = splitAddress(target.address);
  const once = () =>
    new Promise<void>((resolve) => {
      const t0 = performance.now();
      let done = false;
      const finish = (why: string | undefined) => {
        if (done) return;
        done = true;
        latencies.push(performance.now() - t0);
        if (why !== undefined) fail(why);
        resolve();
      };
      const req = request(
        {
          agent,
          hostname,
          port,
          path: target.path,
          headers: { ...target.headers, host: target.host },
          timeout: target.timeoutMs,
        },
        (res) => {
          res.resume();
          res.on("end", () => finish((res.statusCode ?? 0) >= 500 ? String(res.statusCode) : undefined));
          res.on("error", (err: NodeJS.ErrnoException) => finish(err.code ?? "ERR_RESPONSE"));
        },
      );
      req.on("timeout", () => {
        req.destroy();
        finish("timeout");
      });
      req.on("error", (err: NodeJS.ErrnoException) => finish(err.code ?? "ERR_REQUEST"));
      req.end();
    });
  const started = performance.now();
  const end = started + durationMs;
  if (mode === "concurrency") {
    await Promise.all(
      Array.from({ length: level }, async () => {
        while (performance.now() < end) await once();
      }),
    );
  } else {
    const inFlight = new Set<Promise<void>>();
    const intervalMs = 1000 / level;
    let sent = 0;
    while (performance.now() < end) {
      const due = Math.floor((performance.now() - started) / intervalMs) + 1;
      for (; sent < due; sent++) {
        const p = once();
        inFlight.add(p);
        void p.then(() => inFlight.delete(p));
      }
      await new Promise((r) => setTimeout(r, Math.max(1, Math.min(10, intervalMs))));
    }
    await Promise.all(inFlight);
  }
  const elapsed = performance.now() - started;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const requests = latencies.length;
  return {
    mode,
    level,
    durationMs: Math.round(elapsed),
    requests,
    failed,
    errorRate: requests === 0 ? 0 : failed / requests,
    throughput: requests / (elapsed / 1000),
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    failures,
  };
}

function splitAddress(address: string): [string, number] {
  const colon = address.lastIndexOf(":");
  return [address.slice(0, colon), Number(address.slice(colon + 1))];
}
