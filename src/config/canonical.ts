import { isPrime } from "../common/prime.ts";
import {
  BASE64_PATTERN,
  IDENTITY_PATTERN,
  MAX_AUTHZ_RULES,
  MAX_CACHE_BYTES,
  MAX_COOKIE_TTL_MS,
  MAX_COUNT,
  MAX_RATE_PER_SECOND,
  MAX_STATIC_GRPC_BASE64,
  MAX_TABLE_ENTRIES,
  MAX_TIMER_MS,
  MIN_RATE_PER_SECOND,
} from "./bounds.ts";
import { CONFIG_KEY_PATTERN } from "./config-key.ts";
import { DURATION_PATTERN, parseDuration } from "./duration.ts";
import { isNamespace } from "./kube-names.ts";
import type { Resource } from "./resources.ts";

/**
 * The resource schema (resources.ts) as a plain predicate, without zod: true
 * only for a value the schema accepts *and returns unchanged*, i.e. a valid
 * resource with every default already filled in. That is the form the control
 * plane stores and sends (it parsed the resource with the schema on apply), so
 * a sidecar fed by the control plane checks every resource here and never
 * loads zod. Anything else (a field this version does not know, a value out of
 * bounds, a missing default, a kind it does not know) is false, and the caller
 * runs the full schema, which gives the exact finding or fills the defaults.
 *
 * So this may refuse more than the schema (costing a schema load), never
 * less: test/config/canonical.test.ts holds it to that against the schema on
 * generated and mutated resources. Keep it in step with resources.ts.
 */
export function isCanonicalResource(value: unknown): value is Resource {
  if (!isObject(value) || value.apiVersion !== "meshlet.dev/v1") return false;
  switch (value.kind) {
    case "Service":
      return exact(value, DOC, DOC) && metadata(value.metadata) && serviceSpec(value.spec);
    case "Route":
      return exact(value, DOC, DOC) && metadata(value.metadata) && routeSpec(value.spec);
    case "Policy":
      return exact(value, DOC, DOC) && metadata(value.metadata) && policySpec(value.spec);
    case "AuthorizationPolicy":
      return exact(value, DOC, DOC) && metadata(value.metadata) && authorizationSpec(value.spec);
    case "PeerAuthentication":
      return exact(value, DOC, DOC) && metadata(value.metadata) && peerAuthenticationSpec(value.spec);
    default:
      // ConfigRelease is made and run on the control plane; a sidecar sees it rarely enough to use the schema.
      return false;
  }
}

/** A Policy's spec, by the same rule: true only when the schema would accept it unchanged. */
export function isCanonicalPolicySpec(value: unknown): boolean {
  return policySpec(value);
}

type Obj = Record<string, unknown>;

const DOC = ["apiVersion", "kind", "metadata", "spec"];

const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const METHOD = /^[A-Z]+$/;
const DURATION = new RegExp(DURATION_PATTERN);
const CONFIG_KEY = new RegExp(CONFIG_KEY_PATTERN);

function isObject(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}

/** A strict object: every key known, every required key present. */
function exact(o: Obj, required: readonly string[], known: readonly string[]): boolean {
  for (const k of required) if (!Object.hasOwn(o, k)) return false;
  for (const k of Object.keys(o)) if (!known.includes(k)) return false;
  return true;
}

/** An optional field: absent, or present and valid. */
function opt(o: Obj, key: string, check: (v: unknown) => boolean): boolean {
  return !Object.hasOwn(o, key) || check(o[key]);
}

const str = (v: unknown): v is string => typeof v === "string";
const nonEmpty = (v: unknown): v is string => typeof v === "string" && v.length > 0;
const bool = (v: unknown): v is boolean => typeof v === "boolean";
const num = (min: number, max: number) => (v: unknown) =>
  typeof v === "number" && Number.isFinite(v) && v >= min && v <= max;
const int = (min: number, max: number) => (v: unknown) =>
  typeof v === "number" && Number.isSafeInteger(v) && v >= min && v <= max;
const oneOf =
  (...values: readonly unknown[]) =>
  (v: unknown) =>
    values.includes(v);
const arrayOf =
  (check: (v: unknown) => boolean, min = 0, max = Number.POSITIVE_INFINITY) =>
  (v: unknown) =>
    Array.isArray(v) && v.length >= min && v.length <= max && v.every(check);
