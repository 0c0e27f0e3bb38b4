import { MeshletError } from "../common/errors.ts";
import { MESHLET_VERSION } from "../common/version.ts";
import {
  ADMIN_PORT,
  ANNOTATION,
  CA_CONFIG_MAP,
  CA_DIR,
  CA_FILE,
  CA_VOLUME,
  DATA_DIR,
  DATA_VOLUME,
  INBOUND_PORT,
  INIT_CONTAINER,
  OUTBOUND_PORT,
  PROXY_CONTAINER,
  TOKEN_AUDIENCE,
  TOKEN_DIR,
  TOKEN_EXPIRATION_SECONDS,
  TOKEN_VOLUME,
} from "./names.ts";
import { isObject, type Json, type JsonObject } from "./workloads.ts";

/**
 * The one mutation of a pod template (a Pod, or a workload's spec.template): what `meshlet inject` writes and
 * what the webhook's JSON Patch does. Pure: JSON in, JSON out, nothing read from the clock or the environment.
 */
export interface InjectOptions {
  image: string;
  /** The control plane's gRPC addresses, host:port,... */
  control: string;
  /** The sidecar as an initContainer with restartPolicy: Always (Kubernetes >= 1.29), else a plain container. */
  nativeSidecar: boolean;
  /** Add the `meshlet iptables` init container. */
  intercept: boolean;
  proxyUid: number;
}

export class InjectError extends MeshletError {
  constructor(message: string) {
    super("ERR_INJECT", message);
    this.name = "InjectError";
  }
}

export type InjectResult =
  | { outcome: "injected"; template: JsonObject }
  | { outcome: "skipped"; reason: string; template: JsonObject };

/** What inject added, kept in the meshlet.dev/injected annotation so uninject restores the pod exactly. */
interface Marker {
  version: string;
  /** Keys of the template that did not exist before inject (spec.initContainers, spec.volumes, metadata.annotations). */
  created: string[];
  /** Annotations inject added (Prometheus scrape ones the pod did not have). */
  annotations: string[];
  /** App containers whose command was wrapped with `meshlet await --`. */
  wrapped: string[];
}

const AWAIT_PREFIX = ["meshlet", "await", "--"];
const DEFAULT_GRACE_SECONDS = 30;

function objectAt(parent: JsonObject, key: string): JsonObject | undefined {
  const value = parent[key];
  return isObject(value) ? value : undefined;
}

function arrayAt(parent: JsonObject, key: string): JsonObject[] {
  const value = parent[key];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every(isObject)) throw new InjectError(`${key} must be a list of objects`);
  return value as JsonObject[];
}

function stringMap(value: Json | undefined): Record<string, string> {
  if (!isObject(value)) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) if (typeof v === "string") out[k] = v;
  return out;
}

export function isInjected(template: JsonObject): boolean {
  const meta = objectAt(template, "metadata") ?? {};
  const spec = objectAt(template, "spec") ?? {};
  if (stringMap(meta.annotations)[ANNOTATION.injected] !== undefined) return true;
  const names = [...arrayAt(spec, "initContainers"), ...arrayAt(spec, "containers")].map((c) => c.name);
  return names.includes(PROXY_CONTAINER);
}

/** `meshlet.dev/inject: disabled` as an annotation or a label. */
export function optedOut(template: JsonObject): boolean {
  const meta = objectAt(template, "metadata") ?? {};
  const off = (m: Json | undefined) => stringMap(m)[ANNOTATION.inject]?.toLowerCase() === "disabled";
  return off(meta.annotations) || off(meta.labels);
}

