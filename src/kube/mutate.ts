import { diff, type PatchOp } from "./json-patch.ts";
import { type InjectOptions, injectTemplate, uninjectTemplate } from "./pod-injection.ts";
import { getIn, isObject, type Json, type JsonObject, kindOf, templatePath, workloadName } from "./workloads.ts";

/**
 * One Kubernetes document (a workload, a Pod, or a List of them) turned into the JSON Patch that injects or
 * uninjects it. `meshlet inject` applies the patch to the YAML it read; the webhook sends it to the API server.
 */
export type Mutation = { action: "inject"; options: InjectOptions } | { action: "uninject" };

export interface DocumentResult {
  ops: PatchOp[];
  /** One line per pod template left alone and why (already injected, opted out, no port). */
  notes: string[];
  /** Pod templates changed. */
  changed: number;
}

function describe(doc: JsonObject): string {
  return `${kindOf(doc) ?? "?"}/${workloadName(doc) ?? "?"}`;
}

function mutateWorkload(doc: JsonObject, mutation: Mutation, prefix: (string | number)[], out: DocumentResult): void {
  const path = templatePath(kindOf(doc));
  if (path === undefined) return;
  const template = getIn(doc, path);
  if (!isObject(template)) {
    out.notes.push(`${describe(doc)}: no pod template at ${path.join(".")}`);
    return;
  }
  let next: JsonObject;
  if (mutation.action === "inject") {
    const r = injectTemplate(template, mutation.options, workloadName(doc));
    if (r.outcome === "skipped") {
      out.notes.push(`${describe(doc)}: skipped, ${r.reason}`);
      return;
    }
    next = r.template;
  } else {
    const r = uninjectTemplate(template);
    if (!r.changed) return;
    next = r.template;
  }
  out.changed++;
  out.ops.push(...diff(template as Json, next as Json, [...prefix, ...path]));
}

/** The patch for one parsed document; documents of other kinds give no operation. Throws InjectError. */
export function mutateDocument(doc: Json, mutation: Mutation): DocumentResult {
  const out: DocumentResult = { ops: [], notes: [], changed: 0 };
  if (!isObject(doc)) return out;
  const kind = kindOf(doc);
  if (kind?.endsWith("List") === true && Array.isArray(doc.items)) {
    doc.items.forEach((item, i) => {
      if (isObject(item)) mutateWorkload(item, mutation, ["items", i], out);
    });
    return out;
  }
  mutateWorkload(doc, mutation, [], out);
  return out;
}