const recordOf = (key: (k: string) => boolean, value: (v: unknown) => boolean) => (v: unknown) =>
  isObject(v) && Object.entries(v).every(([k, x]) => key(k) && value(x));

const port = int(1, 65535);
const percent = num(0, 100);
const positiveInt = int(1, MAX_COUNT);
const tableSize = int(1, MAX_TABLE_ENTRIES);
const name = (v: unknown) => typeof v === "string" && v.length <= 253 && NAME.test(v);
const headerName = (v: unknown) => typeof v === "string" && HEADER_NAME.test(v);
const labels = recordOf(
  (k) => k.length >= 1 && k.length <= 63,
  (v) => typeof v === "string" && v.length <= 63,
);
const configKey = (v: unknown) => typeof v === "string" && CONFIG_KEY.test(v);
const startsWithSlash = (v: unknown) => typeof v === "string" && v.startsWith("/");
const durationAtMost = (maxMs: number) => (v: unknown) => {
  if (typeof v !== "string" || !DURATION.test(v)) return false;
  const ms = parseDuration(v);
  return ms !== undefined && ms > 0 && ms <= maxMs;
};
const timer = durationAtMost(MAX_TIMER_MS);
const regex = (v: unknown) => {
  if (typeof v !== "string") return false;
  try {
    new RegExp(v);
    return true;
  } catch {
    return false;
  }
};
/** Exactly one of `keys` set. */
const one = (o: Obj, keys: readonly string[]) => keys.filter((k) => o[k] !== undefined).length === 1;

function metadata(v: unknown): boolean {
  return (
    isObject(v) &&
    exact(v, ["name"], ["name", "labels", "annotations"]) &&
    name(v.name) &&
    opt(v, "labels", labels) &&
    opt(
      v,
      "annotations",
      recordOf(() => true, str),
    )
  );
}

// --- Service ---------------------------------------------------------------

function serviceSpec(v: unknown): boolean {
  return (
    isObject(v) &&
    exact(
      v,
      ["ports", "loadBalancer", "endpoints"],
      ["ports", "loadBalancer", "endpoints", "config", "accessLog", "mtls"],
    ) &&
    arrayOf(servicePort, 1)(v.ports) &&
    loadBalancer(v.loadBalancer) &&
    arrayOf(endpoint)(v.endpoints) &&
    opt(v, "config", serviceConfig) &&
    opt(v, "accessLog", accessLog) &&
    opt(v, "mtls", mtls)
  );
}

const servicePort = (v: unknown) =>
  isObject(v) &&
  exact(v, ["port", "protocol"], ["port", "protocol", "name"]) &&
  port(v.port) &&
  oneOf("http", "websocket", "http2", "grpc")(v.protocol) &&
  opt(v, "name", str);

const endpoint = (v: unknown) =>
  isObject(v) &&
  exact(v, ["address", "port", "weight"], ["address", "port", "labels", "weight"]) &&
  nonEmpty(v.address) &&
  port(v.port) &&
  opt(v, "labels", labels) &&
  int(1, 1000)(v.weight);

function loadBalancer(v: unknown): boolean {
  if (!isObject(v)) return false;
  const [kind, ...rest] = Object.keys(v);
  if (kind === undefined || rest.length > 0) return false;
  const inner = v[kind];
  if (!isObject(inner)) return false;
  switch (kind) {
    case "roundRobin":
      return Object.keys(inner).length === 0;
    case "leastRequest":
      return exact(inner, ["choiceCount"], ["choiceCount"]) && int(2, 10)(inner.choiceCount);
    case "consistentHash":
      return consistentHash(inner);
    default:
      return false;
  }
}

function consistentHash(h: Obj): boolean {
  const keys = ["header", "cookie", "queryParameter", "sourceIp"];
  return (
    exact(h, ["algorithm"], [...keys, "algorithm", "ringSize", "tableSize"]) &&
    one(h, keys) &&
    opt(h, "header", headerName) &&
    opt(h, "cookie", cookie) &&
    opt(h, "queryParameter", nonEmpty) &&
    opt(h, "sourceIp", oneOf(true)) &&
    oneOf("ringHash", "maglev")(h.algorithm) &&
    opt(h, "ringSize", int(64, 8_388_608)) &&
    opt(h, "tableSize", (t) => int(127, 5_000_011)(t) && isPrime(t as number))
  );
}

