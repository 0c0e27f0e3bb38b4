import { z } from "zod";
import { isPrime } from "../common/prime.ts";
import {
  BASE64_PATTERN,
  formatBound,
  IDENTITY_PATTERN,
  isPrincipalPattern,
  MAX_AUTHZ_RULES,
  MAX_CACHE_BYTES,
  MAX_COOKIE_TTL_MS,
  MAX_COUNT,
  MAX_RATE_PER_SECOND,
  MAX_STATIC_GRPC_BASE64,
  MAX_STATIC_GRPC_RESPONSE,
  MAX_TABLE_ENTRIES,
  MAX_TIMER_MS,
  MIN_RATE_PER_SECOND,
} from "./bounds.ts";
import { CONFIG_KEY_HINT, CONFIG_KEY_PATTERN, MAX_VALUE_BYTES_CEILING } from "./config-key.ts";
import { DURATION_HINT, DURATION_PATTERN, parseDuration } from "./duration.ts";
import { isServiceAccountName, NAMESPACE_PATTERN } from "./kube-names.ts";

/**
 * The one source of the mesh's resource types, their validation and the JSON
 * Schema for editors. Objects are strict: an unknown field is an error, never
 * silently ignored, so a typo cannot pass for an applied setting.
 */

export const API_VERSION = "meshlet.dev/v1";

const name = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, "expected a lowercase DNS-style name (a-z, 0-9, '-', '.')");

const labels = z.record(z.string().min(1).max(63), z.string().max(63));

const duration = z
  .string()
  .regex(new RegExp(DURATION_PATTERN), DURATION_HINT)
  .refine((v) => (parseDuration(v) ?? 1) > 0, "expected a duration greater than zero");

/** A duration of at most `maxMs` (bounds.ts), checked apart from how durations are written. */
const durationAtMost = (maxMs: number) =>
  duration.refine((v) => (parseDuration(v) ?? 0) <= maxMs, `expected a duration of at most ${formatBound(maxMs)}`);
/** Every duration that becomes a timer in the sidecar. */
const timer = durationAtMost(MAX_TIMER_MS);

const port = z.number().int().min(1).max(65535);
const percent = z.number().min(0).max(100);
const atMost = (max: number) => `expected at most ${max}`;
const positiveInt = z.number().int().min(1).max(MAX_COUNT, atMost(MAX_COUNT));
const tableSize = z.number().int().min(1).max(MAX_TABLE_ENTRIES, atMost(MAX_TABLE_ENTRIES));

const headerName = z
  .string()
  .min(1)
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, "expected an HTTP header name");

const regexString = z.string().refine((v) => {
  try {
    new RegExp(v);
    return true;
  } catch {
    return false;
  }
}, "expected a valid regular expression");