/** The app's port: the annotation (a number, or the name of a container port), else the first container port. */
function appPort(containers: JsonObject[], annotations: Record<string, string>): number | undefined {
  const ports = containers.flatMap((c) => arrayAt(c, "ports"));
  const wanted = annotations[ANNOTATION.appPort];
  if (wanted !== undefined) {
    if (/^\d+$/.test(wanted)) {
      const n = Number(wanted);
      if (n < 1 || n > 65535) throw new InjectError(`${ANNOTATION.appPort}: ${wanted} is not a port`);
      return n;
    }
    const named = ports.find((p) => p.name === wanted);
    if (named === undefined || typeof named.containerPort !== "number")
      throw new InjectError(`${ANNOTATION.appPort}: no container port is named "${wanted}"`);
    return named.containerPort;
  }
  const first = ports[0]?.containerPort;
  return typeof first === "number" ? first : undefined;
}

function serviceName(labels: Record<string, string>, annotations: Record<string, string>, name: string | undefined) {
  const service =
    annotations[ANNOTATION.service] ??
    labels["app.kubernetes.io/name"] ??
    labels.app ??
    (name === "" ? undefined : name);
  if (service === undefined) throw new InjectError(`no service name: set the ${ANNOTATION.service} annotation`);
  return service;
}

/**
 * Drain within the pod's grace period: Kubernetes kills the sidecar after terminationGracePeriodSeconds, so
 * --drain-delay plus --drain-timeout leave a second of it for the exit.
 */
export function drainFlags(graceSeconds: number): { delay: string; timeout: string } {
  const delay = Math.min(2, Math.floor(graceSeconds / 4));
  const timeout = Math.max(0, Math.min(10, graceSeconds - delay - 1));
  return { delay: `${delay}s`, timeout: `${timeout}s` };
}

const PROBE = { httpGet: { path: "/ready", port: ADMIN_PORT } };

function proxyContainer(
  opts: InjectOptions,
  args: { service: string; appPort: number; labels: Record<string, string>; graceSeconds: number },
): JsonObject {
  const drain = drainFlags(args.graceSeconds);
  const labels = Object.entries(args.labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
  const container: JsonObject = {
    name: PROXY_CONTAINER,
    image: opts.image,
    args: [
      "sidecar",
      "--service",
      args.service,
      "--app-port",
      String(args.appPort),
      "--control",
      opts.control,
      // The pod's IP, expanded by the kubelet: the sidecar registers its inbound address, and another pod must
      // reach it there (0.0.0.0 would be registered as 127.0.0.1).
      "--inbound",
      `$(POD_IP):${INBOUND_PORT}`,
      "--outbound",
      `127.0.0.1:${OUTBOUND_PORT}`,
      "--admin",
      `0.0.0.0:${ADMIN_PORT}`,
      "--data-dir",
      DATA_DIR,
      "--drain-delay",
      drain.delay,
      "--drain-timeout",
      drain.timeout,
      ...(labels === "" ? [] : ["--labels", labels]),
    ],
    // The instance registers under its pod's name (a flag's env var, filled by the downward API). It joins with
    // the pod's projected service-account token, whose namespace and account become its identity.
    env: [
      { name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
      { name: "MESHLET_INSTANCE", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
      { name: "MESHLET_TOKEN_FILE", value: `${TOKEN_DIR}/token` },
      { name: "MESHLET_CA_FILE", value: `${CA_DIR}/${CA_FILE}` },
      { name: "MESHLET_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
      { name: "MESHLET_SERVICE_ACCOUNT", valueFrom: { fieldRef: { fieldPath: "spec.serviceAccountName" } } },
    ],
    ports: [
      { name: "meshlet-inbound", containerPort: INBOUND_PORT, protocol: "TCP" },
      { name: "meshlet-admin", containerPort: ADMIN_PORT, protocol: "TCP" },
    ],
    startupProbe: { ...PROBE, periodSeconds: 1, failureThreshold: 120 },
    readinessProbe: { ...PROBE, periodSeconds: 5 },
    resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "256Mi" } },
    securityContext: {
      runAsUser: opts.proxyUid,
      runAsGroup: opts.proxyUid,
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
    },
    volumeMounts: [
      { name: DATA_VOLUME, mountPath: DATA_DIR },
      { name: TOKEN_VOLUME, mountPath: TOKEN_DIR, readOnly: true },
      { name: CA_VOLUME, mountPath: CA_DIR, readOnly: true },
    ],
  };
  if (opts.nativeSidecar) container.restartPolicy = "Always";
  return container;
}

function initContainer(opts: InjectOptions, appPort: number, annotations: Record<string, string>): JsonObject {
  const extra: string[] = [];
  const flag = (annotation: string, name: string) => {
    const value = annotations[annotation];
    if (value !== undefined && value.trim() !== "") extra.push(name, value.replaceAll(" ", ""));
  };
  flag(ANNOTATION.excludeOutboundPorts, "--exclude-outbound-ports");
  flag(ANNOTATION.excludeInboundPorts, "--exclude-inbound-ports");
  flag(ANNOTATION.excludeOutboundCidrs, "--exclude-outbound-cidrs");
  return {
    name: INIT_CONTAINER,
    image: opts.image,
    args: [
      "iptables",
      "--proxy-uid",
      String(opts.proxyUid),
      "--outbound-port",
      String(OUTBOUND_PORT),
      "--inbound-port",
      String(INBOUND_PORT),
      "--inbound-ports",
      String(appPort),
      ...extra,
    ],
    resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "64Mi" } },
    // Root with NET_ADMIN in the pod's network namespace only, as istio-init: it edits nat rules and exits.
    securityContext: {
      runAsUser: 0,
      runAsNonRoot: false,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { add: ["NET_ADMIN", "NET_RAW"], drop: ["ALL"] },
    },
  };
}