const cookie = (v: unknown) =>
  isObject(v) &&
  exact(v, ["name"], ["name", "ttl", "path"]) &&
  nonEmpty(v.name) &&
  opt(v, "ttl", durationAtMost(MAX_COOKIE_TTL_MS)) &&
  opt(v, "path", str);

const serviceConfig = (v: unknown) =>
  isObject(v) &&
  exact(v, ["keys", "prefixes"], ["keys", "prefixes"]) &&
  arrayOf(configKey, 0, 1000)(v.keys) &&
  arrayOf(configKey, 0, 100)(v.prefixes);

const mtls = (v: unknown) =>
  isObject(v) && exact(v, ["mode"], ["mode"]) && oneOf("STRICT", "PERMISSIVE", "DISABLE")(v.mode);

const peerAuthenticationSpec = (v: unknown) =>
  isObject(v) &&
  exact(v, ["mtls"], ["namespace", "mtls"]) &&
  opt(v, "namespace", (n) => typeof n === "string" && isNamespace(n)) &&
  mtls(v.mtls);

const accessLog = (v: unknown) =>
  isObject(v) &&
  exact(v, ["mode"], ["mode", "sampleRate"]) &&
  oneOf("off", "sampled", "all")(v.mode) &&
  opt(v, "sampleRate", num(0, 1)) &&
  (v.mode === "sampled") === (v.sampleRate !== undefined);

// --- Route -----------------------------------------------------------------

function routeSpec(v: unknown): boolean {
  return (
    isObject(v) &&
    exact(v, ["hosts", "http"], ["hosts", "http"]) &&
    arrayOf(nonEmpty, 1)(v.hosts) &&
    arrayOf(httpRoute, 1)(v.http)
  );
}

const httpRoute = (v: unknown) =>
  isObject(v) &&
  exact(v, ["match", "destinations", "timeout"], ["name", "match", "destinations", "timeout", "retries", "fault"]) &&
  opt(v, "name", str) &&
  arrayOf(routeMatch)(v.match) &&
  arrayOf(destination, 1)(v.destinations) &&
  timer(v.timeout) &&
  opt(v, "retries", retries) &&
  opt(v, "fault", routeFault);

const routeFault = (v: unknown) =>
  isObject(v) &&
  exact(v, [], ["delay", "abort"]) &&
  (v.delay !== undefined || v.abort !== undefined) &&
  opt(
    v,
    "delay",
    (d) => isObject(d) && exact(d, ["fixed", "percent"], ["fixed", "percent"]) && timer(d.fixed) && percent(d.percent),
  ) &&
  opt(
    v,
    "abort",
    (a) =>
      isObject(a) &&
      exact(a, ["percent"], ["status", "grpcStatus", "percent"]) &&
      one(a, ["status", "grpcStatus"]) &&
      opt(a, "status", int(200, 599)) &&
      opt(a, "grpcStatus", int(1, 16)) &&
      percent(a.percent),
  );

const routeMatch = (v: unknown) =>
  isObject(v) &&
  exact(v, [], ["path", "pathPrefix", "pathRegex", "methods", "headers"]) &&
  opt(v, "path", startsWithSlash) &&
  opt(v, "pathPrefix", startsWithSlash) &&
  opt(v, "pathRegex", regex) &&
  opt(
    v,
    "methods",
    arrayOf((m) => typeof m === "string" && METHOD.test(m)),
  ) &&
  opt(v, "headers", recordOf(headerName, stringMatch)) &&
  [v.path, v.pathPrefix, v.pathRegex].filter((p) => p !== undefined).length <= 1;

function stringMatch(v: unknown): boolean {
  if (typeof v === "string") return true;
  if (!isObject(v)) return false;
  const [kind, ...rest] = Object.keys(v);
  if (kind === undefined || rest.length > 0) return false;
  const x = v[kind];
  switch (kind) {
    case "exact":
    case "prefix":
      return str(x);
    case "regex":
      return regex(x);
    case "present":
      return bool(x);
    default:
      return false;
  }
}

const destination = (v: unknown) =>
  isObject(v) &&
  exact(v, ["service", "weight"], ["service", "port", "subset", "weight"]) &&
  name(v.service) &&
  opt(v, "port", port) &&
  opt(v, "subset", labels) &&
  int(0, 1_000_000)(v.weight);

