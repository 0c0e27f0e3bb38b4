import { readFileSync } from "node:fs";
import { httpRequest, type RawPiece } from "../../../helpers/raw-http.ts";

/**
 * The hostile-input corpus: what an attacker (or a broken client) sends the
 * control plane's HTTP API, and the answer each must get. Small inputs are the
 * files next to this table; large ones are generated here rather than kept in
 * the repository. hostile.test.ts runs every case against a real node.
 */
export interface HostileCase {
  name: string;
  /** The raw request, byte for byte and paced as given. */
  request: () => RawPiece[];
  status: number;
  /** The error code in the JSON body. */
  code?: string;
  /** Matched against the error message. */
  message?: RegExp;
  /** The answer must come within this many ms of connecting. */
  withinMs?: number;
  /** The server must close the connection after answering. */
  closes?: boolean;
}

const file = (name: string): Buffer => readFileSync(new URL(name, import.meta.url));
const yamlHeaders = { "content-type": "application/yaml" };
const apply =
  (body: Buffer | string, headers: Record<string, string> = {}) =>
  () => [httpRequest("POST", "/v1/apply", { ...yamlHeaders, ...headers }, body)];
const service = (name: string, annotations = "") =>
  `apiVersion: meshlet.dev/v1\nkind: Service\nmetadata:\n  name: ${name}\n  annotations:\n${annotations}`;

/** One anchored string and `aliases` aliases of it: small on the wire, large once expanded. */
function anchorAndAliases(name: string, anchorBytes: number, aliases: number): string {
  const lines = [`    a0: &x "${"y".repeat(anchorBytes)}"`];
  for (let i = 1; i <= aliases; i++) lines.push(`    a${i}: *x`);
  return service(name, `${lines.join("\n")}\n`);
}

const MiB = 1024 * 1024;
const SERVICE = service("web", "    owner: team-a\n");
const putConfig = (headers: Record<string, string>) => () => [
  httpRequest("PUT", "/v1/config/app/key", headers, "value"),
];
const putService = (headers: Record<string, string>) => () => [
  httpRequest("PUT", "/v1/resources/services/web", { ...yamlHeaders, ...headers }, SERVICE),
];

