import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** How the upstream misbehaves; change it at any time with `set()`. */
export interface Faults {
  /** Share of requests (0..1) answered with `errorStatus`; spread evenly, not at random, so tests are deterministic. */
  errorRate: number;
  errorStatus: number;
  /** Added before answering, ms. */
  latencyMs: number;
  /** Destroy the socket instead of answering. */
  reset: boolean;
  /** Never answer. */
  hang: boolean;
}

export interface FaultUpstream {
  port: number;
  /** Requests received, by path. */
  readonly hits: Map<string, number>;
  set(faults: Partial<Faults>): void;
  close(): Promise<void>;
}

const HEALTHY: Faults = { errorRate: 0, errorStatus: 503, latencyMs: 0, reset: false, hang: false };

/**
 * An HTTP upstream for resilience tests that returns errors at a set rate,
 * adds latency, resets connections or hangs. It answers 200 with a JSON body
 * naming itself and the path otherwise.
 */
export async function startFaultUpstream(name: string): Promise<FaultUpstream> {
  let faults: Faults = { ...HEALTHY };
  let served = 0;
  let errorsOwed = 0;
  const hits = new Map<string, number>();
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? "/";
    hits.set(path, (hits.get(path) ?? 0) + 1);
    req.resume();
    const f = faults;
    if (f.hang) return;
    if (f.reset) {
      req.socket.destroy();
      return;
    }
    served++;
    errorsOwed += f.errorRate;
    const fail = errorsOwed >= 1;
    if (fail) errorsOwed -= 1;
    const answer = () => {
      const body = JSON.stringify({ upstream: name, path, n: served });
      res.writeHead(fail ? f.errorStatus : 200, { "content-type": "application/json" }).end(body);
    };
    if (f.latencyMs > 0) setTimeout(answer, f.latencyMs);
    else answer();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    hits,
    set(next) {
      faults = { ...faults, ...next };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