const SCRAPE_ANNOTATIONS: Record<string, string> = {
  "prometheus.io/scrape": "true",
  "prometheus.io/port": String(ADMIN_PORT),
  "prometheus.io/path": "/metrics",
};

/** Adds the sidecar (and the interception init container) to a pod template; the input is not modified. */
export function injectTemplate(input: JsonObject, opts: InjectOptions, name: string | undefined): InjectResult {
  if (optedOut(input)) return { outcome: "skipped", reason: `${ANNOTATION.inject} is disabled`, template: input };
  if (isInjected(input)) return { outcome: "skipped", reason: "already injected", template: input };
  const template = structuredClone(input);
  const marker: Marker = { version: MESHLET_VERSION, created: [], annotations: [], wrapped: [] };
  if (!isObject(template.metadata)) {
    template.metadata = {};
    marker.created.push("metadata");
  }
  const meta = template.metadata as JsonObject;
  const spec = objectAt(template, "spec");
  if (spec === undefined) throw new InjectError("the pod has no spec");
  const containers = arrayAt(spec, "containers");
  if (containers.length === 0) throw new InjectError("the pod has no containers");
  const labels = stringMap(meta.labels);
  const annotations = stringMap(meta.annotations);
  const port = appPort(containers, annotations);
  if (port === undefined)
    return {
      outcome: "skipped",
      reason: `no container port and no ${ANNOTATION.appPort} annotation: the sidecar would not know the app's port`,
      template: input,
    };
  const grace = typeof spec.terminationGracePeriodSeconds === "number" ? spec.terminationGracePeriodSeconds : undefined;
  const proxy = proxyContainer(opts, {
    service: serviceName(labels, annotations, name),
    appPort: port,
    labels,
    graceSeconds: grace ?? DEFAULT_GRACE_SECONDS,
  });
  const inits: JsonObject[] = [];
  if (opts.intercept) inits.push(initContainer(opts, port, annotations));
  if (opts.nativeSidecar) inits.push(proxy);
  else {
    for (const c of containers) {
      if (Array.isArray(c.command) && c.command.length > 0 && typeof c.name === "string") {
        c.command = [...AWAIT_PREFIX, ...c.command];
        marker.wrapped.push(c.name);
      }
    }
    spec.containers = [proxy, ...containers];
  }
  if (inits.length > 0) {
    if (spec.initContainers === undefined) marker.created.push("initContainers");
    spec.initContainers = [...inits, ...arrayAt(spec, "initContainers")];
  }
  if (spec.volumes === undefined) marker.created.push("volumes");
  spec.volumes = [
    ...arrayAt(spec, "volumes"),
    { name: DATA_VOLUME, emptyDir: {} },
    {
      name: TOKEN_VOLUME,
      projected: {
        sources: [
          {
            serviceAccountToken: {
              audience: TOKEN_AUDIENCE,
              expirationSeconds: TOKEN_EXPIRATION_SECONDS,
              path: "token",
            },
          },
        ],
      },
    },
    // Not optional: without the CA the sidecar could not verify the control plane, so the kubelet holds the pod
    // (an event names the missing ConfigMap) rather than start a proxy that cannot join.
    { name: CA_VOLUME, configMap: { name: CA_CONFIG_MAP, items: [{ key: CA_FILE, path: CA_FILE }] } },
  ];
  if (!isObject(meta.annotations)) {
    meta.annotations = {};
    marker.created.push("annotations");
  }
  const out = meta.annotations as JsonObject;
  for (const [k, v] of Object.entries(SCRAPE_ANNOTATIONS)) {
    if (out[k] !== undefined) continue;
    out[k] = v;
    marker.annotations.push(k);
  }
  out[ANNOTATION.injected] = JSON.stringify(marker);
  return { outcome: "injected", template };
}