export const HOSTILE_CASES: HostileCase[] = [
  // --- YAML that expands, nests or repeats without bound ------------------------------------------------
  {
    name: "3.5 MB anchor with 90 aliases (318 MB expanded)",
    request: apply(anchorAndAliases("aliases", 3_500_000, 90)),
    status: 413,
    code: "ERR_TOO_LARGE",
    message: /expands to more than 1048576 bytes/,
    withinMs: 5_000,
  },
  {
    name: "1 MB anchor with 20 aliases (21 MB expanded)",
    request: apply(anchorAndAliases("aliases", 1_000_000, 20)),
    status: 413,
    code: "ERR_TOO_LARGE",
    withinMs: 5_000,
  },
  {
    name: "billion laughs",
    request: apply(file("billion-laughs.yaml")),
    status: 400,
    code: "ERR_CONFIG_INVALID",
    message: /alias/i,
  },
  {
    name: "an alias of the map that holds it",
    request: apply(file("recursive-alias.yaml")),
    status: 400,
    code: "ERR_CONFIG_INVALID",
  },
  {
    name: "3 million nested flow sequences",
    request: apply("[".repeat(3_000_000)),
    status: 400,
    code: "ERR_CONFIG_INVALID",
    message: /nested deeper than 64/,
    withinMs: 3_000,
  },
  {
    name: "a million nested compact block sequences",
    request: apply(`${"- ".repeat(1_000_000)}x\n`),
    status: 400,
    code: "ERR_CONFIG_INVALID",
    message: /nested deeper than 64/,
    withinMs: 3_000,
  },
  {
    name: "a million empty documents",
    request: apply("---\n".repeat(1_000_000)),
    status: 413,
    code: "ERR_TOO_LARGE",
    message: /more than 10000 documents/,
    withinMs: 3_000,
  },
  {
    name: "one resource over 1 MiB once encoded",
    request: apply(service("big", `    blob: "${"z".repeat(MiB + 10)}"\n`)),
    status: 413,
    code: "ERR_TOO_LARGE",
    message: /1048576/,
  },
  {
    name: "nine resources under 1 MiB each, over 4 MiB together once expanded",
    request: apply(
      Array.from({ length: 9 }, (_, i) => service(`part-${i}`, `    a: &x "${"q".repeat(450_000)}"\n    b: *x\n`)).join(
        "---\n",
      ),
    ),
    status: 413,
    code: "ERR_TOO_LARGE",
    message: /4194304/,
  },
  {
    name: "a body over the apply limit (Content-Length)",
    request: apply("#".repeat(4 * MiB + 1)),
    status: 413,
    code: "ERR_TOO_LARGE",
  },
  {
    name: "a chunked body over the apply limit",
    request: () => {
      const chunk = "#".repeat(MiB);
      const pieces: RawPiece[] = [httpRequest("POST", "/v1/apply", { ...yamlHeaders, "transfer-encoding": "chunked" })];
      for (let i = 0; i < 5; i++) pieces.push(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
      pieces.push("0\r\n\r\n");
      return pieces;
    },
    status: 413,
    code: "ERR_TOO_LARGE",
  },

  // --- malformed YAML and values the schema must refuse ----------------------------------------------
  ...(
    [
      ["duplicate keys", "duplicate-keys.yaml", /unique/i],
      ["an unknown tag", "unknown-tag.yaml", undefined],
      ["a YAML 1.1 merge key", "merge-key.yaml", undefined],
      ["a number that overflows to Infinity", "huge-number.yaml", undefined],
      ["a NUL in a name", "nul-in-name.yaml", /DNS-style/],
      ["tabs as indentation", "tab-indent.yaml", undefined],
      ["an unterminated flow map", "unterminated-flow.yaml", undefined],
      ["an unknown YAML directive version", "bad-directive.yaml", undefined],
      ["a __proto__ label key", "proto-pollution.yaml", undefined],
      ["resetTimeout: 99999999999999h", "duration-overflow.yaml", /at most 24h/],
      ["a route timeout of 25h", "duration-over-a-day.yaml", /at most 24h/],
      ["requestsPerSecond: 1e-300", "rate-tiny.yaml", /at least 0\.001/],
      ["requestsPerSecond: .inf", "rate-infinite.yaml", undefined],
      ["burst: 1e300", "burst-huge.yaml", /at most/],
      ["maxKeys: 1e12", "max-keys-huge.yaml", /at most/],
    ] as const
  ).map(
    ([name, input, message]): HostileCase => ({
      name,
      request: apply(file(input)),
      status: 400,
      code: "ERR_CONFIG_INVALID",
      ...(message === undefined ? {} : { message }),
    }),
  ),
  {
    name: "bytes that are not UTF-8",
    request: apply(file("invalid-utf8.bin")),
    status: 400,
    code: "ERR_BAD_REQUEST",
    message: /UTF-8/,
  },
  { name: "nothing but comments", request: apply(file("only-comments.yaml")), status: 400, code: "ERR_CONFIG_INVALID" },
  { name: "an empty body", request: apply(""), status: 400, code: "ERR_CONFIG_INVALID" },
  { name: "a byte-order mark before a valid document (accepted)", request: apply(file("bom.yaml")), status: 200 },
  { name: "JSON, which is YAML (accepted)", request: apply(file("valid.json")), status: 200 },

  // --- headers: If-Match and X-Meshlet-Timeout take decimal numbers only ------------------------------
  ...["1e3", "0x10", '"3"', "W/3", "-1", "1.0", "*", "3, 4", "99999999999999999999", "+3", ""].flatMap(
    (value): HostileCase[] => [
      {
        name: `If-Match: ${value} on a config key`,
        request: putConfig({ "if-match": value }),
        status: 400,
        code: "ERR_BAD_REQUEST",
        message: /If-Match/,
      },
      {
        name: `If-Match: ${value} on a resource`,
        request: putService({ "if-match": value }),
        status: 400,
        code: "ERR_BAD_REQUEST",
        message: /If-Match/,
      },
    ],
  ),
  ...["1e3", "0x10", "abc", "0", "-5", "1.5"].map(
    (value): HostileCase => ({
      name: `X-Meshlet-Timeout: ${value}`,
      request: () => [httpRequest("GET", "/v1/cluster", { "x-meshlet-timeout": value })],
      status: 400,
      code: "ERR_BAD_REQUEST",
      message: /X-Meshlet-Timeout/,
    }),
  ),

  // --- paths ----------------------------------------------------------------------------------------
  {
    name: "a resource name that is not valid percent-encoding",
    request: () => [httpRequest("GET", "/v1/resources/services/%E0%A4%A")],
    status: 400,
    code: "ERR_BAD_REQUEST",
  },
  {
    name: "a URL of 9 KiB",
    request: () => [httpRequest("GET", `/v1/config/${"k".repeat(9 * 1024)}`)],
    status: 414,
    code: "ERR_URI_TOO_LONG",
    closes: true,
  },
  {
    name: "a URL of 20 KB",
    request: () => [httpRequest("GET", `/v1/config/${"k".repeat(20_000)}`)],
    status: 414,
    code: "ERR_URI_TOO_LONG",
    closes: true,
  },
  {
    name: "a URL of 100 KB",
    request: () => [httpRequest("GET", `/v1/config/${"k".repeat(100_000)}`)],
    status: 414,
    code: "ERR_URI_TOO_LONG",
    closes: true,
  },
  {
    name: "a header of 20 KB",
    request: () => [httpRequest("GET", "/v1/cluster", { "x-padding": "p".repeat(20_000) })],
    status: 431,
    code: "ERR_HEADERS_TOO_LARGE",
    closes: true,
  },
  {
    name: "a header block of 100 KB",
    request: () => [
      httpRequest(
        "GET",
        "/v1/cluster",
        Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`x-h${i}`, "p".repeat(1_000)])),
      ),
    ],
    status: 431,
    code: "ERR_HEADERS_TOO_LARGE",
    closes: true,
  },

  // --- pace: headers and body must arrive within the request's deadline --------------------------------
  {
    name: "a chunked body at 1 byte per second (deadline 1.5 s)",
    request: () => {
      const pieces: RawPiece[] = [
        httpRequest("POST", "/v1/apply", {
          ...yamlHeaders,
          "transfer-encoding": "chunked",
          "x-meshlet-timeout": "1500",
        }),
      ];
      for (const ch of SERVICE.slice(0, 10)) pieces.push(`1\r\n${ch}\r\n`, { pauseMs: 1_000 });
      return pieces;
    },
    status: 408,
    code: "ERR_REQUEST_TIMEOUT",
    withinMs: 2_500,
    closes: true,
  },
  {
    name: "a chunked body at 1 byte per second (default deadline 5 s)",
    request: () => {
      const pieces: RawPiece[] = [httpRequest("PUT", "/v1/config/app/slow", { "transfer-encoding": "chunked" })];
      for (let i = 0; i < 10; i++) pieces.push("1\r\nx\r\n", { pauseMs: 1_000 });
      return pieces;
    },
    status: 408,
    code: "ERR_REQUEST_TIMEOUT",
    withinMs: 6_000,
    closes: true,
  },
  {
    name: "headers at one line per second",
    request: () => {
      const pieces: RawPiece[] = ["GET /v1/cluster HTTP/1.1\r\n"];
      for (let i = 0; i < 10; i++) pieces.push({ pauseMs: 1_000 }, `x-slow-${i}: y\r\n`);
      return pieces;
    },
    status: 408,
    code: "ERR_REQUEST_TIMEOUT",
    withinMs: 7_000,
    closes: true,
  },
];
