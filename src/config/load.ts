import { type Document, isMap, isNode, isScalar, LineCounter, parseAllDocuments } from "yaml";
import type { z } from "zod";
import { type Resource, resourceSchema } from "./resources.ts";

/** One problem found in a config file, positioned as precisely as the input allows. */
export interface ConfigIssue {
  file: string;
  line?: number;
  column?: number;
  /** `Route/reviews`, when the document got far enough to name itself. */
  resource?: string;
  /** `spec.http[0].timeout` */
  path?: string;
  message: string;
}

export class ConfigError extends Error {
  readonly code = "ERR_CONFIG_INVALID";
  readonly issues: ConfigIssue[];

  constructor(issues: ConfigIssue[]) {
    super(issues.map(formatIssue).join("\n"));
    this.name = "ConfigError";
    this.issues = issues;
  }
}

export function formatIssue(i: ConfigIssue): string {
  const where = i.line === undefined ? i.file : `${i.file}:${i.line}:${i.column ?? 1}`;
  const what = [i.resource, i.path].filter((s) => s !== undefined && s !== "").join(" ");
  return what === "" ? `${where} ${i.message}` : `${where} ${what}: ${i.message}`;
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else out += out === "" ? String(seg) : `.${String(seg)}`;
  }
  return out;
}

/**
 * Parses a multi-document YAML (or JSON, which is YAML) text into validated
 * resources. All or nothing: any issue in any document rejects the whole text.
 */
export function parseResources(text: string, file: string): Resource[] {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const issues: ConfigIssue[] = [];
  const resources: Resource[] = [];
  const seen = new Map<string, number>();
  const list = Array.isArray(docs) ? docs : [];
  if (!Array.isArray(docs)) {
    issues.push({ file, message: "empty document stream" });
  }
  list.forEach((doc, index) => {
    for (const err of doc.errors) {
      const pos = lineCounter.linePos(err.pos[0]);
      const message = err.message.split("\n")[0] ?? err.message;
      issues.push({ file, line: pos.line, column: pos.col, message });
    }
    if (doc.errors.length > 0) return;
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) return;
    const result = resourceSchema.safeParse(value);
    const label = describe(value);
    if (!result.success) {
      for (const zi of result.error.issues) issues.push(toIssue(zi, doc, lineCounter, file, label, index));
      return;
    }
    const key = `${result.data.kind}/${result.data.metadata.name}`;
    const first = seen.get(key);
    if (first !== undefined) {
      const pos = position(doc, [], lineCounter);
      issues.push({ file, ...pos, resource: key, message: `duplicate resource (also document ${first + 1})` });
      return;
    }
    seen.set(key, index);
    resources.push(result.data);
  });
  if (issues.length > 0) throw new ConfigError(issues);
  return resources;
}

function describe(value: unknown): string | undefined {
  if (value === null || typeof value !== "object") return undefined;
  const v = value as { kind?: unknown; metadata?: { name?: unknown } };
  const kind = typeof v.kind === "string" ? v.kind : "?";
  const name = typeof v.metadata?.name === "string" ? v.metadata.name : "?";
  return `${kind}/${name}`;
}

function toIssue(
  zi: z.core.$ZodIssue,
  doc: Document,
  lineCounter: LineCounter,
  file: string,
  resource: string | undefined,
  index: number,
): ConfigIssue {
  const path = zi.path.filter((p): p is string | number => typeof p !== "symbol");
  let message = zi.message;
  if (zi.code === "unrecognized_keys") message = `unknown field(s): ${zi.keys.join(", ")}`;
  if (zi.code === "invalid_union" && path.length === 1 && path[0] === "kind") {
    message = "unknown kind (expected Service, Route or Policy)";
  }
  const at = zi.code === "unrecognized_keys" ? keyPosition(doc, path, zi.keys[0], lineCounter) : undefined;
  return {
    file,
    ...(at ?? position(doc, path, lineCounter)),
    ...(resource === undefined ? { resource: `document ${index + 1}` } : { resource }),
    path: formatPath(path),
    message,
  };
}

/** The position of `key` itself in the map at `path`: an unknown field is reported where it was written. */
function keyPosition(doc: Document, path: (string | number)[], key: string | undefined, lineCounter: LineCounter) {
  const map = path.length === 0 ? doc.contents : doc.getIn(path, true);
  if (key === undefined || !isMap(map)) return undefined;
  const pair = map.items.find((p) => isScalar(p.key) && p.key.value === key);
  const range = isScalar(pair?.key) ? pair.key.range : undefined;
  if (range === undefined || range === null) return undefined;
  const pos = lineCounter.linePos(range[0]);
  return { line: pos.line, column: pos.col };
}

/** The position of the deepest node of `path` that exists in the document. */
function position(doc: Document, path: (string | number)[], lineCounter: LineCounter) {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth), true);
    if (isNode(node) && node.range) {
      const pos = lineCounter.linePos(node.range[0]);
      return { line: pos.line, column: pos.col };
    }
  }
  return {};
}

/** `spec.http[0].timeout` -> ["spec", "http", 0, "timeout"] (formatPath's inverse). */
export function parsePath(path: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const m of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    if (m[2] !== undefined) out.push(Number(m[2]));
    else if (m[1] !== undefined) out.push(m[1]);
  }
  return out;
}

/**
 * Where `Kind/name` is written in a multi-document YAML text, at `path`
 * inside it (or the deepest part of it that is written): how the CLI points
 * at the operator's file for what the control plane reports by resource.
 */
export function locate(text: string, resource: string, path = ""): { line: number; column: number } | undefined {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false });
  if (!Array.isArray(docs)) return undefined;
  for (const doc of docs) {
    if (doc.errors.length > 0) continue;
    if (describe(doc.toJS({ maxAliasCount: 100 })) !== resource) continue;
    const at = position(doc, parsePath(path), lineCounter);
    return at.line === undefined ? undefined : { line: at.line, column: at.column ?? 1 };
  }
  return undefined;
}