const retries = (v: unknown) =>
  isObject(v) &&
  exact(
    v,
    ["attempts", "retryOn", "retryNonIdempotent", "idempotent"],
    ["attempts", "retryOn", "perTryTimeout", "retryNonIdempotent", "idempotent", "backoff"],
  ) &&
  int(0, 10)(v.attempts) &&
  arrayOf(
    oneOf(
      "connect-failure",
      "5xx",
      "reset",
      "gateway-error",
      "cancelled",
      "deadline-exceeded",
      "internal",
      "resource-exhausted",
      "unavailable",
    ),
    1,
  )(v.retryOn) &&
  opt(v, "perTryTimeout", timer) &&
  bool(v.retryNonIdempotent) &&
  bool(v.idempotent) &&
  opt(
    v,
    "backoff",
    (b) =>
      isObject(b) &&
      exact(b, ["baseInterval"], ["baseInterval", "maxInterval"]) &&
      timer(b.baseInterval) &&
      opt(b, "maxInterval", timer),
  );

// --- AuthorizationPolicy ---------------------------------------------------

const identity = (v: unknown) => typeof v === "string" && v.length <= 512 && IDENTITY_PATTERN.test(v);
const serviceOrAny = (v: unknown) => v === "*" || name(v);
const httpMethod = (v: unknown) => typeof v === "string" && METHOD.test(v);

const authzPath = (v: unknown) =>
  isObject(v) && Object.keys(v).length === 1 && (startsWithSlash(v.exact) || startsWithSlash(v.prefix));

const authzHeader = (v: unknown) =>
  isObject(v) && Object.keys(v).length === 2 && headerName(v.name) && (str(v.exact) || str(v.prefix));

const authzSource = (v: unknown) =>
  isObject(v) &&
  exact(v, [], ["identities", "services"]) &&
  opt(v, "identities", arrayOf(identity, 1)) &&
  opt(v, "services", arrayOf(serviceOrAny, 1));

const authzOperation = (v: unknown) =>
  isObject(v) &&
  exact(v, [], ["methods", "paths", "headers"]) &&
  opt(v, "methods", arrayOf(httpMethod, 1)) &&
  opt(v, "paths", arrayOf(authzPath, 1)) &&
  opt(v, "headers", arrayOf(authzHeader, 1));

const authzRule = (v: unknown) =>
  isObject(v) && exact(v, [], ["from", "to"]) && opt(v, "from", authzSource) && opt(v, "to", authzOperation);

function authorizationSpec(v: unknown): boolean {
  return (
    isObject(v) &&
    exact(v, ["targetService", "action", "rules"], ["targetService", "action", "rules"]) &&
    name(v.targetService) &&
    oneOf("ALLOW", "DENY")(v.action) &&
    arrayOf(authzRule, 0, MAX_AUTHZ_RULES)(v.rules)
  );
}

// --- Policy ----------------------------------------------------------------

function policySpec(v: unknown): boolean {
  if (!isObject(v)) return false;
  const known = ["target", "circuitBreaker", "limits", "rateLimit", "fallback", "outlierDetection", "healthCheck"];
  if (!exact(v, ["target"], known)) return false;
  const t = v.target;
  if (!isObject(t) || Object.keys(t).length !== 1 || !(name(t.service) || name(t.route))) return false;
  const fallbackService = isObject(v.fallback) ? v.fallback.service : undefined;
  return (
    opt(v, "circuitBreaker", circuitBreaker) &&
    opt(v, "limits", limits) &&
    opt(v, "rateLimit", rateLimit) &&
    opt(v, "fallback", fallback) &&
    opt(v, "outlierDetection", outlierDetection) &&
    opt(v, "healthCheck", healthCheck) &&
    (t.service === undefined || fallbackService === undefined || fallbackService !== t.service)
  );
}

const circuitBreaker = (v: unknown) =>
  isObject(v) &&
  exact(
    v,
    ["errorThresholdPercentage", "volumeThreshold", "rollingWindow", "resetTimeout", "halfOpenRequests"],
    [
      "errorThresholdPercentage",
      "volumeThreshold",
      "rollingWindow",
      "resetTimeout",
      "halfOpenRequests",
      "failureStatuses",
    ],
  ) &&
  percent(v.errorThresholdPercentage) &&
  (v.errorThresholdPercentage as number) > 0 &&
  positiveInt(v.volumeThreshold) &&
  timer(v.rollingWindow) &&
  timer(v.resetTimeout) &&
  v.halfOpenRequests === 1 &&
  opt(v, "failureStatuses", arrayOf(int(100, 599)));

