import { isObject, type Json } from "./workloads.ts";

/** One RFC 6902 operation, the only three a diff needs. */
export type PatchOp =
  | { op: "add"; path: string; value: Json }
  | { op: "replace"; path: string; value: Json }
  | { op: "remove"; path: string };

export function pointer(path: readonly (string | number)[]): string {
  return path.map((p) => `/${String(p).replaceAll("~", "~0").replaceAll("/", "~1")}`).join("");
}

export function jsonEqual(a: Json | undefined, b: Json | undefined): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
  }
  return false;
}

/**
 * The operations that turn `from` into `to`, applied in order. Objects are compared key by key; an array keeps
 * its common head and tail and only its middle is added, removed or compared item by item, so prepending a
 * container is one `add` at index 0 (as a reviewer of the webhook's patch would write it), not a rewrite of
 * every container after it.
 */
export function diff(from: Json, to: Json, path: (string | number)[] = []): PatchOp[] {
  if (jsonEqual(from, to)) return [];
  if (isObject(from) && isObject(to)) {
    const ops: PatchOp[] = [];
    for (const k of Object.keys(from))
      if (!Object.hasOwn(to, k)) ops.push({ op: "remove", path: pointer([...path, k]) });
    for (const [k, v] of Object.entries(to)) {
      const old = Object.hasOwn(from, k) ? from[k] : undefined;
      if (old === undefined) ops.push({ op: "add", path: pointer([...path, k]), value: v });
      else ops.push(...diff(old, v, [...path, k]));
    }
    return ops;
  }
  if (Array.isArray(from) && Array.isArray(to)) return diffArray(from, to, path);
  return [{ op: "replace", path: pointer(path), value: to }];
}

/** The items' distinct `name`s (containers, volumes, env), or undefined when an item has none or shares one. */
function names(items: Json[]): string[] | undefined {
  const out = items.map((x) => (isObject(x) && typeof x.name === "string" ? x.name : undefined));
  if (out.some((n) => n === undefined) || new Set(out).size !== out.length) return undefined;
  return out as string[];
}

/**
 * Lists of named items (containers, volumes) are matched by name when the names both keep are in the same
 * order: removed ones go, new ones are added where they stand, kept ones are compared in place.
 */
function diffNamed(from: Json[], to: Json[], path: (string | number)[]): PatchOp[] | undefined {
  const before = names(from);
  const after = names(to);
  if (before === undefined || after === undefined) return undefined;
  const kept = before.filter((n) => after.includes(n));
  if (kept.join("\0") !== after.filter((n) => before.includes(n)).join("\0")) return undefined;
  const ops: PatchOp[] = [];
  for (let i = before.length - 1; i >= 0; i--)
    if (!after.includes(before[i] as string)) ops.push({ op: "remove", path: pointer([...path, i]) });
  after.forEach((name, i) => {
    const old = before.indexOf(name);
    if (old < 0) ops.push({ op: "add", path: pointer([...path, i]), value: to[i] as Json });
    else ops.push(...diff(from[old] as Json, to[i] as Json, [...path, i]));
  });
  return ops;
}

function diffArray(from: Json[], to: Json[], path: (string | number)[]): PatchOp[] {
  const named = diffNamed(from, to, path);
  if (named !== undefined) return named;
  let head = 0;
  while (head < from.length && head < to.length && jsonEqual(from[head], to[head])) head++;
  let tail = 0;
  while (
    tail < from.length - head &&
    tail < to.length - head &&
    jsonEqual(from[from.length - 1 - tail], to[to.length - 1 - tail])
  )
    tail++;
  const oldMiddle = from.length - head - tail;
  const newMiddle = to.length - head - tail;
  const ops: PatchOp[] = [];
  const common = Math.min(oldMiddle, newMiddle);
  for (let i = 0; i < common; i++) ops.push(...diff(from[head + i] as Json, to[head + i] as Json, [...path, head + i]));
  // Removals from the highest index down, so each index is still the one meant when its op is applied.
  for (let i = oldMiddle - 1; i >= common; i--) ops.push({ op: "remove", path: pointer([...path, head + i]) });
  for (let i = common; i < newMiddle; i++)
    ops.push({ op: "add", path: pointer([...path, head + i]), value: to[head + i] as Json });
  return ops;
}
