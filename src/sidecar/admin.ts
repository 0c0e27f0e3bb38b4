import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Registry } from "prom-client";
import { type Finding, formatFinding } from "../config/finding.ts";
import type { AppConfigApi } from "./app-config/admin.ts";
import type { CompiledSnapshot } from "./snapshot.ts";

/** The sidecar's stream to the control plane, when it has one configured. */
export interface ControlPlaneLink {
  connected: boolean;
  /** The node streaming to this sidecar. */
  address?: string;
  /** When the stream was lost (ms since the epoch); absent when never connected. */
  since?: number;
}

export interface AdminState {
  snapshot(): CompiledSnapshot | undefined;
  /** True while the config may be out of date: served from the cache at boot, or the control plane unreachable. */
  stale(): boolean;
  /** Undefined for a static-config sidecar. */
  controlPlane(): ControlPlaneLink | undefined;
  /** Resources of the running version this sidecar refused, and the shared check's warnings. */
  rejected(): readonly Finding[];
  warnings(): readonly Finding[];
  appliedAt(): number | undefined;
  draining(): boolean;
  /** Warming up after start (config, certificate, first connections; bounded): not ready yet. */
  warming(): boolean;
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
        if (state.warming()) return json(res, 503, { ready: false, reason: "warming up", version: snap.version });
        // Stale or with refused resources the sidecar still routes: readiness must not drop traffic for either.
        const at = state.appliedAt();
        const cp = state.controlPlane();
        return json(res, 200, {
          ready: true,
          version: snap.version,
          source: snap.source,
          stale: state.stale(),
          appliedAt: at === undefined ? undefined : new Date(at).toISOString(),
          controlPlane:
            cp === undefined
              ? undefined
              : {
                  connected: cp.connected,
                  address: cp.address,
                  since: cp.since === undefined ? undefined : new Date(cp.since).toISOString(),
                },
          rejected: state.rejected().map(formatFinding),
        });
      }
      case "/config_dump":
        if (snap === undefined) return json(res, 503, { error: "no config yet" });
        return json(res, 200, {
          version: snap.version,
          source: snap.source,
          stale: state.stale(),
          resources: snap.resources,
          rejected: state.rejected(),
          warnings: state.warnings(),
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
