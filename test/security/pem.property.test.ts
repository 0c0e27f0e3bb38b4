import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { test } from "node:test";
import fc from "fast-check";
import { bundlePem } from "../../src/security/bundle.ts";
import { createRootCa } from "../../src/security/ca.ts";
import { splitPem } from "../../src/security/pem.ts";

/** Fixed so a failure replays; fast-check prints the seed and path of a failing case. */
const SEED = 0x9e4b;
const runs = (numRuns: number) => ({ seed: SEED, numRuns });

const NOW = Date.UTC(2026, 11, 3, 12);
const roots = await Promise.all(
  ["a.local", "b.local", "c.local"].map(
    async (td) => (await createRootCa(td, { now: NOW, ttlMs: 86_400_000 })).certChainPem,
  ),
);
const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;

/** Text that is not PEM, or is PEM-looking junk: what may sit between blocks in an operator's file. */
const junk = fc.oneof(
  fc.constantFrom(
    "",
    "\n",
    "\r\n",
    "   \t\n",
    "# comment line\n",
    "Bag Attributes\n    friendlyName: root\nsubject=/CN=root\n",
    "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    "-----BEGIN CERTIFICATE-----\nnot base64 !\n-----END CERTIFICATE-----\n",
    "-----BEGIN CERTIFICATE-----\nAAAA\n",
    "-----END CERTIFICATE-----\n",
  ),
  fc.string({ maxLength: 20 }).filter((s) => !s.includes("-----")),
);

/** A certificate's PEM as files have it: LF or CRLF, with or without a final newline, maybe indented lines. */
function spell(pem: string, how: number): string {
  const body = pem.trimEnd();
  if (how === 0) return `${body}\n`;
  if (how === 1) return `${body.replaceAll("\n", "\r\n")}\r\n`;
  if (how === 2) return body;
  return `${body.replaceAll("\n", "\n  ")}\n`;
}

test("property: splitPem and bundlePem never throw on arbitrary text, and splitPem returns only whole blocks", () => {
  const block = /^-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----\n$/;
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ maxLength: 200 }),
        fc.string({ unit: "binary", maxLength: 200 }),
        fc.array(fc.oneof(junk, fc.constantFrom(...roots)), { maxLength: 6 }).map((parts) => parts.join("")),
      ),
      (text) => {
        for (const b of splitPem(text, "CERTIFICATE")) assert.match(b, block);
        const blocks = splitPem(text, "CERTIFICATE");
        // Only blocks that are certificates go into a bundle; junk shaped like one is a clear error, not a crash.
        if (blocks.every((b) => canParse(b))) bundlePem([text]);
        else assert.throws(() => bundlePem([text]));
      },
    ),
    runs(2_000),
  );
});

function canParse(pem: string): boolean {
  try {
    new X509Certificate(pem);
    return true;
  } catch {
    return false;
  }
}

test("property: a bundle holds each certificate once, in first-seen order, whatever the spelling and junk around it", () => {
  fc.assert(
    fc.property(
      // Junk that cannot pair up with its neighbours' into a certificate-shaped block.
      fc.array(
        fc.tuple(
          fc.nat(roots.length - 1),
          fc.nat(3),
          junk.filter((j) => !j.includes("CERTIFICATE")),
        ),
        { minLength: 1, maxLength: 8 },
      ),
      fc.nat(3),
      (parts, split) => {
        const texts = parts.map(([i, how, j]) => `${j}${spell(roots[i] as string, how)}${j}`);
        // The same certificates given as one file or as several.
        const cut = split % (texts.length + 1);
        const input = [texts.slice(0, cut).join(""), ...texts.slice(cut)];
        const bundle = bundlePem(input);
        const expected = [...new Set(parts.map(([i]) => fingerprint(roots[i] as string)))];
        const got = splitPem(bundle, "CERTIFICATE");
        assert.deepEqual(got.map(fingerprint), expected);
        assert.equal(bundlePem([bundle]), bundle, "a bundle round-trips unchanged");
        assert.doesNotMatch(bundle, /\r/, "a bundle is re-emitted with LF line ends");
      },
    ),
    runs(300),
  );
});

test("hostile PEM texts: nothing but whole certificate blocks comes out, and large inputs stay linear", () => {
  const [a, b] = roots as [string, string];
  const body = a.trimEnd().split("\n").slice(1, -1).join("\n");
  const cases: [string, string, number][] = [
    ["empty", "", 0],
    ["BEGIN without END", `-----BEGIN CERTIFICATE-----\n${body}\n`, 0],
    ["END without BEGIN", `${body}\n-----END CERTIFICATE-----\n`, 0],
    ["mismatched labels", `-----BEGIN CERTIFICATE-----\n${body}\n-----END PUBLIC KEY-----\n`, 0],
    ["other label", `-----BEGIN X509 CRL-----\n${body}\n-----END X509 CRL-----\n`, 0],
    ["lower-case label", a.replaceAll("CERTIFICATE", "certificate"), 0],
    ["RFC 1421 headers inside", a.replace("-----\n", "-----\nProc-Type: 4,ENCRYPTED\n\n"), 0],
    ["a broken block before a good one", `-----BEGIN CERTIFICATE-----\n${body.slice(0, 40)}\n${a}`, 1],
    ["two blocks, no newline between", `${a.trimEnd()}${b}`, 2],
    ["NUL in the body", a.replace("\n", "\n\u0000"), 0],
    ["non-ASCII in the body", a.replace("\n", "\né"), 0],
  ];
  for (const [what, text, n] of cases) assert.equal(splitPem(text, "CERTIFICATE").length, n, what);
  assert.throws(() => bundlePem([`-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`]));

  const started = performance.now();
  splitPem(`-----BEGIN CERTIFICATE-----\n${"A".repeat(2_000_000)}`, "CERTIFICATE");
  splitPem("-----BEGIN CERTIFICATE-----\nAAAA\n".repeat(50_000), "CERTIFICATE");
  splitPem(`${"-----BEGIN CERTIFICATE-----".repeat(50_000)}`, "CERTIFICATE");
  assert.ok(performance.now() - started < 5_000, "no super-linear backtracking");
});
