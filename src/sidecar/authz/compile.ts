import type { AuthorizationPolicy, AuthorizationRule, Resource } from "../../config/resources.ts";
import { removeDotSegments } from "../engine/path.ts";
import type { IdentitySource, Owners } from "../identity-table.ts";

/**
 * AuthorizationPolicy, compiled once per snapshot for this sidecar's own
 * service, as Istio evaluates it: a DENY policy with a matching rule denies;
 * otherwise, when any ALLOW policy targets the service, the request must
 * match one ALLOW rule; with no policy, everything is allowed. A rule
 * matches when every part it sets matches (each list is "any of").
 * `from.services` reads the caller's Services from the identity table
 * (identity-table.ts); an identity that may be several Services (a shared
 * account) satisfies an ALLOW only when every one of them is allowed, and a
 * DENY when any one of them is denied: it is never let in as a Service it
 * may not be.
 */

type Action = AuthorizationPolicy["spec"]["action"];

/** What a request offers the policies (an EngineRequest is one): method, normalized path, fields, mTLS peer. */
export interface AuthzRequest {
  readonly method: string;
  /** The engine's normalized path (engine/path.ts), without the query. */
  readonly path: string;
  /** Lower-cased field names and their values, in order. */
  readonly head: { readonly names: readonly string[]; readonly values: readonly string[] };
  /** The verified SPIFFE ID of the calling sidecar; undefined for a plain-text caller. */
  readonly socket: { readonly peerIdentity?: string | undefined };
}

/** Why a request was refused: prebuilt per policy, so a denial allocates nothing. */
export interface Denial {
  readonly policy: string;
  readonly reason: "deny-rule" | "no-allow-rule";
}

export interface Authorizer {
  /** undefined: allowed. */
  check(r: AuthzRequest): Denial | undefined;
}

type Test = (r: AuthzRequest, path: string) => boolean;

/** An identity pattern: `*` any mesh identity, `prefix*`, `*suffix`, or exact. */
function identityTest(pattern: string): (id: string) => boolean {
  if (pattern === "*") return () => true;
  if (pattern.endsWith("*")) {
    const prefix = pattern.slice(0, -1);
    return (id) => id.startsWith(prefix);
  }
  if (pattern.startsWith("*")) {
    const suffix = pattern.slice(1);
    return (id) => id.endsWith(suffix);
  }
  return (id) => id === pattern;
}

/** A principal: `*` any mesh identity, `spiffe://…/*` whole segments under a prefix, or exact. */
function principalTest(pattern: string): (id: string) => boolean {
  if (pattern === "*") return () => true;
  if (pattern.endsWith("/*")) {
    const prefix = pattern.slice(0, -1);
    return (id) => id.length > prefix.length && id.startsWith(prefix);
  }
  return (id) => id === pattern;
}

const NS_SEGMENT = "/ns/";
const SA_SEGMENT = "/sa/";

/** The namespace of `spiffe://<trust-domain>/ns/<namespace>/sa/<account>`; undefined for any other form. */
export function namespaceOfIdentity(id: string): string | undefined {
  if (!id.startsWith("spiffe://")) return undefined;
  const at = id.indexOf("/", 9);
  if (at < 0 || !id.startsWith(NS_SEGMENT, at)) return undefined;
  const from = at + NS_SEGMENT.length;
  const end = id.indexOf("/", from);
  if (end <= from || !id.startsWith(SA_SEGMENT, end)) return undefined;
  const account = end + SA_SEGMENT.length;
  return account < id.length && id.indexOf("/", account) < 0 ? id.slice(from, end) : undefined;
}

/**
 * The path the policies see: the engine's normalized path, and, when it
 * still holds an escaped slash or backslash or an empty segment, the most
 * decoded reading of it (`%2F`/`%5C` as `/`, slashes merged, dot segments
 * removed again). An upstream that decodes `%2F` or merges slashes serves
 * that reading, so a DENY on `/secret` must hold for `/public%2F..%2Fsecret`
 * and `//secret`, and an ALLOW on `/public` must not admit them.
 */
export function policyPath(path: string): string {
  if (path.indexOf("%") < 0 && path.indexOf("//") < 0) return path;
  const decoded = path.replace(/%2F|%5C/gi, "/").replace(/\/{2,}/g, "/");
  return removeDotSegments(decoded);
}

/** The field's value, repeated fields joined by ", " as one list (RFC 9110 §5.3); undefined when absent. */
function fieldValue(r: AuthzRequest, name: string): string | undefined {
  const { names, values } = r.head;
  const i = names.indexOf(name);
  if (i < 0) return undefined;
  let value = values[i] as string;
  for (let j = names.indexOf(name, i + 1); j >= 0; j = names.indexOf(name, j + 1)) value += `, ${values[j]}`;
  return value;
}

