import { readFileSync } from "node:fs";
import { Metadata } from "@grpc/grpc-js";
import { controlFetch } from "../common/control-access.ts";
import { discoveryProto } from "../config/discovery-proto.ts";
import { controlPlaneCredentials } from "../security/control-plane-tls.ts";

/**
 * Removes instances a previous demo registered under other names (its ports were taken this time) and
 * that would otherwise stay until their leases expire: sidecars would send requests to them meanwhile.
 */
export async function deregisterStale(
  server: string,
  grpc: string,
  services: readonly string[],
  current: ReadonlySet<string>,
  token: string,
  caFile: string,
): Promise<number> {
  const authorization = `Bearer ${token}`;
  const stale: { service: string; instance: string }[] = [];
  for (const service of services) {
    const res = await controlFetch(`${server}/v1/endpoints/${service}`, {
      headers: { authorization },
      signal: AbortSignal.timeout(5_000),
    });
    if (!res.ok) continue;
    const body = (await res.json()) as { endpoints: { instance: string; source: string }[] };
    for (const e of body.endpoints)
      if (e.source === "registered" && !current.has(e.instance)) stale.push({ service, instance: e.instance });
  }
  if (stale.length === 0) return 0;
  const Client = discoveryProto().meshlet.discovery.v1.Discovery;
  const client = new Client(grpc, controlPlaneCredentials(readFileSync(caFile)));
  const metadata = new Metadata();
  metadata.set("authorization", authorization);
  try {
    await Promise.all(
      stale.map(
        (s) =>
          new Promise<void>((resolve, reject) =>
            client.DeregisterInstance(s, metadata, { deadline: Date.now() + 5_000 }, (err) =>
              err ? reject(err) : resolve(),
            ),
          ),
      ),
    );
  } finally {
    client.close();
  }
  return stale.length;
}
