/**
 * The names meshlet puts into Kubernetes objects: annotations and labels users set to steer injection, and the
 * names of what injection adds, so uninject (and a second inject) can find exactly what was added.
 */
export const ANNOTATION = {
  /** On a pod (annotation or label): `disabled` skips it; on a namespace (label) `enabled` opts it in. */
  inject: "meshlet.dev/inject",
  service: "meshlet.dev/service",
  /** A port number or the name of a container port. */
  appPort: "meshlet.dev/app-port",
  excludeOutboundPorts: "meshlet.dev/exclude-outbound-ports",
  excludeInboundPorts: "meshlet.dev/exclude-inbound-ports",
  excludeOutboundCidrs: "meshlet.dev/exclude-outbound-cidrs",
  /** Set by inject: what it added, so uninject can put the pod back as it was. */
  injected: "meshlet.dev/injected",
} as const;

export const PROXY_CONTAINER = "meshlet-proxy";
export const INIT_CONTAINER = "meshlet-init";
export const DATA_VOLUME = "meshlet-data";
export const DATA_DIR = "/var/lib/meshlet";
/** The projected service-account token the sidecar joins with (control plane: --k8s-token-keys). */
export const TOKEN_VOLUME = "meshlet-token";
export const TOKEN_DIR = "/var/run/secrets/meshlet";
export const TOKEN_AUDIENCE = "meshlet";
/** The kubelet rewrites the file at 80 % of this; the sidecar reads it at every reconnect. */
export const TOKEN_EXPIRATION_SECONDS = 3600;
/**
 * The mesh CA (a control-plane node's ca.pem), from a ConfigMap the operator publishes in each meshed namespace
 * (docs/kubernetes.md): the sidecar verifies the control plane with it (MESHLET_CA_FILE).
 */
export const CA_VOLUME = "meshlet-ca";
export const CA_CONFIG_MAP = "meshlet-ca";
export const CA_DIR = "/etc/meshlet/ca";
export const CA_FILE = "ca.pem";
export const DEFAULT_PROXY_UID = 1337;
export const DEFAULT_CONTROL = "meshlet-control.meshlet-system.svc:15010";
export const OUTBOUND_PORT = 15001;
export const INBOUND_PORT = 15006;
export const ADMIN_PORT = 15000;
