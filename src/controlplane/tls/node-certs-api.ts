import { createPublicKey, type KeyObject } from "node:crypto";
import { Counter, type Registry } from "prom-client";
import { HttpError } from "../../common/errors.ts";
import type { Logger } from "../../common/logger.ts";
import { json, jsonBody, type RouteModule } from "../http/router.ts";
import type { MeshSecurity } from "../security/mesh-ca.ts";
import { NODE_CERT_TTL_MS } from "./node-identity.ts";
import { claimableNames } from "./node-names.ts";

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

export interface NodeCertificatesOptions {
  security: MeshSecurity;
  clusterId: string;
  /** The applied Raft configuration with each member's address (a joiner is added as a learner first). */
  members: () => readonly { id: string; address: string }[];
  /** --certificate-names: extra names every node of the cluster may carry (the client Service's). */
  extraNames: readonly string[];
  registry: Registry;
  logger: Logger;
}

/**
 * POST /v1/cluster/node-certificates (admin): a node certificate for a member, signed by the mesh CA, with the
 * trust bundle. Only for a node of the Raft configuration (a joiner is added as a learner before it asks), and
 * only for the names that node may claim (node-names.ts): an admin token cannot mint a peer identity for a node
 * the cluster does not know, nor a certificate that answers for another member's address. Counted in
 * meshlet_control_node_certificates_total{result, code}.
 */
export function nodeCertificatesApi(o: NodeCertificatesOptions): RouteModule {
  const requests = new Counter({
    name: "meshlet_control_node_certificates_total",
    help: "Node certificates asked of POST /v1/cluster/node-certificates, by result (issued, refused) and error code",
    labelNames: ["result", "code"],
    registers: [o.registry],
  });
  const refuse = (id: string, err: HttpError): never => {
    requests.inc({ result: "refused", code: err.code });
    o.logger.warn({ node: id, code: err.code, err: err.message }, "node certificate refused");
    throw err;
  };
  return (router) => {
    router.route("POST", "/v1/cluster/node-certificates", async (req) => {
      const { id, publicKey, names } = parse(jsonBody(req));
      const member = o.members().find((m) => m.id === id);
      if (member === undefined)
        refuse(
          id,
          new HttpError(
            403,
            "ERR_NODE_CERT_NOT_MEMBER",
            `node ${id} is not a member of the Raft configuration: add it first (POST /v1/cluster/members, as meshlet control --join does), then ask for its certificate`,
          ),
        );
      const allowed = claimableNames(id, member?.address ?? "", o.extraNames);
      const foreign = names.filter((n) => !allowed.has(n));
      if (foreign.length > 0)
        refuse(
          id,
          new HttpError(
            403,
            "ERR_NODE_CERT_NAMES",
            `node ${id} may not claim ${foreign.join(", ")}: a node certificate carries ${[...allowed].join(", ")} (its id, its member address's host, loopback, and the cluster's --certificate-names)`,
          ),
        );
      const current = o.security.current();
      if (current === undefined)
        throw new HttpError(503, "ERR_CA_UNAVAILABLE", "the mesh CA is not ready on this node yet");
      let certChainPem: string;
      try {
        certChainPem = await current.ca.signNode(
          publicKey,
          { nodeId: id, clusterId: o.clusterId },
          names.length === 0 ? [...allowed] : names,
          { now: Date.now(), ttlMs: NODE_CERT_TTL_MS },
        );
      } catch (err) {
        return refuse(id, new HttpError(400, "ERR_BAD_REQUEST", (err as Error).message));
      }
      requests.inc({ result: "issued", code: "" });
      o.logger.info({ node: id, names }, "node certificate issued");
      return json(200, { certChainPem, bundlePem: current.bundlePem });
    });
  };
}
