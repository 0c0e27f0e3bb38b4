/**
 * `config-release-index/<key>` → the name of the key's one release. Kept by
 * the same commands that write ConfigRelease resources, so "which release does
 * this key have" is one lookup, not a scan of every resource.
 */
export const RELEASE_INDEX_PREFIX = "config-release-index/";

export function releaseIndexKey(key: string): string {
  return RELEASE_INDEX_PREFIX + key;
}
