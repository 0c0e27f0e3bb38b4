import {
  Composer,
  type Document,
  isAlias,
  isMap,
  isNode,
  isScalar,
  Lexer,
  LineCounter,
  Parser,
  visit,
  type YAMLError,
} from "yaml";
import type { z } from "zod";
import { formatPath } from "./format-path.ts";
import { DEFAULT_RESOURCE_LIMITS, type ResourceLimits, YAML_LIMITS } from "./limits.ts";
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

/**
 * ERR_CONFIG_INVALID: the text is not valid YAML or not valid resources.
 * ERR_TOO_LARGE: it is, or may be, but exceeds a size limit (limits.ts); the
 * control plane answers that with 413.
 */
export type ConfigErrorCode = "ERR_CONFIG_INVALID" | "ERR_TOO_LARGE";

export class ConfigError extends Error {
  readonly code: ConfigErrorCode;
  readonly issues: ConfigIssue[];

  constructor(issues: ConfigIssue[], code: ConfigErrorCode = "ERR_CONFIG_INVALID") {
    super(issues.map(formatIssue).join("\n"));
    this.name = "ConfigError";
    this.code = code;
    this.issues = issues;
  }
}

export function formatIssue(i: ConfigIssue): string {
  const where = i.line === undefined ? i.file : `${i.file}:${i.line}:${i.column ?? 1}`;
  const what = [i.resource, i.path].filter((s) => s !== undefined && s !== "").join(" ");
  return what === "" ? `${where} ${i.message}` : `${where} ${what}: ${i.message}`;
}

/**
 * Parses a multi-document YAML (or JSON, which is YAML) text into validated
 * resources. All or nothing: any issue in any document rejects the whole text.
 * Bounded on the way: the YAML's nesting, documents and tokens while it is
 * parsed (YAML_LIMITS), its anchors and aliases before they are expanded, what
 * each document expands to before it is validated, and each resource and all
 * of them together once encoded (`limits`). Past a limit the parse stops at
 * once with ERR_TOO_LARGE (or ERR_CONFIG_INVALID for nesting): the rest of an
 * oversized text is not worth reading.
 */
export function parseResources(
  text: string,
  file: string,
  limits: ResourceLimits = DEFAULT_RESOURCE_LIMITS,
): Resource[] {
  const lineCounter = new LineCounter();
  const issues: ConfigIssue[] = [];
  const resources: Resource[] = [];
  const seen = new Map<string, number>();
  let total = 0;
  const streamErrors = readDocuments(text, file, lineCounter, (doc, index) => {
    for (const err of doc.errors) issues.push(yamlIssue(err, lineCounter, file));
    if (doc.errors.length > 0) return;
    const structural = structureIssues(doc, lineCounter, file);
    if (structural.length > 0) {
      issues.push(...structural);
      return;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: YAML_LIMITS.maxAliases });
    } catch (err) {
      // The yaml library refuses an alias that expands too often (its answer to a "billion laughs").
      const message = err instanceof Error ? err.message : String(err);
      issues.push({ file, ...position(doc, [], lineCounter), resource: `document ${index + 1}`, message });
      return;
    }
    if (value === null || value === undefined) return;
    const label = describe(value);
    const shape = measure(value, limits.maxResourceBytes);
    if (shape.problem !== undefined) {
      const issue: ConfigIssue = {
        file,
        ...position(doc, shape.path, lineCounter),
        resource: label ?? `document ${index + 1}`,
        path: formatPath(shape.path),
        message: shape.problem,
      };
      if (shape.tooLarge) throw new ConfigError([issue], "ERR_TOO_LARGE");
      issues.push(issue);
      return;
    }
    const result = resourceSchema.safeParse(value);
    if (!result.success) {
      for (const zi of result.error.issues) issues.push(toIssue(zi, doc, lineCounter, file, label, index));
      return;
    }
    const key = `${result.data.kind}/${result.data.metadata.name}`;
    const bytes = Buffer.byteLength(JSON.stringify(result.data));
    total += bytes;
    if (bytes > limits.maxResourceBytes || total > limits.maxTotalBytes) {
      const message =
        bytes > limits.maxResourceBytes
          ? `is ${bytes} bytes encoded; the limit per resource is ${limits.maxResourceBytes} bytes`
          : `brings the resources to more than ${limits.maxTotalBytes} bytes encoded, the limit of one apply; split it`;
      throw new ConfigError([{ file, ...position(doc, [], lineCounter), resource: key, message }], "ERR_TOO_LARGE");
    }
    const first = seen.get(key);
    if (first !== undefined) {
      const pos = position(doc, [], lineCounter);
      issues.push({ file, ...pos, resource: key, message: `duplicate resource (also document ${first + 1})` });
      return;
    }
    seen.set(key, index);
    resources.push(result.data);
  });
  for (const err of streamErrors) issues.push(yamlIssue(err, lineCounter, file));
  if (issues.length > 0) throw new ConfigError(issues);
  return resources;
}

