/**
 * The PEM blocks of one label in a text (bundles are concatenations), each re-emitted in the canonical form:
 * its base64 without the source's whitespace (CRLF line ends, indentation from a YAML or JSON embedding),
 * wrapped at 64 columns between its BEGIN/END lines. OpenSSL refuses some spellings the match allows (an
 * indented END line), and a bundle built from them would carry the source's line ends to every peer.
 */
export function splitPem(text: string, label: string): string[] {
  const re = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+?)-----END ${label}-----`, "g");
  return [...text.matchAll(re)].map((m) => {
    const base64 = (m[1] ?? "").replace(/\s+/g, "");
    const lines = base64.match(/.{1,64}/g) ?? [];
    return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
  });
}
