/**
 * A header value that must be a decimal number: digits only. Number() would
 * also read "1e3", "0x10", " 3", "" (as 0) and "3.0", so a typo could pass for
 * a different revision or deadline; those are refused instead. Undefined when
 * the value is not one, or is past what a double holds exactly.
 */
export function decimal(value: string): number | undefined {
  if (!/^\d{1,16}$/.test(value)) return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** The one value of a header that may appear once; repeated ones are joined with ", " (and so refused). */
export function single(header: string | string[] | undefined): string | undefined {
  return Array.isArray(header) ? header.join(", ") : header;
}
