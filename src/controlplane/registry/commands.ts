import { MeshletError } from "../../common/errors.ts";
import { isNamespace } from "../../config/kube-names.ts";
import { endpointKey, leaseKey } from "../resources/keys.ts";
import type { KvOp, KvView, Outcome } from "./kv-ops.ts";

/** An app instance registered by its sidecar (as stored under mesh/endpoints/{service}/{instance}). */
export interface RegisteredEndpoint {
  service: string;
  instance: string;
  address: string;
  port: number;
  labels: Record<string, string>;
  weight: number;
  leaseId: string;
  /**
   * The Kubernetes namespace of the registering sidecar's verified identity (its stream's entitled
   * `/ns/<namespace>/sa/<account>`, or its token's account); absent without one. Callers pick the namespace's
   * PeerAuthentication by it. Older entries have none.
   */
  namespace?: string;
}

/** Stored under mesh/leases/{id}. Only the TTL is replicated; deadlines live on the leader (see LeaseKeeper). */
export interface LeaseRecord {
  id: string;
  ttlMs: number;
  /** Endpoint keys that disappear with the lease. */
  keys: string[];
}

export const DEFAULT_LEASE_TTL_MS = 15_000;

export type RegistryCommand =
  | { type: "mesh.register"; endpoint: RegisteredEndpoint; ttlMs: number }
  | { type: "mesh.deregister"; service: string; instance: string }
  | { type: "mesh.lease.revoke"; leaseId: string }
  | { type: "mesh.lease.expire"; leaseIds: string[] };

export class RegistryError extends MeshletError {
  constructor(message: string) {
    super("ERR_INVALID_REGISTRATION", message);
    this.name = "RegistryError";
  }
}

const SEGMENT = /^[A-Za-z0-9._:-]{1,253}$/;
const SERVICE_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** One lease per app instance, so a sidecar that reconnects to another node re-attaches to the same lease. */
export function leaseIdFor(service: string, instance: string): string {
  return `${service}:${instance}`;
}

/** Rejects identities that would break the key space (a "/" in a service name would nest keys). */
export function validateEndpoint(e: RegisteredEndpoint): void {
  if (!SERVICE_NAME.test(e.service) || e.service.length > 253)
    throw new RegistryError(`invalid service name "${e.service}"`);
  if (!SEGMENT.test(e.instance)) throw new RegistryError(`invalid instance id "${e.instance}"`);
  if (!SEGMENT.test(e.leaseId)) throw new RegistryError(`invalid lease id "${e.leaseId}"`);
  if (e.address === "") throw new RegistryError("endpoint address is empty");
  if (!Number.isInteger(e.port) || e.port < 1 || e.port > 65535) throw new RegistryError(`invalid port ${e.port}`);
  if (!Number.isInteger(e.weight) || e.weight < 1 || e.weight > 1000)
    throw new RegistryError(`invalid weight ${e.weight}`);
  if (e.namespace !== undefined && !isNamespace(e.namespace))
    throw new RegistryError(`invalid namespace "${e.namespace}"`);
}

function readLease(kv: KvView, id: string): LeaseRecord | undefined {
  const raw = kv.get(leaseKey(id));
  return raw === undefined ? undefined : (JSON.parse(raw) as LeaseRecord);
}

function putLease(lease: LeaseRecord): KvOp {
  return { op: "put", key: leaseKey(lease.id), value: JSON.stringify(lease) };
}

/** Drops `key` from the lease that holds it; deletes the lease once it holds nothing. */
function detach(kv: KvView, leaseId: string, key: string): KvOp[] {
  const lease = readLease(kv, leaseId);
  if (lease === undefined) return [];
  const keys = lease.keys.filter((k) => k !== key);
  return keys.length === 0 ? [{ op: "delete", key: leaseKey(leaseId) }] : [putLease({ ...lease, keys })];
}

/** Grants (or re-grants) the lease and attaches the endpoint to it; an instance that moved to a new lease leaves its old one. */
export function register(kv: KvView, endpoint: RegisteredEndpoint, ttlMs: number): Outcome<{ leaseId: string }> {
  validateEndpoint(endpoint);
  if (!Number.isInteger(ttlMs) || ttlMs < 1000)
    throw new RegistryError(`lease TTL must be at least 1s, got ${ttlMs}ms`);
  const key = endpointKey(endpoint.service, endpoint.instance);
  const ops: KvOp[] = [];
  const previous = kv.get(key);
  if (previous !== undefined) {
    const old = (JSON.parse(previous) as RegisteredEndpoint).leaseId;
    if (old !== endpoint.leaseId) ops.push(...detach(kv, old, key));
  }
  const lease = readLease(kv, endpoint.leaseId);
  const keys = lease === undefined ? [key] : lease.keys.includes(key) ? lease.keys : [...lease.keys, key];
  ops.push(putLease({ id: endpoint.leaseId, ttlMs, keys }));
  ops.push({ op: "put", key, value: JSON.stringify(endpoint) });
  return { ops, result: { leaseId: endpoint.leaseId } };
}

export function deregister(kv: KvView, service: string, instance: string): Outcome<{ removed: boolean }> {
  const key = endpointKey(service, instance);
  const raw = kv.get(key);
  if (raw === undefined) return { ops: [], result: { removed: false } };
  const { leaseId } = JSON.parse(raw) as RegisteredEndpoint;
  return { ops: [{ op: "delete", key }, ...detach(kv, leaseId, key)], result: { removed: true } };
}

/** Revokes leases and every endpoint attached to them; unknown ids are skipped (already gone). */
export function revoke(kv: KvView, leaseIds: readonly string[]): Outcome<{ removed: string[] }> {
  const ops: KvOp[] = [];
  const removed: string[] = [];
  for (const id of new Set(leaseIds)) {
    const lease = readLease(kv, id);
    if (lease === undefined) continue;
    for (const key of lease.keys) {
      if (kv.get(key) !== undefined) {
        ops.push({ op: "delete", key });
        removed.push(key);
      }
    }
    ops.push({ op: "delete", key: leaseKey(id) });
  }
  return { ops, result: { removed } };
}

/** Dispatch for the state machine: one command, its ops applied all-or-nothing. */
export function applyRegistryCommand(kv: KvView, command: RegistryCommand): Outcome<unknown> {
  switch (command.type) {
    case "mesh.register":
      return register(kv, command.endpoint, command.ttlMs);
    case "mesh.deregister":
      return deregister(kv, command.service, command.instance);
    case "mesh.lease.revoke":
      return revoke(kv, [command.leaseId]);
    case "mesh.lease.expire":
      return revoke(kv, command.leaseIds);
  }
}