/**
 * `from.services` (`*`: any Service of the mesh): an ALLOW needs every Service the caller may be among the
 * names, a DENY any one of them.
 */
function servicesTest(services: readonly string[], action: Action, identities: IdentitySource): Test {
  const any = services.includes("*");
  const names = new Set(services);
  const matches =
    action === "ALLOW"
      ? (owners: Owners) => {
          if (owners.length === 0) return false;
          if (any) return true;
          for (const o of owners) if (!names.has(o)) return false;
          return true;
        }
      : (owners: Owners) => {
          if (any) return owners.length > 0;
          for (const o of owners) if (names.has(o)) return true;
          return false;
        };
  return (r) => {
    const id = r.socket.peerIdentity;
    return id !== undefined && matches(identities.table.ownerOf(id));
  };
}

function compileRule(rule: AuthorizationRule, action: Action, identities: IdentitySource): Test {
  const tests: Test[] = [];
  const from = rule.from;
  if (from?.identities !== undefined) {
    const ids = from.identities.map(identityTest);
    tests.push((r) => {
      const id = r.socket.peerIdentity;
      return id !== undefined && ids.some((t) => t(id));
    });
  }
  if (from?.services !== undefined) tests.push(servicesTest(from.services, action, identities));
  if (from?.principals !== undefined) {
    const principals = from.principals.map(principalTest);
    tests.push((r) => {
      const id = r.socket.peerIdentity;
      return id !== undefined && principals.some((t) => t(id));
    });
  }
  if (from?.namespaces !== undefined) {
    const namespaces = new Set(from.namespaces);
    tests.push((r) => {
      const id = r.socket.peerIdentity;
      const ns = id === undefined ? undefined : namespaceOfIdentity(id);
      return ns !== undefined && namespaces.has(ns);
    });
  }
  const to = rule.to;
  if (to?.methods !== undefined) {
    const methods = new Set(to.methods);
    tests.push((r) => methods.has(r.method));
  }
  if (to?.paths !== undefined) {
    const exact = new Set<string>();
    const prefixes: string[] = [];
    for (const p of to.paths) {
      if ("exact" in p) exact.add(p.exact);
      else prefixes.push(p.prefix);
    }
    tests.push((_r, path) => exact.has(path) || prefixes.some((p) => path.startsWith(p)));
  }
  for (const h of to?.headers ?? []) {
    const name = h.name.toLowerCase();
    if ("exact" in h) {
      const want = h.exact;
      tests.push((r) => fieldValue(r, name) === want);
    } else {
      const want = h.prefix;
      tests.push((r) => fieldValue(r, name)?.startsWith(want) === true);
    }
  }
  return (r, path) => tests.every((t) => t(r, path));
}

interface CompiledPolicy {
  readonly matches: Test;
  readonly denial: Denial;
}

function compilePolicy(p: AuthorizationPolicy, identities: IdentitySource): CompiledPolicy {
  const action = p.spec.action;
  const rules = p.spec.rules.map((rule) => compileRule(rule, action, identities));
  return {
    matches: (r, path) => rules.some((rule) => rule(r, path)),
    denial: { policy: p.metadata.name, reason: action === "DENY" ? "deny-rule" : "no-allow-rule" },
  };
}

/** The policies targeting `service`, compiled; undefined when none does (everything is allowed). */
export function compileAuthorizer(
  resources: readonly Resource[],
  service: string,
  identities: IdentitySource,
): Authorizer | undefined {
  const deny: CompiledPolicy[] = [];
  const allow: CompiledPolicy[] = [];
  const sorted = resources
    .filter((r): r is AuthorizationPolicy => r.kind === "AuthorizationPolicy" && r.spec.targetService === service)
    .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));
  for (const p of sorted) (p.spec.action === "DENY" ? deny : allow).push(compilePolicy(p, identities));
  if (deny.length === 0 && allow.length === 0) return undefined;
  const noAllow =
    allow.length === 0
      ? undefined
      : { policy: allow.map((p) => p.denial.policy).join(","), reason: "no-allow-rule" as const };
  return {
    check(r) {
      const path = policyPath(r.path);
      for (const p of deny) if (p.matches(r, path)) return p.denial;
      if (noAllow === undefined) return undefined;
      for (const p of allow) if (p.matches(r, path)) return undefined;
      return noAllow;
    },
  };
}