function yamlIssue(err: YAMLError, lineCounter: LineCounter, file: string): ConfigIssue {
  const pos = lineCounter.linePos(err.pos[0]);
  const message = err.message.split("\n")[0] ?? err.message;
  return { file, line: pos.line, column: pos.col, message };
}

/**
 * Lexes, parses and composes `text` one token at a time, as the yaml library's
 * parseAllDocuments does, and hands each document to `onDoc` as soon as it is
 * complete. Stops with a ConfigError once the parser's stack (the nesting) or
 * the number of tokens or documents passes YAML_LIMITS: 3 MB of "[" took the
 * library 39 s to refuse, a million empty documents 15 s to accept. Returns
 * the errors of a stream that holds no document at all.
 */
function readDocuments(
  text: string,
  file: string,
  lineCounter: LineCounter,
  onDoc: (doc: Document.Parsed, index: number) => void,
): YAMLError[] {
  const parser = new Parser(lineCounter.addNewLine);
  // uniqueKeys is checked in structureIssues: the library compares every key with every other (32,000 keys: 17 s).
  const composer = new Composer({ uniqueKeys: false });
  let documents = 0;
  let tokens = 0;
  const fail = (code: "ERR_CONFIG_INVALID" | "ERR_TOO_LARGE", message: string): never => {
    const pos = lineCounter.linePos(parser.offset);
    throw new ConfigError([{ file, line: pos.line, column: pos.col, message }], code);
  };
  const compose = (docs: Iterable<Document.Parsed>) => {
    for (const doc of docs) {
      if (documents === YAML_LIMITS.maxDocuments)
        fail("ERR_TOO_LARGE", `more than ${YAML_LIMITS.maxDocuments} documents; split the text`);
      onDoc(doc, documents++);
    }
  };
  lineCounter.addNewLine(0);
  for (const lexeme of new Lexer().lex(text)) {
    for (const token of parser.next(lexeme)) compose(composer.next(token));
    if (parser.stack.length > YAML_LIMITS.maxDepth)
      fail("ERR_CONFIG_INVALID", `nested deeper than ${YAML_LIMITS.maxDepth} levels`);
    if (++tokens > YAML_LIMITS.maxTokens)
      fail("ERR_TOO_LARGE", `more than ${YAML_LIMITS.maxTokens} YAML tokens; split the text`);
  }
  for (const token of parser.end()) compose(composer.next(token));
  compose(composer.end());
  return documents === 0 ? composer.streamInfo().errors : [];
}

/**
 * What the composer was told not to check, in one pass over the document:
 * map keys are unique scalars (as JS object keys, where 1 and "1" collide),
 * and anchors plus aliases stay within YAML_LIMITS.maxAliases, since the
 * library's alias lookup scans every anchor for every alias.
 */
