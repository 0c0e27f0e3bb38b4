/**
 * A container's args as the kubelet hands them to the process: `$(NAME)` replaced by the value of the env
 * var NAME (a downward-API field gets a sample value), `$$` kept as `$`. What the CLI parser must accept.
 */
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: { fieldPath: string };
    configMapKeyRef?: { name: string; key: string };
    secretKeyRef?: { name: string; key: string };
  };
}

const SAMPLE_FIELDS: Record<string, string> = {
  "status.podIP": "10.244.1.7",
  "metadata.name": "meshlet-control-0",
  "metadata.namespace": "meshlet-system",
  "spec.nodeName": "node-1",
};

export function containerEnv(env: readonly EnvVar[] = []): Map<string, string> {
  const values = new Map<string, string>();
  for (const e of env) {
    const field = e.valueFrom?.fieldRef?.fieldPath;
    const ref = e.valueFrom?.configMapKeyRef ?? e.valueFrom?.secretKeyRef;
    const raw =
      field !== undefined
        ? (SAMPLE_FIELDS[field] ?? `sample-${field}`)
        : ref !== undefined
          ? `sample-${ref.name}-${ref.key}`
          : (e.value ?? "");
    values.set(e.name, expand(raw, values));
  }
  return values;
}

export function expand(text: string, values: ReadonlyMap<string, string>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name: string | undefined) =>
    m === "$$" ? "$" : (values.get(name as string) ?? m),
  );
}

/** The names used as `$(NAME)` in a container's args and env values. */
export function referencedNames(container: { args?: string[]; env?: EnvVar[] }): Set<string> {
  const texts = [...(container.args ?? []), ...(container.env ?? []).map((e) => e.value ?? "")];
  return new Set(texts.flatMap((t) => [...t.matchAll(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g)].map((m) => m[1] as string)));
}

export function expandedArgs(container: { args?: string[]; env?: EnvVar[] }): string[] {
  const values = containerEnv(container.env);
  return (container.args ?? []).map((a) => expand(a, values));
}

const HOST_PORT_FLAGS = ["grpc", "http", "outbound", "inbound", "admin", "listen", "advertise", "join"];

/**
 * The host:port flags a command checks only when it runs (in its action), checked here with the CLI's own
 * parser, so a manifest with `--grpc 0.0.0.0` fails its test rather than its pod.
 */
export function checkAddresses(
  options: Record<string, unknown>,
  parseHostPort: (v: string, what: string) => unknown,
): void {
  for (const key of HOST_PORT_FLAGS) {
    const v = options[key];
    if (typeof v === "string") parseHostPort(v, `--${key}`);
  }
  for (const v of String(options.control ?? "")
    .split(",")
    .filter((x) => x !== ""))
    parseHostPort(v, "--control");
  for (const part of String(options.peers ?? "")
    .split(",")
    .filter((x) => x !== "")) {
    const [, address] = part.split("=");
    parseHostPort(address ?? "", "--peers");
  }
}
