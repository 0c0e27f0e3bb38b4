import { mkdtempSync, readFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { ChannelCredentials } from "@grpc/grpc-js";
import { Registry } from "prom-client";
import { silentLogger } from "../../src/common/logger.ts";
import { NodeIdentity } from "../../src/controlplane/tls/node-identity.ts";
import { PeerAuth } from "../../src/controlplane/tls/peer-auth.ts";
import { controlPlaneCredentials } from "../../src/security/control-plane-tls.ts";
import { caFileOf } from "./control-auth.ts";

/** gRPC credentials of a client of the control plane (a sidecar, the CLI): TLS under the mesh CA of `dataDir`. */
export function controlCredentials(dataDir: string): ChannelCredentials {
  return controlPlaneCredentials(readFileSync(caFileOf(dataDir)));
}

/**
 * gRPC credentials of a control-plane peer: a node certificate for member `nodeId` issued by the cluster's mesh
 * CA through `POST /v1/cluster/node-certificates` on `httpAddress` (the harness's fetch adds the admin token and
 * trusts the CA). For tests that talk to a node as one of its peers would.
 */
export async function peerCredentials(
  httpAddress: string,
  clusterId: string,
  nodeId: string,
): Promise<ChannelCredentials> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "meshlet-test-peer-"));
  const identity = await NodeIdentity.open(dir, { nodeId, clusterId }, ["127.0.0.1"], Date.now(), silentLogger());
  const res = await fetch(`https://${httpAddress}/v1/cluster/node-certificates`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(identity.request()),
    signal: AbortSignal.timeout(10_000),
  });
  if (!res.ok) throw new Error(`node certificate: ${res.status} ${await res.text()}`);
  const issued = (await res.json()) as { certChainPem: string; bundlePem: string };
  identity.install(issued.certChainPem, issued.bundlePem);
  return memberCredentials(identity);
}

/** The client credentials a member holding `identity` dials its peers with (every peer a member). */
export function memberCredentials(identity: NodeIdentity): ChannelCredentials {
  return new PeerAuth({
    identity,
    founders: new Set(),
    foundingUntil: 0,
    now: () => Date.now(),
    isMember: () => true,
    registry: new Registry(),
    logger: silentLogger(),
  }).credentials();
}
