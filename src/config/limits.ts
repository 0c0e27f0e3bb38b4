/**
 * How much configuration one request (or one static config file) may hold.
 * Sizes are measured on the canonical encoding of each validated resource:
 * JSON with its keys sorted, as the control plane stores it and pushes it to
 * sidecars (sorting keys does not change the length, so JSON.stringify's
 * length is the canonical length). The raw text is bounded separately, and so
 * is what its YAML aliases expand to before anything is validated.
 */
export interface ResourceLimits {
  /** One resource, encoded. */
  maxResourceBytes: number;
  /** Every resource of one apply or file, encoded, together. */
  maxTotalBytes: number;
}

const MiB = 1024 * 1024;

/** Defaults of `meshlet control --max-resource-bytes` and `--max-apply-bytes`. */
export const DEFAULT_MAX_RESOURCE_BYTES = MiB;
export const DEFAULT_MAX_APPLY_BYTES = 4 * MiB;

/**
 * The most --max-apply-bytes may be: an apply is one Raft entry, and an entry holds at most 16 MiB
 * (raft-node/wal.ts MAX_ENTRY_BYTES); half of it leaves room for the command around the resources.
 */
export const MAX_APPLY_BYTES_CEILING = 8 * MiB;

export const DEFAULT_RESOURCE_LIMITS: ResourceLimits = {
  maxResourceBytes: DEFAULT_MAX_RESOURCE_BYTES,
  maxTotalBytes: DEFAULT_MAX_APPLY_BYTES,
};

/**
 * No size limit: for a client that validates its own files before sending them (meshlet apply); the control
 * plane, which may be configured with other limits than the defaults, enforces its own.
 */
export const NO_SIZE_LIMITS: ResourceLimits = {
  maxResourceBytes: Number.POSITIVE_INFINITY,
  maxTotalBytes: Number.POSITIVE_INFINITY,
};

/**
 * The shape of the YAML itself, checked while it is parsed, before anything is
 * built from it. No mesh resource comes near these; a text that does is a
 * mistake or an attack (the YAML library's own costs grow faster than the
 * text for some shapes: deep nesting, very many documents or nodes).
 */
export const YAML_LIMITS = {
  /** Nesting of collections (a Route is about 10 deep). */
  maxDepth: 64,
  /** Documents in one text. */
  maxDocuments: 10_000,
  /** Lexical tokens in one text: bounds the parser's work (see docs/resources.md for the measured cost). */
  maxTokens: 1_000_000,
  /** Anchors and aliases in one document, and the yaml library's maxAliasCount for expanding them. */
  maxAliases: 100,
} as const;