function structureIssues(doc: Document.Parsed, lineCounter: LineCounter, file: string): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  let anchored = 0;
  const at = (node: { range?: [number, number, number] | null | undefined }) => {
    const pos = node.range ? lineCounter.linePos(node.range[0]) : undefined;
    return pos === undefined ? {} : { line: pos.line, column: pos.col };
  };
  visit(doc, {
    Node(_key, node) {
      if (isAlias(node) || node.anchor !== undefined) anchored++;
      if (!isMap(node)) return;
      const keys = new Set<string>();
      for (const pair of node.items) {
        if (!isScalar(pair.key) && pair.key !== null) {
          issues.push({ file, ...(isNode(pair.key) ? at(pair.key) : at(node)), message: "a map key must be a scalar" });
          continue;
        }
        const key = pair.key === null || pair.key.value === null ? "" : String(pair.key.value);
        if (keys.has(key))
          issues.push({ file, ...at(pair.key ?? node), message: `duplicate key "${key}": map keys must be unique` });
        keys.add(key);
      }
    },
  });
  if (anchored > YAML_LIMITS.maxAliases) {
    issues.push({
      file,
      ...position(doc, [], lineCounter),
      message: `more than ${YAML_LIMITS.maxAliases} anchors and aliases in one document`,
    });
  }
  return issues;
}

/** A scalar's JSON length (strings exactly; a non-finite number is null). */
function scalarBytes(v: unknown): number {
  if (typeof v === "string") return Buffer.byteLength(JSON.stringify(v));
  if (typeof v === "number") return Number.isFinite(v) ? String(v).length : 4;
  return 5;
}

interface Shape {
  /** What is wrong, or undefined when the value is fine. */
  problem?: string;
  /** A size limit (413) rather than a malformed value (400). */
  tooLarge?: boolean;
  path: (string | number)[];
}

class ShapeProblem extends Error {
  readonly shape: Shape;
  constructor(shape: Shape) {
    super(shape.problem);
    this.shape = shape;
  }
}

/**
 * Walks what a document expanded to (each alias counted every time it is
 * used) and stops at the first of: more JSON bytes than `budget`, nesting past
 * YAML_LIMITS.maxDepth, a value that contains itself (an alias inside its own
 * anchor), or a `__proto__` key, which a JS object cannot hold as data. Costs
 * at most `budget` bytes of work whatever the aliases expand to.
 */
function measure(value: unknown, budget: number): Shape {
  let bytes = 0;
  const path: (string | number)[] = [];
  const open = new Set<object>();
  const add = (n: number) => {
    bytes += n;
    if (bytes > budget)
      throw new ShapeProblem({
        problem: `expands to more than ${budget} bytes (aliases included); the limit per resource is ${budget} bytes`,
        tooLarge: true,
        path: [...path],
      });
  };
  const walk = (v: unknown): void => {
    if (typeof v !== "object" || v === null) {
      add(scalarBytes(v));
      return;
    }
    if (ArrayBuffer.isView(v)) {
      add(v.byteLength * 4);
      return;
    }
    if (open.has(v)) throw new ShapeProblem({ problem: "an alias refers to a node that contains it", path: [...path] });
    if (path.length >= YAML_LIMITS.maxDepth)
      throw new ShapeProblem({ problem: `nested deeper than ${YAML_LIMITS.maxDepth} levels`, path: [...path] });
    open.add(v);
    if (Array.isArray(v)) {
      add(2);
      v.forEach((item, i) => {
        path.push(i);
        add(1);
        walk(item);
        path.pop();
      });
    } else {
      add(2);
      for (const key of Object.keys(v)) {
        path.push(key);
        if (key === "__proto__")
          throw new ShapeProblem({ problem: "__proto__ is not allowed as a key", path: [...path] });
        add(Buffer.byteLength(JSON.stringify(key)) + 2);
        walk((v as Record<string, unknown>)[key]);
        path.pop();
      }
    }
    open.delete(v);
  };
  try {
    walk(value);
  } catch (err) {
    if (err instanceof ShapeProblem) return err.shape;
    throw err;
  }
  return { path: [] };
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
  let found: { line: number; column: number } | undefined;
  try {
    readDocuments(text, "", lineCounter, (doc) => {
      if (found !== undefined || doc.errors.length > 0) return;
      if (describe(doc.toJS({ maxAliasCount: YAML_LIMITS.maxAliases })) !== resource) return;
      const at = position(doc, parsePath(path), lineCounter);
      if (at.line !== undefined) found = { line: at.line, column: at.column ?? 1 };
    });
  } catch {
    // A text past the YAML bounds has no position to give; the caller prints the finding without one.
    return undefined;
  }
  return found;
}