function readMarker(annotations: Record<string, string>): Marker | undefined {
  const raw = annotations[ANNOTATION.injected];
  if (raw === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(raw);
    if (!isObject(parsed)) return undefined;
    const list = (v: Json | undefined) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);
    return {
      version: typeof parsed.version === "string" ? parsed.version : "",
      created: list(parsed.created),
      annotations: list(parsed.annotations),
      wrapped: list(parsed.wrapped),
    };
  } catch {
    return undefined;
  }
}

const isMeshletContainer = (c: JsonObject) => c.name === PROXY_CONTAINER || c.name === INIT_CONTAINER;

/** Removes what injectTemplate added; a template that was never injected comes back unchanged. */
export function uninjectTemplate(input: JsonObject): { changed: boolean; template: JsonObject } {
  if (!isInjected(input)) return { changed: false, template: input };
  const template = structuredClone(input);
  const meta = objectAt(template, "metadata") ?? {};
  const spec = objectAt(template, "spec") ?? {};
  const annotations = stringMap(meta.annotations);
  const marker = readMarker(annotations) ?? { version: "", created: [], annotations: [], wrapped: [] };
  const containers = arrayAt(spec, "containers").filter((c) => !isMeshletContainer(c));
  for (const c of containers) {
    const cmd = c.command;
    if (
      typeof c.name === "string" &&
      marker.wrapped.includes(c.name) &&
      Array.isArray(cmd) &&
      AWAIT_PREFIX.every((w, i) => cmd[i] === w)
    )
      c.command = cmd.slice(AWAIT_PREFIX.length);
  }
  spec.containers = containers;
  const cleaned = (key: string, keep: (item: JsonObject) => boolean) => {
    if (spec[key] === undefined) return;
    const rest = arrayAt(spec, key).filter(keep);
    if (rest.length === 0 && marker.created.includes(key)) delete spec[key];
    else spec[key] = rest;
  };
  cleaned("initContainers", (c) => !isMeshletContainer(c));
  cleaned("volumes", (v) => ![DATA_VOLUME, TOKEN_VOLUME, CA_VOLUME].includes(String(v.name)));
  if (isObject(meta.annotations)) {
    const out = meta.annotations;
    for (const k of [ANNOTATION.injected, ...marker.annotations]) delete out[k];
    if (Object.keys(out).length === 0 && marker.created.includes("annotations")) delete meta.annotations;
  }
  if (marker.created.includes("metadata") && Object.keys(meta).length === 0) delete template.metadata;
  return { changed: true, template };
}