export const metadataSchema = z.strictObject({
  name,
  labels: labels.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

// --- Service ---------------------------------------------------------------

/** `http` is HTTP/1.1; `http2` and `grpc` are HTTP/2 to the endpoints (h2c, multiplexed; docs/grpc.md). */
export const protocolSchema = z.enum(["http", "websocket", "http2", "grpc"]);

export const endpointSchema = z.strictObject({
  address: z.string().min(1),
  port,
  labels: labels.optional(),
  weight: z.number().int().min(1).max(1000).default(1),
});

export const consistentHashSchema = z
  .strictObject({
    header: headerName.optional(),
    cookie: z
      .strictObject({
        name: z.string().min(1),
        ttl: durationAtMost(MAX_COOKIE_TTL_MS).optional(),
        path: z.string().optional(),
      })
      .optional(),
    queryParameter: z.string().min(1).optional(),
    sourceIp: z.literal(true).optional(),
    algorithm: z.enum(["ringHash", "maglev"]).default("ringHash"),
    /** Ring hash: virtual nodes on the ring in total. */
    ringSize: z.number().int().min(64).max(8_388_608).optional(),
    /** Maglev: lookup table size. Prime, as Envoy requires: with any other size the table cannot be filled. */
    tableSize: z.number().int().min(127).max(5_000_011).refine(isPrime, "must be a prime (e.g. 65537)").optional(),
  })
  .refine(
    (h) => [h.header, h.cookie, h.queryParameter, h.sourceIp].filter((k) => k !== undefined).length === 1,
    "set exactly one hash key: header, cookie, queryParameter or sourceIp",
  );

export const loadBalancerSchema = z.union([
  z.strictObject({ roundRobin: z.strictObject({}) }),
  z.strictObject({ leastRequest: z.strictObject({ choiceCount: z.number().int().min(2).max(10).default(2) }) }),
  z.strictObject({ consistentHash: consistentHashSchema }),
]);

const configKey = z.string().regex(new RegExp(CONFIG_KEY_PATTERN), `expected ${CONFIG_KEY_HINT}`);

/** The app config a Service's instances read from their sidecar (docs/config-center.md). */
export const serviceConfigSchema = z.strictObject({
  keys: z.array(configKey).max(1000).default([]),
  /** Every key starting with one of these; "" is not allowed (it would hand the whole config center to one app). */
  prefixes: z.array(configKey).max(100).default([]),
});

/** Which requests to this Service get an access log line (docs/telemetry.md); without it, the sidecar's --access-log. */
export const accessLogSchema = z
  .strictObject({
    mode: z.enum(["off", "sampled", "all"]),
    /** For `sampled`: the share of requests logged. */
    sampleRate: z.number().min(0).max(1).optional(),
  })
  .refine((a) => a.mode === "sampled" || a.sampleRate === undefined, "sampleRate applies to mode: sampled only")
  .refine((a) => a.mode !== "sampled" || a.sampleRate !== undefined, "mode: sampled needs a sampleRate");

/**
 * Mutual TLS between sidecars for this Service's inbound side (docs/security.md): STRICT refuses plain text,
 * PERMISSIVE takes both (migration), DISABLE is plain only. Without it: STRICT when the sidecar holds a
 * certificate from the control plane, plain for a sidecar run from a static --config (it has no identity).
 */
export const mtlsSchema = z.strictObject({ mode: z.enum(["STRICT", "PERMISSIVE", "DISABLE"]) });

/**
 * A Kubernetes service account whose workloads may act as this Service: the control plane signs
 * spiffe://<td>/ns/<namespace>/sa/<name> for a sidecar of this Service only when it is listed (docs/security.md).
 */
export const serviceAccountSchema = z.strictObject({
  namespace: z.string().regex(new RegExp(NAMESPACE_PATTERN), "expected a Kubernetes namespace (a DNS-1123 label)"),
  name: z
    .string()
    .max(253)
    .refine(isServiceAccountName, "expected a Kubernetes service account name (a DNS-1123 subdomain)"),
});

export const serviceSpecSchema = z.strictObject({
  ports: z
    .array(z.strictObject({ port, protocol: protocolSchema.default("http"), name: z.string().optional() }))
    .min(1)
    .default([{ port: 80, protocol: "http" }]),
  loadBalancer: loadBalancerSchema.default({ roundRobin: {} }),
  endpoints: z.array(endpointSchema).default([]),
  config: serviceConfigSchema.optional(),
  accessLog: accessLogSchema.optional(),
  mtls: mtlsSchema.optional(),
  serviceAccounts: z.array(serviceAccountSchema).max(100).optional(),
});

// --- Route -----------------------------------------------------------------

export const stringMatchSchema = z.union([
  z.string(),
  z.strictObject({ exact: z.string() }),
  z.strictObject({ prefix: z.string() }),
  z.strictObject({ regex: regexString }),
  z.strictObject({ present: z.boolean() }),
]);

export const routeMatchSchema = z
  .strictObject({
    path: z.string().startsWith("/").optional(),
    pathPrefix: z.string().startsWith("/").optional(),
    pathRegex: regexString.optional(),
    methods: z.array(z.string().regex(/^[A-Z]+$/, "expected an upper-case HTTP method")).optional(),
    headers: z.record(headerName, stringMatchSchema).optional(),
  })
  .refine(
    (m) => [m.path, m.pathPrefix, m.pathRegex].filter((p) => p !== undefined).length <= 1,
    "set at most one of path, pathPrefix, pathRegex",
  );

export const destinationSchema = z.strictObject({
  service: name,
  port: port.optional(),
  subset: labels.optional(),
  weight: z.number().int().min(0).max(1_000_000).default(1),
});

export const retryOnSchema = z.enum([
  "connect-failure",
  "5xx",
  "reset",
  "gateway-error",
  // gRPC statuses (docs/grpc.md): retried only where the request was not sent yet or the route may resend it.
  "cancelled",
  "deadline-exceeded",
  "internal",
  "resource-exhausted",
  "unavailable",
]);

export const retriesSchema = z.strictObject({
  attempts: z.number().int().min(0).max(10),
  retryOn: z.array(retryOnSchema).min(1).default(["connect-failure", "gateway-error"]),
  perTryTimeout: timer.optional(),
  /** Retry POST/PATCH too; off by default because they may not be idempotent. */
  retryNonIdempotent: z.boolean().default(false),
  /**
   * The route's calls are idempotent: any method may be retried, and a body streamed without a length (a gRPC
   * call's) is copied as it goes upstream, up to 64 KiB, so a call may be sent again after it reached the upstream.
   */
  idempotent: z.boolean().default(false),
  backoff: z.strictObject({ baseInterval: timer, maxInterval: timer.optional() }).optional(),
});

/** An HTTP status a fault answers with (Istio's httpStatus range). */
const abortStatus = z.number().int().min(200).max(599);
/** A gRPC status code other than OK (0): 1 CANCELLED .. 16 UNAUTHENTICATED. */
const grpcStatus = z.number().int().min(1).max(16);

/** Answer locally instead of calling the upstream: an HTTP status, or a gRPC status (HTTP 200 + grpc-status). */
export const faultAbortSchema = z
  .strictObject({ status: abortStatus.optional(), grpcStatus: grpcStatus.optional(), percent: percent.default(100) })
  .refine((a) => (a.status === undefined) !== (a.grpcStatus === undefined), "set exactly one of status, grpcStatus");

/** Wait before the upstream attempt; the wait counts against the route's timeout. */
export const faultDelaySchema = z.strictObject({ fixed: timer, percent: percent.default(100) });

/** A Route rule's injected faults (docs/faults.md), applied by the caller's sidecar before the upstream attempt. */
export const routeFaultSchema = z
  .strictObject({ delay: faultDelaySchema.optional(), abort: faultAbortSchema.optional() })
  .refine((f) => f.delay !== undefined || f.abort !== undefined, "set delay, abort or both");

export const httpRouteSchema = z.strictObject({
  name: z.string().optional(),
  match: z.array(routeMatchSchema).default([]),
  destinations: z.array(destinationSchema).min(1),
  timeout: timer.default("15s"),
  retries: retriesSchema.optional(),
  fault: routeFaultSchema.optional(),
});

export const routeSpecSchema = z.strictObject({
  hosts: z.array(z.string().min(1)).min(1),
  http: z.array(httpRouteSchema).min(1),
});

// --- Policy ----------------------------------------------------------------

export const circuitBreakerSchema = z.strictObject({
  errorThresholdPercentage: percent.refine((v) => v > 0, "expected a percentage in (0, 100]"),
  volumeThreshold: positiveInt.default(20),
  rollingWindow: timer.default("10s"),
  resetTimeout: timer.default("5s"),
  /** The breaker lets exactly one probe through while half-open (docs/resilience.md). */
  halfOpenRequests: z.literal(1, { error: "half-open admits one probe at a time; expected 1" }).default(1),
  /** Statuses counted as failures; default: every 5xx except 501. */
  failureStatuses: z.array(z.number().int().min(100).max(599)).optional(),
});

export const limitsSchema = z.strictObject({
  maxConnections: positiveInt.optional(),
  maxPendingRequests: positiveInt.optional(),
  maxRequests: positiveInt.optional(),
  maxRetries: positiveInt.optional(),
});

export const rateLimitSchema = z
  .strictObject({
    requestsPerSecond: z
      .number()
      .min(MIN_RATE_PER_SECOND, `expected at least ${MIN_RATE_PER_SECOND} (one request every 1000 s)`)
      .max(MAX_RATE_PER_SECOND, atMost(MAX_RATE_PER_SECOND)),
    burst: z.number().int().min(0).max(MAX_COUNT, atMost(MAX_COUNT)).optional(),
    key: z
      .union([z.strictObject({ header: headerName }), z.strictObject({ sourceService: z.literal(true) })])
      .optional(),
    maxKeys: tableSize.default(10_000),
    scope: z.enum(["local", "global"]).default("local"),
    /** Wait up to this long in a bounded queue for a token instead of failing at once. */
    maxWait: timer.optional(),
    queueSize: tableSize.default(100),
  })
  .refine((r) => r.scope !== "global" || r.key === undefined, {
    path: ["key"],
    message: "a per-key limit cannot be global; use scope: local",
  });

export const fallbackTriggerSchema = z.enum(["circuitOpen", "rateLimited", "noHealthyUpstream", "timeout", "overflow"]);

/** A static fallback's answer to a gRPC call: grpc-status and grpc-message, or status 0 with a fixed message. */
export const staticGrpcSchema = z
  .strictObject({
    /** 0 OK .. 16 UNAUTHENTICATED. */
    status: z.number().int().min(0).max(16),
    message: z.string().max(1024).optional(),
    /** A serialized protobuf message, base64 (standard alphabet, padded): the call's response with status 0. */
    response: z
      .string()
      .max(MAX_STATIC_GRPC_BASE64, `expected at most ${MAX_STATIC_GRPC_RESPONSE} bytes of message`)
      .regex(BASE64_PATTERN, "expected base64 (A-Z a-z 0-9 + /, padded with =)")
      .optional(),
  })
  .refine((g) => g.response === undefined || g.status === 0, {
    path: ["response"],
    message: "a response message goes with status 0 (OK) only; a failed call has no message",
  });

export const fallbackSchema = z
  .strictObject({
    on: z.array(fallbackTriggerSchema).min(1),
    static: z
      .strictObject({
        status: z.number().int().min(100).max(599).default(200),
        headers: z.record(headerName, z.string()).optional(),
        body: z.string().default(""),
        /** What a gRPC call gets instead (docs/grpc.md): a status and message, or with status 0 a fixed message. */
        grpc: staticGrpcSchema.optional(),
      })
      .optional(),
    service: name.optional(),
    staleCache: z
      .strictObject({
        maxAge: timer,
        maxEntries: tableSize.default(1000),
        maxBytes: z
          .number()
          .int()
          .min(1)
          .max(MAX_CACHE_BYTES, atMost(MAX_CACHE_BYTES))
          .default(16 * 1024 * 1024),
        vary: z.array(headerName).default([]),
      })
      .optional(),
  })
  .refine(
    (f) => [f.static, f.service, f.staleCache].filter((k) => k !== undefined).length === 1,
    "set exactly one fallback kind: static, service or staleCache",
  );

export const outlierDetectionSchema = z.strictObject({
  consecutiveErrors: positiveInt.default(5),
  interval: timer.default("10s"),
  baseEjectionTime: timer.default("30s"),
  maxEjectionPercent: percent.default(50),
  successRateMinimumHosts: positiveInt.optional(),
});

export const healthCheckSchema = z
  .strictObject({
    /** An HTTP/1.1 GET of this path; a 2xx passes. */
    path: z.string().startsWith("/").optional(),
    /** grpc.health.v1.Health/Check over h2c; SERVING passes. `service` "" asks about the whole server. */
    grpc: z.strictObject({ service: z.string().max(253).default("") }).optional(),
    interval: timer.default("10s"),
    timeout: timer.default("1s"),
    healthyThreshold: positiveInt.default(2),
    unhealthyThreshold: positiveInt.default(3),
  })
  .refine((h) => (h.path === undefined) !== (h.grpc === undefined), {
    message: "set exactly one of path (an HTTP check) and grpc (a grpc.health.v1 check)",
  });

export const policySpecSchema = z
  .strictObject({
    target: z.union([z.strictObject({ service: name }), z.strictObject({ route: name })]),
    circuitBreaker: circuitBreakerSchema.optional(),
    limits: limitsSchema.optional(),
    rateLimit: rateLimitSchema.optional(),
    fallback: fallbackSchema.optional(),
    outlierDetection: outlierDetectionSchema.optional(),
    healthCheck: healthCheckSchema.optional(),
  })
  .refine(
    (p) => !("service" in p.target) || p.fallback?.service === undefined || p.fallback.service !== p.target.service,
    { path: ["fallback", "service"], message: "a service cannot be its own fallback" },
  );

// --- ConfigRelease -------------------------------------------------------

/** An instance id as sidecars register it (src/controlplane/registry/commands.ts). */
const instanceId = z.string().regex(/^[A-Za-z0-9._:-]{1,253}$/, "expected an instance id (A-Z a-z 0-9 . _ : -)");

export const releaseSelectorSchema = z.union([
  /** Stable by a hash of the key and the instance id: an instance in at P % stays in at every P' > P. */
  z.strictObject({ percent: percent }),
  z.strictObject({
    labels: labels.refine((l) => Object.keys(l).length > 0, "expected at least one label"),
  }),
  z.strictObject({ instances: z.array(instanceId).min(1).max(10_000) }),
]);

/** A gray (canary) release of one config key: `value` for the selected instances, the base value for the rest. */
export const configReleaseSpecSchema = z.strictObject({
  key: configKey,
  value: z
    .string()
    .refine(
      (v) => Buffer.byteLength(v) <= MAX_VALUE_BYTES_CEILING,
      `expected a value of at most ${MAX_VALUE_BYTES_CEILING} bytes`,
    ),
  selector: releaseSelectorSchema,
});

// --- FaultExperiment -------------------------------------------------------

export const FAULT_KINDS = ["delay", "abort", "reset", "bandwidth", "blackhole"] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** The longest an experiment may run: one day, as every sidecar timer. */
export const MAX_EXPERIMENT_MS = MAX_TIMER_MS;

export const faultTargetSchema = z.strictObject({
  service: name,
  /** Only the target's instances with these labels. */
  labels: labels.optional(),
  /** Only this share of the target's instances, chosen by a hash of the experiment and instance id (stable). */
  instancePercent: percent.optional(),
});

/** Set by the control plane when it starts the experiment; never taken from the user. */
export const faultStatusSchema = z.strictObject({
  /** Wall-clock ms (Unix epoch) after which no sidecar applies it and the control plane deletes it. */
  deadline: z.number().int().min(0),
  startedAt: z.number().int().min(0),
  startedBy: z.string().max(256),
  reason: z.string().max(1024).optional(),
});

/** A fault with a lifetime (docs/faults.md): started by `meshlet chaos start`, removed by the control plane at its deadline. */
export const faultExperimentSpecSchema = z
  .strictObject({
    target: faultTargetSchema,
    kind: z.enum(FAULT_KINDS),
    /** outbound: every caller's sidecar, on requests to the target; inbound: the target's own sidecars. */
    side: z.enum(["outbound", "inbound"]).default("outbound"),
    /** The share of requests affected. */
    percent: percent.default(100),
    delay: z.strictObject({ fixed: timer }).optional(),
    abort: z.strictObject({ status: abortStatus.optional(), grpcStatus: grpcStatus.optional() }).optional(),
    bandwidth: z.strictObject({ bytesPerSecond: z.number().int().min(1).max(MAX_COUNT, atMost(MAX_COUNT)) }).optional(),
    duration: durationAtMost(MAX_EXPERIMENT_MS),
  })
  .refine((e) => (e.kind === "delay") === (e.delay !== undefined), {
    path: ["delay"],
    message: "kind: delay needs delay: {fixed}, and only it",
  })
  .refine((e) => (e.kind === "abort") === (e.abort !== undefined), {
    path: ["abort"],
    message: "kind: abort needs abort: {status | grpcStatus}, and only it",
  })
  .refine((e) => e.abort === undefined || (e.abort.status === undefined) !== (e.abort.grpcStatus === undefined), {
    path: ["abort"],
    message: "set exactly one of status, grpcStatus",
  })
  .refine((e) => (e.kind === "bandwidth") === (e.bandwidth !== undefined), {
    path: ["bandwidth"],
    message: "kind: bandwidth needs bandwidth: {bytesPerSecond}, and only it",
  })
  .refine((e) => e.side === "inbound" || (e.target.labels === undefined && e.target.instancePercent === undefined), {
    path: ["target"],
    message: "labels and instancePercent select the target's own sidecars: they need side: inbound",
  });

// --- AuthorizationPolicy ---------------------------------------------------

export const authorizationSourceSchema = z.strictObject({
  identities: z
    .array(z.string().max(512).regex(IDENTITY_PATTERN, "expected an identity, prefix* or *suffix"))
    .min(1)
    .optional(),
  services: z
    .array(z.union([name, z.literal("*")]))
    .min(1)
    .optional(),
  /** SPIFFE IDs: exact, `spiffe://<td>/<segments>/*`, or `*`. */
  principals: z
    .array(
      z
        .string()
        .max(2048)
        .refine(isPrincipalPattern, "expected a SPIFFE ID (spiffe://<td>/...), one ending in /* for a prefix, or *"),
    )
    .min(1)
    .optional(),
  /** Namespaces of `spiffe://<td>/ns/<namespace>/sa/<account>` identities, exact. */
  namespaces: z
    .array(z.string().regex(new RegExp(NAMESPACE_PATTERN), "expected a Kubernetes namespace (a DNS-1123 label)"))
    .min(1)
    .optional(),
});

export const authorizationPathSchema = z.union([
  z.strictObject({ exact: z.string().startsWith("/") }),
  z.strictObject({ prefix: z.string().startsWith("/") }),
]);

export const authorizationHeaderSchema = z.union([
  z.strictObject({ name: headerName, exact: z.string() }),
  z.strictObject({ name: headerName, prefix: z.string() }),
]);

export const authorizationOperationSchema = z.strictObject({
  methods: z
    .array(z.string().regex(/^[A-Z]+$/, "expected an upper-case HTTP method"))
    .min(1)
    .optional(),
  paths: z.array(authorizationPathSchema).min(1).optional(),
  headers: z.array(authorizationHeaderSchema).min(1).optional(),
});

export const authorizationRuleSchema = z.strictObject({
  from: authorizationSourceSchema.optional(),
  to: authorizationOperationSchema.optional(),
});

export const authorizationPolicySpecSchema = z.strictObject({
  /** The service whose inbound sidecars enforce the policy. */
  targetService: name,
  /** As Istio: ALLOW when not given. */
  action: z.enum(["ALLOW", "DENY"]).default("ALLOW"),
  rules: z.array(authorizationRuleSchema).max(MAX_AUTHZ_RULES),
});

// --- PeerAuthentication ----------------------------------------------------

/**
 * The mTLS mode of a namespace's sidecars, or of the whole mesh (Istio's PeerAuthentication in its root
 * namespace): resources are not namespaced here, so the namespace is a field, and its absence means mesh-wide.
 * A Service's own spec.mtls wins over both (docs/security.md, "Which mode applies").
 */
export const peerAuthenticationSpecSchema = z.strictObject({
  /** The Kubernetes namespace of the sidecars it covers (their --namespace); absent: every sidecar of the mesh. */
  namespace: z
    .string()
    .regex(new RegExp(NAMESPACE_PATTERN), "expected a Kubernetes namespace (a DNS-1123 label)")
    .optional(),
  mtls: mtlsSchema,
});

// --- Documents ---------------------------------------------------------------

const apiVersion = z.literal(API_VERSION, { error: `expected apiVersion: ${API_VERSION}` });

export const serviceSchema = z.strictObject({
  apiVersion,
  kind: z.literal("Service"),
  metadata: metadataSchema,
  spec: serviceSpecSchema.default({
    ports: [{ port: 80, protocol: "http" }],
    loadBalancer: { roundRobin: {} },
    endpoints: [],
  }),
});

export const routeSchema = z.strictObject({
  apiVersion,
  kind: z.literal("Route"),
  metadata: metadataSchema,
  spec: routeSpecSchema,
});

export const policySchema = z.strictObject({
  apiVersion,
  kind: z.literal("Policy"),
  metadata: metadataSchema,
  spec: policySpecSchema,
});

export const configReleaseSchema = z.strictObject({
  apiVersion,
  kind: z.literal("ConfigRelease"),
  metadata: metadataSchema,
  spec: configReleaseSpecSchema,
});

export const faultExperimentSchema = z.strictObject({
  apiVersion,
  kind: z.literal("FaultExperiment"),
  metadata: metadataSchema,
  spec: faultExperimentSpecSchema,
  status: faultStatusSchema.optional(),
});

export const authorizationPolicySchema = z.strictObject({
  apiVersion,
  kind: z.literal("AuthorizationPolicy"),
  metadata: metadataSchema,
  spec: authorizationPolicySpecSchema,
});

export const peerAuthenticationSchema = z.strictObject({
  apiVersion,
  kind: z.literal("PeerAuthentication"),
  metadata: metadataSchema,
  spec: peerAuthenticationSpecSchema,
});

export const RESOURCE_KINDS = [
  "Service",
  "Route",
  "Policy",
  "ConfigRelease",
  "FaultExperiment",
  "AuthorizationPolicy",
  "PeerAuthentication",
] as const;
export type ResourceKind = (typeof RESOURCE_KINDS)[number];

export const resourceSchema = z.discriminatedUnion("kind", [
  serviceSchema,
  routeSchema,
  policySchema,
  configReleaseSchema,
  faultExperimentSchema,
  authorizationPolicySchema,
  peerAuthenticationSchema,
]);

export type Service = z.infer<typeof serviceSchema>;
export type Route = z.infer<typeof routeSchema>;
export type Policy = z.infer<typeof policySchema>;
export type ConfigRelease = z.infer<typeof configReleaseSchema>;
export type FaultExperiment = z.infer<typeof faultExperimentSchema>;
export type AuthorizationPolicy = z.infer<typeof authorizationPolicySchema>;
export type AuthorizationPolicySpec = z.infer<typeof authorizationPolicySpecSchema>;
export type AuthorizationRule = z.infer<typeof authorizationRuleSchema>;
export type PeerAuthentication = z.infer<typeof peerAuthenticationSchema>;
export type MtlsMode = z.infer<typeof mtlsSchema>["mode"];
export type FaultExperimentSpec = z.infer<typeof faultExperimentSpecSchema>;
export type RouteFault = z.infer<typeof routeFaultSchema>;
export type ReleaseSelector = z.infer<typeof releaseSelectorSchema>;
export type ServiceConfig = z.infer<typeof serviceConfigSchema>;
export type Resource = z.infer<typeof resourceSchema>;
export type Endpoint = z.infer<typeof endpointSchema>;
export type HttpRoute = z.infer<typeof httpRouteSchema>;
export type RouteMatch = z.infer<typeof routeMatchSchema>;
export type StringMatch = z.infer<typeof stringMatchSchema>;
export type LoadBalancer = z.infer<typeof loadBalancerSchema>;
export type ConsistentHash = z.infer<typeof consistentHashSchema>;
export type PolicySpec = z.infer<typeof policySpecSchema>;
export type RetryOn = z.infer<typeof retryOnSchema>;
export type FallbackTrigger = z.infer<typeof fallbackTriggerSchema>;

/** Lower-case plural used in URLs and the CLI (`/v1/resources/routes`, `meshlet get routes`). */
export function kindFromPath(segment: string): ResourceKind | undefined {
  const s = segment.toLowerCase().replace(/ies$/, "y").replace(/s$/, "");
  return RESOURCE_KINDS.find((k) => k.toLowerCase() === s);
}
