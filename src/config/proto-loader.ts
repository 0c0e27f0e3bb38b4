import { fileURLToPath } from "node:url";
import { loadPackageDefinition } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";

/**
 * A lazy loader for one of proto/'s files, with the options the generated
 * types in src/gen assume (camelCase fields, longs as numbers, enums as
 * strings, defaults, oneof kind names). `file` is relative to proto/.
 */
export function protoLoader<T>(file: string): () => T {
  const path = fileURLToPath(new URL(`../../proto/${file}`, import.meta.url));
  let cached: T | undefined;
  return () => {
    cached ??= loadPackageDefinition(
      loadSync(path, { longs: Number, enums: String, defaults: true, oneofs: true }),
    ) as unknown as T;
    return cached;
  };
}
