/**
 * The request as routing, matching and hashing read it: the part of
 * node:http's IncomingMessage they use, which the engine's requests also
 * have. Both data paths (engine and `--engine node`) share the compiled
 * snapshot through it.
 */
export interface RequestView {
  readonly method?: string | undefined;
  /** The request target as sent (origin-form or absolute-form). */
  readonly url?: string | undefined;
  /** Lower-cased names. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly socket: { readonly remoteAddress?: string | undefined };
}
