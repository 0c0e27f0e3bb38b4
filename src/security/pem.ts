/** The PEM blocks of one label in a text, each re-emitted with its BEGIN/END lines (bundles are concatenations). */
export function splitPem(text: string, label: string): string[] {
  const re = new RegExp(`-----BEGIN ${label}-----[A-Za-z0-9+/=\\s]+?-----END ${label}-----`, "g");
  return [...text.matchAll(re)].map((m) => `${m[0]}\n`);
}