const limits = (v: unknown) =>
  isObject(v) &&
  exact(v, [], ["maxConnections", "maxPendingRequests", "maxRequests", "maxRetries"]) &&
  Object.values(v).every(positiveInt);

const rateLimit = (v: unknown) =>
  isObject(v) &&
  exact(
    v,
    ["requestsPerSecond", "maxKeys", "scope", "queueSize"],
    ["requestsPerSecond", "burst", "key", "maxKeys", "scope", "maxWait", "queueSize"],
  ) &&
  num(MIN_RATE_PER_SECOND, MAX_RATE_PER_SECOND)(v.requestsPerSecond) &&
  opt(v, "burst", int(0, MAX_COUNT)) &&
  opt(
    v,
    "key",
    (k) =>
      isObject(k) &&
      ((exact(k, ["header"], ["header"]) && headerName(k.header)) ||
        (exact(k, ["sourceService"], ["sourceService"]) && k.sourceService === true)),
  ) &&
  tableSize(v.maxKeys) &&
  oneOf("local", "global")(v.scope) &&
  opt(v, "maxWait", timer) &&
  tableSize(v.queueSize) &&
  (v.scope !== "global" || v.key === undefined);

const staticGrpc = (g: unknown) =>
  isObject(g) &&
  exact(g, ["status"], ["status", "message", "response"]) &&
  int(0, 16)(g.status) &&
  opt(g, "message", (m) => typeof m === "string" && m.length <= 1024) &&
  opt(
    g,
    "response",
    (r) => typeof r === "string" && r.length <= MAX_STATIC_GRPC_BASE64 && BASE64_PATTERN.test(r) && g.status === 0,
  );

const fallback = (v: unknown) =>
  isObject(v) &&
  exact(v, ["on"], ["on", "static", "service", "staleCache"]) &&
  arrayOf(oneOf("circuitOpen", "rateLimited", "noHealthyUpstream", "timeout", "overflow"), 1)(v.on) &&
  opt(
    v,
    "static",
    (s) =>
      isObject(s) &&
      exact(s, ["status", "body"], ["status", "headers", "body", "grpc"]) &&
      int(100, 599)(s.status) &&
      opt(s, "headers", recordOf(headerName, str)) &&
      str(s.body) &&
      opt(s, "grpc", staticGrpc),
  ) &&
  opt(v, "service", name) &&
  opt(
    v,
    "staleCache",
    (c) =>
      isObject(c) &&
      exact(c, ["maxAge", "maxEntries", "maxBytes", "vary"], ["maxAge", "maxEntries", "maxBytes", "vary"]) &&
      timer(c.maxAge) &&
      tableSize(c.maxEntries) &&
      int(1, MAX_CACHE_BYTES)(c.maxBytes) &&
      arrayOf(headerName)(c.vary),
  ) &&
  one(v, ["static", "service", "staleCache"]);

const outlierDetection = (v: unknown) =>
  isObject(v) &&
  exact(
    v,
    ["consecutiveErrors", "interval", "baseEjectionTime", "maxEjectionPercent"],
    ["consecutiveErrors", "interval", "baseEjectionTime", "maxEjectionPercent", "successRateMinimumHosts"],
  ) &&
  positiveInt(v.consecutiveErrors) &&
  timer(v.interval) &&
  timer(v.baseEjectionTime) &&
  percent(v.maxEjectionPercent) &&
  opt(v, "successRateMinimumHosts", positiveInt);

const healthCheck = (v: unknown) =>
  isObject(v) &&
  exact(
    v,
    ["interval", "timeout", "healthyThreshold", "unhealthyThreshold"],
    ["path", "grpc", "interval", "timeout", "healthyThreshold", "unhealthyThreshold"],
  ) &&
  one(v, ["path", "grpc"]) &&
  opt(v, "path", startsWithSlash) &&
  opt(
    v,
    "grpc",
    (g) =>
      isObject(g) && exact(g, ["service"], ["service"]) && typeof g.service === "string" && g.service.length <= 253,
  ) &&
  timer(v.interval) &&
  timer(v.timeout) &&
  positiveInt(v.healthyThreshold) &&
  positiveInt(v.unhealthyThreshold);
