/**
 * The request as routing, matching and hashing read it, kept apart from
 * the engine's EngineRequest so the compiled snapshot (snapshot.ts,
 * routing.ts, hash keys) depends on no transport.
 */
export interface RequestView {
  readonly method?: string | undefined;
  /** The request target as sent (origin-form or absolute-form). */
  readonly url?: string | undefined;
  /** Lower-cased names. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly socket: { readonly remoteAddress?: string | undefined };
}
