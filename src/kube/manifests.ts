import { parseDocument } from "yaml";
import { type Mutation, mutateDocument } from "./mutate.ts";
import { InjectError } from "./pod-injection.ts";
import type { Json } from "./workloads.ts";
import { applyToYaml } from "./yaml-patch.ts";

export interface ManifestResult {
  text: string;
  notes: string[];
  changed: number;
}

/** A document separator or end marker at column 0: what splits a multi-document YAML stream. */
const MARKER = /^(---|\.\.\.)(?=\s|$)/;

/** The stream cut at its markers; each part keeps its marker line, so joining the parts gives the input back. */
function splitDocuments(text: string): string[] {
  const parts: string[] = [];
  let current = "";
  for (const line of text.split(/(?<=\n)/)) {
    if (MARKER.test(line) && current !== "") {
      parts.push(current);
      current = "";
    }
    current += line;
  }
  if (current !== "") parts.push(current);
  return parts;
}

/**
 * Injects (or uninjects) every workload of a YAML stream. A document that needs no change is written back
 * byte for byte; a changed one is re-printed by the yaml library with the patch applied to its nodes.
 */
export function mutateManifest(text: string, mutation: Mutation, source: string): ManifestResult {
  const result: ManifestResult = { text: "", notes: [], changed: 0 };
  for (const part of splitDocuments(text)) {
    const marker = MARKER.exec(part);
    const doc = parseDocument(part, { keepSourceTokens: false });
    if (doc.errors.length > 0) throw new InjectError(`${source}: ${doc.errors[0]?.message ?? "invalid YAML"}`);
    const r = (() => {
      try {
        return mutateDocument(doc.toJS() as Json, mutation);
      } catch (err) {
        if (err instanceof InjectError) throw new InjectError(`${source}: ${err.message}`);
        throw err;
      }
    })();
    result.notes.push(...r.notes.map((n) => `${source}: ${n}`));
    if (r.ops.length === 0) {
      result.text += part;
      continue;
    }
    result.changed += r.changed;
    applyToYaml(doc, r.ops);
    // The library prints the marker itself when the document had one.
    const printed = doc.toString({ lineWidth: 0, flowCollectionPadding: false });
    result.text += marker !== null && !printed.startsWith("---") ? `${marker[0]}\n${printed}` : printed;
  }
  return result;
}
