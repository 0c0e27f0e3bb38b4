import { type Document, isMap, isSeq, type Node } from "yaml";
import type { PatchOp } from "./json-patch.ts";

function segments(pointer: string): string[] {
  return pointer
    .split("/")
    .slice(1)
    .map((s) => s.replaceAll("~1", "/").replaceAll("~0", "~"));
}

function child(node: unknown, key: string): unknown {
  if (isSeq(node)) return node.items[Number(key)];
  if (isMap(node)) return node.get(key, true);
  return undefined;
}

/**
 * Applies a JSON Patch to a parsed YAML document in place, node by node, so the comments, key order and
 * styles of everything the patch does not touch survive (what `meshlet inject` promises for the user's files).
 */
export function applyToYaml(doc: Document, ops: readonly PatchOp[]): void {
  for (const op of ops) {
    const path = segments(op.path);
    const last = path.pop();
    if (last === undefined) throw new Error("a patch of the whole document is not supported");
    let parent: unknown = doc.contents;
    for (const key of path) parent = child(parent, key);
    if (isSeq(parent)) {
      const index = last === "-" ? parent.items.length : Number(last);
      if (op.op === "remove") parent.items.splice(index, 1);
      else
        parent.items.splice(
          index,
          op.op === "add" ? 0 : 1,
          doc.createNode(op.value, { aliasDuplicateObjects: false }) as Node,
        );
    } else if (isMap(parent)) {
      if (op.op === "remove") parent.delete(last);
      else parent.set(doc.createNode(last), doc.createNode(op.value, { aliasDuplicateObjects: false }));
    } else {
      throw new Error(`no collection at ${op.path}`);
    }
  }
}
