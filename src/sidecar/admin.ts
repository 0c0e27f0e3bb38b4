import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Registry } from "prom-client";
import type { AppConfigApi } from "./app-config/admin.ts";
import type { CompiledSnapshot } from "./snapshot.ts";

export interface AdminState {
  snapshot(): CompiledSnapshot | undefined;
  /** True while serving from the cached snapshot because the live source failed. */
  stale(): boolean;
  appliedAt(): number | undefined;
  draining(): boolean;
  shutdown(): void;
  /** GET /config and /config/{key}: the app's config (app-config/admin.ts). */
  config: AppConfigApi;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function isLoopback(req: IncomingMessage): boolean {
  const a = req.socket.remoteAddress ?? "";
  return a === "127.0.0.1" || a === "::1" || a === "::ffff:127.0.0.1";
}

/** The admin listener: readiness, config and endpoint views, the app's config, metrics, and a localhost-only shutdown. */
export function createAdminServer(state: AdminState, registry: Registry): Server {
  return createServer((req, res) => {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    const snap = state.snapshot();
    if (req.method === "POST" && path === "/shutdown") {
      if (!isLoopback(req)) return json(res, 403, { error: "shutdown is accepted from localhost only" });
      json(res, 202, { draining: true });
      state.shutdown();
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") return json(res, 405, { error: "method not allowed" });
    if (path === "/config" || path.startsWith("/config/"))
      return state.config.handle(req, res, path, new URLSearchParams(q < 0 ? "" : url.slice(q + 1)));
    switch (path) {
      case "/healthz":
        return json(res, 200, { ok: true });
      case "/ready": {
        if (snap === undefined) return json(res, 503, { ready: false, reason: "no config yet" });
        if (state.draining()) return json(res, 503, { ready: false, reason: "draining", version: snap.version });
        const at = state.appliedAt();
        return json(res, 200, {
          ready: true,
          version: snap.version,
          source: snap.source,
          stale: state.stale(),
          appliedAt: at === undefined ? undefined : new Date(at).toISOString(),
        });
      }
      case "/config_dump":
        if (snap === undefined) return json(res, 503, { error: "no config yet" });
        return json(res, 200, {
          version: snap.version,
          source: snap.source,
          stale: state.stale(),
          resources: snap.resources,
        });
      case "/endpoints": {
        if (snap === undefined) return json(res, 503, { error: "no config yet" });
        const services: Record<string, unknown> = {};
        for (const [name, s] of snap.services) {
          const policy = snap.policies?.forService(name);
          services[name] = {
            loadBalancer: s.balancerKind,
            endpoints: s.endpoints.map((e) => ({
              address: e.address,
              port: e.port,
              weight: e.weight,
              labels: e.labels,
              active: e.active,
              healthy: policy?.healthCheck?.isHealthy(e.key) ?? true,
              outlier: policy?.outlier?.describe(e.key),
            })),
          };
        }
        return json(res, 200, { version: snap.version, services, breakers: snap.policies?.breakerStates() ?? [] });
      }
      case "/metrics":
        registry.metrics().then(
          (text) => {
            res.writeHead(200, { "content-type": registry.contentType });
            res.end(text);
          },
          (err: unknown) => json(res, 500, { error: String(err) }),
        );
        return;
      default:
        return json(res, 404, { error: "not found" });
    }
  });
}
