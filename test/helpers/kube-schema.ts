/**
 * Validation of Kubernetes objects offline, as the API server would with `--validate=strict`: the OpenAPI
 * schemas compiled by kubernetes-models (types, required fields, enums, formats) and, since those accept
 * fields the schema does not name, a strict pass over the same models' declarations that refuses every
 * unknown field, so a typo in a manifest (`imagePullPolicyy`) fails.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);
const ROOTS: Record<string, string> = {
  "kubernetes-models": dirname(require.resolve("kubernetes-models/package.json")),
  "@kubernetes-models/apimachinery": dirname(require.resolve("@kubernetes-models/apimachinery/package.json")),
  "@kubernetes-models/cert-manager": dirname(require.resolve("@kubernetes-models/cert-manager/package.json")),
};

/** apiVersion -> the folder of its models. */
function modelDir(apiVersion: string): string {
  if (apiVersion === "v1") return join(ROOTS["kubernetes-models"] as string, "v1");
  if (apiVersion.startsWith("cert-manager.io/"))
    return join(ROOTS["@kubernetes-models/cert-manager"] as string, apiVersion);
  return join(ROOTS["kubernetes-models"] as string, apiVersion);
}

interface Shape {
  /** field -> its declared type text */
  fields: Map<string, string> | undefined;
  /** type name -> the declaration file defining it */
  imports: Map<string, string>;
}

const shapes = new Map<string, Shape>();

function resolveImport(from: string, spec: string): string {
  const bare = spec.replace(/\.js$/, "");
  if (bare.startsWith(".")) return `${join(dirname(from), bare)}.d.ts`;
  for (const [pkg, root] of Object.entries(ROOTS))
    if (bare.startsWith(`${pkg}/`)) return `${join(root, bare.slice(pkg.length + 1))}.d.ts`;
  throw new Error(`cannot resolve ${spec} from ${from}`);
}

function shapeOf(file: string): Shape {
  const cached = shapes.get(file);
  if (cached !== undefined) return cached;
  const text = readFileSync(file, "utf8");
  const imports = new Map<string, string>();
  for (const m of text.matchAll(/^import \{ (\w+) \} from "([^"]+)";$/gm))
    if (m[1] !== undefined && m[2] !== undefined) imports.set(m[1], resolveImport(file, m[2]));
  const block = /^export interface I\w+(?: extends TypeMeta)? \{\n([\s\S]*?)^\}/m.exec(text)?.[1];
  let fields: Map<string, string> | undefined;
  if (block !== undefined) fields = parseFields(block);
  const shape = { fields, imports };
  shapes.set(file, shape);
  return shape;
}

/** `"name"?: Type;` members of an interface body; a type may span lines and hold `{ [key: string]: T; }`. */
function parseFields(block: string): Map<string, string> {
  const body = block.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\s+/g, " ");
  const fields = new Map<string, string>();
  const name = /"([^"]+)"\??:\s*/g;
  for (let m = name.exec(body); m !== null; m = name.exec(body)) {
    let depth = 0;
    let end = name.lastIndex;
    for (; end < body.length; end++) {
      const c = body[end];
      if (c === "{" || c === "<") depth++;
      else if (c === "}" || c === ">") depth--;
      else if (c === ";" && depth === 0) break;
    }
    fields.set(m[1] as string, body.slice(name.lastIndex, end).trim());
    name.lastIndex = end + 1;
  }
  return fields;
}

function checkType(value: unknown, type: string, owner: Shape, path: string, errors: string[]): void {
  if (value === undefined || value === null) return;
  const array = /^Array<(.+)>$/.exec(type);
  if (array?.[1] !== undefined) {
    if (Array.isArray(value)) {
      const item = array[1];
      value.forEach((v, i) => {
        checkType(v, item, owner, `${path}/${i}`, errors);
      });
    }
    return;
  }
  const map = /^\{\s*\[key: string\]: (.+?);?\s*\}$/.exec(type);
  if (map?.[1] !== undefined) {
    if (typeof value === "object")
      for (const [k, v] of Object.entries(value)) checkType(v, map[1], owner, `${path}/${k}`, errors);
    return;
  }
  const file = owner.imports.get(type.trim());
  if (file !== undefined) checkObject(value, shapeOf(file), path, errors);
}

function checkObject(value: unknown, shape: Shape, path: string, errors: string[]): void {
  if (shape.fields === undefined || typeof value !== "object" || value === null || Array.isArray(value)) return;
  for (const [key, v] of Object.entries(value)) {
    const type = shape.fields.get(key);
    if (type === undefined) errors.push(`${path}/${key}: unknown field`);
    else checkType(v, type, shape, `${path}/${key}`, errors);
  }
}

type Model = { new (data: unknown): { validate(): void } };

/** Errors of one Kubernetes object (empty when valid); an unknown apiVersion/kind is an error too. */
export async function validateObject(obj: unknown): Promise<string[]> {
  if (typeof obj !== "object" || obj === null) return ["not an object"];
  const { apiVersion, kind } = obj as { apiVersion?: unknown; kind?: unknown };
  if (typeof apiVersion !== "string" || typeof kind !== "string") return ["apiVersion and kind are required"];
  if (kind === "List") {
    const items = (obj as { items?: unknown }).items;
    if (!Array.isArray(items)) return ["List: items must be a list"];
    return (await Promise.all(items.map(validateObject))).flatMap((e, i) => e.map((x) => `items/${i}: ${x}`));
  }
  const file = join(modelDir(apiVersion), `${kind}.js`);
  let model: Model | undefined;
  try {
    model = ((await import(file)) as Record<string, Model>)[kind];
  } catch {
    return [`${apiVersion} ${kind}: no such kind in the schemas`];
  }
  if (model === undefined) return [`${apiVersion} ${kind}: no such kind in the schemas`];
  const errors: string[] = [];
  try {
    new model(obj).validate();
  } catch (err) {
    errors.push(`${kind}: ${(err as Error).message}`);
  }
  checkObject(obj, shapeOf(file.replace(/\.js$/, ".d.ts")), "", errors);
  return errors;
}
