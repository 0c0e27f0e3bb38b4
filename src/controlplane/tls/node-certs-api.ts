import { createPublicKey, type KeyObject } from "node:crypto";
import { HttpError } from "../../common/errors.ts";
import { json, jsonBody, type RouteModule } from "../http/router.ts";
import type { MeshSecurity } from "../security/mesh-ca.ts";
import { NODE_CERT_TTL_MS } from "./node-identity.ts";

/** What a node joining later asks for; its key stays with it, only the public half is sent. */
interface NodeCertificateRequest {
  id: string;
  publicKeyPem: string;
  names: string[];
}

const MAX_NAMES = 32;

function parse(body: unknown): { id: string; publicKey: KeyObject; names: string[] } {
  const r = body as Partial<NodeCertificateRequest> | null;
  if (r === null || typeof r !== "object" || typeof r.id !== "string" || typeof r.publicKeyPem !== "string")
    throw new HttpError(400, "ERR_BAD_REQUEST", "expected {id, publicKeyPem, names}");
  const names = r.names ?? [];
  if (
    !Array.isArray(names) ||
    names.length > MAX_NAMES ||
    !names.every((n) => typeof n === "string" && n.length <= 253)
  )
    throw new HttpError(400, "ERR_BAD_REQUEST", `names: at most ${MAX_NAMES} DNS names or IPs`);
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey(r.publicKeyPem);
  } catch {
    throw new HttpError(400, "ERR_BAD_REQUEST", "publicKeyPem: not a PEM public key");
  }
  return { id: r.id, publicKey, names: names as string[] };
}

/**
 * POST /v1/cluster/node-certificates (admin): a node certificate for a node that joins after the founding
 * window, signed by the mesh CA, with the trust bundle. Membership is still `POST /v1/cluster/members`; the
 * certificate only lets the node's peer traffic through.
 */
export function nodeCertificatesApi(security: MeshSecurity, clusterId: string): RouteModule {
  return (router) => {
    router.route("POST", "/v1/cluster/node-certificates", async (req) => {
      const { id, publicKey, names } = parse(jsonBody(req));
      const current = security.current();
      if (current === undefined)
        throw new HttpError(503, "ERR_CA_UNAVAILABLE", "the mesh CA is not ready on this node yet");
      let certChainPem: string;
      try {
        certChainPem = await current.ca.signNode(
          publicKey,
          { nodeId: id, clusterId },
          names.length === 0 ? [id] : names,
          {
            now: Date.now(),
            ttlMs: NODE_CERT_TTL_MS,
          },
        );
      } catch (err) {
        throw new HttpError(400, "ERR_BAD_REQUEST", (err as Error).message);
      }
      return json(200, { certChainPem, bundlePem: current.bundlePem });
    });
  };
}
