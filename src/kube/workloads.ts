/**
 * Where each kind of workload keeps the pod it runs, as JSON Pointer segments: a Pod is its own template, a
 * Deployment keeps one at spec.template, a CronJob one level deeper. Kinds not listed carry no pod.
 */
const TEMPLATE_PATHS: Record<string, readonly string[]> = {
  Pod: [],
  Deployment: ["spec", "template"],
  StatefulSet: ["spec", "template"],
  DaemonSet: ["spec", "template"],
  ReplicaSet: ["spec", "template"],
  ReplicationController: ["spec", "template"],
  Job: ["spec", "template"],
  CronJob: ["spec", "jobTemplate", "spec", "template"],
};

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

export function kindOf(doc: unknown): string | undefined {
  return isObject(doc) && typeof doc.kind === "string" ? doc.kind : undefined;
}

/** The pod template path of a workload kind, or undefined for a kind that runs no pod. */
export function templatePath(kind: string | undefined): readonly string[] | undefined {
  return kind === undefined ? undefined : TEMPLATE_PATHS[kind];
}

export function getIn(doc: Json, path: readonly (string | number)[]): Json | undefined {
  let at: Json | undefined = doc;
  for (const key of path) {
    if (Array.isArray(at) && typeof key === "number") at = at[key];
    else if (isObject(at) && typeof key === "string") at = at[key];
    else return undefined;
  }
  return at;
}

/** The workload's name: for a pod made by a controller (webhook), its generateName without the trailing dash. */
export function workloadName(doc: JsonObject): string | undefined {
  const meta = doc.metadata;
  if (!isObject(meta)) return undefined;
  if (typeof meta.name === "string" && meta.name !== "") return meta.name;
  if (typeof meta.generateName === "string" && meta.generateName !== "") return meta.generateName.replace(/-+$/, "");
  return undefined;
}
