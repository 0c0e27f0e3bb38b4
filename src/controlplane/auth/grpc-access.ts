import {
  Metadata,
  type ServerErrorResponse,
  type ServiceDefinition,
  status,
  type UntypedHandleCall,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import type { AuthError, Gatekeeper } from "./guard.ts";
import { type Access, denial, type Principal } from "./roles.ts";

/**
 * The gRPC face of the Gatekeeper: every method of a service added through `guardedAddService` checks the
 * `authorization` metadata (`Bearer <token>`) before its handler runs, except the peer-only methods one
 * control-plane node calls on another (they are peer traffic, like Raft's; docs/security.md says what protects
 * them). A stream's principal is kept with its call, for the per-message checks of the discovery stream.
 */
const PEER_ONLY = new Set([
  "/meshlet.discovery.v1.Discovery/RenewLeases",
  "/meshlet.discovery.v1.Discovery/ListSidecars",
]);

/** What opening each method needs; a method not listed needs admin. */
const ACCESS: Record<string, Access> = {
  "/meshlet.discovery.v1.Discovery/Stream": { kind: "attach" },
  "/meshlet.discovery.v1.Discovery/RegisterInstance": { kind: "attach" },
  "/meshlet.discovery.v1.Discovery/DeregisterInstance": { kind: "attach" },
  "/meshlet.config.v1.Config/Watch": { kind: "read" },
};

const principals = new WeakMap<object, Principal>();
/** How a call's credential is checked again (its token may have expired or been revoked since it opened). */
const rechecks = new WeakMap<object, () => Promise<unknown>>();

/**
 * Checks the credential `call` opened with against the state and the clock of now: a long-lived stream is
 * allowed only what its token still allows. Rejects with the counted AuthError; resolves when the call had no
 * credential to check (no gatekeeper, open access).
 */
export function reauthenticate(call: object): Promise<unknown> {
  return rechecks.get(call)?.() ?? Promise.resolve();
}

/** Who opened `call` (undefined when no gatekeeper guards the server, as in unit tests). */
export function principalOf(call: object): Principal | undefined {
  return principals.get(call);
}

export type AddService = (service: ServiceDefinition, implementation: UntypedServiceImplementation) => void;

export function guardedAddService(gate: Gatekeeper, addService: AddService): AddService {
  return (service, implementation) => {
    const guarded: UntypedServiceImplementation = {};
    for (const [name, handler] of Object.entries(implementation)) {
      const path = service[name]?.path ?? name;
      guarded[name] = PEER_ONLY.has(path) ? handler : guard(gate, ACCESS[path] ?? { kind: "admin" }, handler);
    }
    addService(service, guarded);
  };
}

/** The refusal as a gRPC status: UNAUTHENTICATED (HTTP 401) or PERMISSION_DENIED (403), with the code in metadata. */
export function grpcRefusal(err: AuthError): ServerErrorResponse {
  const metadata = new Metadata();
  metadata.set("x-meshlet-error-code", err.code);
  return Object.assign(new Error(err.message), {
    code: err.status === 401 ? status.UNAUTHENTICATED : status.PERMISSION_DENIED,
    details: err.message,
    metadata,
  });
}

function guard(gate: Gatekeeper, access: Access, handler: UntypedHandleCall): UntypedHandleCall {
  const wrapped = (
    call: { metadata: Metadata; emit(event: "error", e: unknown): boolean },
    callback?: (e: unknown) => void,
  ) => {
    const raw = call.metadata.get("authorization")[0];
    const header = typeof raw === "string" ? raw : undefined;
    const refuse = (err: unknown) => {
      const refusal = grpcRefusal(err as AuthError);
      if (callback !== undefined) callback(refusal);
      else call.emit("error", refusal);
    };
    const run = (principal: Principal | undefined) => {
      if (principal !== undefined) principals.set(call, principal);
      (handler as (c: unknown, cb?: unknown) => void)(call, callback);
    };
    // A Kubernetes token is verified asynchronously; a stream's messages wait in its buffer meanwhile.
    const kubernetes = gate.kubernetesToken(header, access);
    if (kubernetes !== undefined) {
      rechecks.set(call, () => gate.checkKubernetes("grpc", kubernetes));
      gate.checkKubernetes("grpc", kubernetes).then(run, refuse);
      return;
    }
    rechecks.set(call, async () => gate.check("grpc", header, access));
    let principal: Principal | undefined;
    try {
      principal = gate.check("grpc", header, access);
    } catch (err) {
      refuse(err);
      return;
    }
    run(principal);
  };
  return wrapped as unknown as UntypedHandleCall;
}

/** Whether the principal of `call` may act for `service` (a sidecar token: only its own); the reason if not. */
export function serviceDenial(call: object, service: string): string | undefined {
  const who = principals.get(call);
  return who === undefined ? undefined : denial(who, { kind: "sidecar", service });
}
