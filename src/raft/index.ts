export { decodeConfChange, encodeConfChange } from "./confchange.ts";
export * from "./errors.ts";
export type { ProgressState } from "./progress.ts";
export type { BasicStatus, RaftConfig, Status } from "./rawnode.ts";
export { RawNode } from "./rawnode.ts";
export { MemoryStorage } from "./storage.ts";
export * from "./types.ts";
