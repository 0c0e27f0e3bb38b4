import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { type RunningSidecar, route, service, startSidecar } from "../helpers.ts";
import { probe, responses } from "./probe.ts";
import { type RawUpstream, startRawUpstream } from "./raw-upstream.ts";

const TP = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
/** Sent by every probe, so the upstream's bytes are deterministic (no generated id or trace context). */
const FIXED = `x-request-id: r1\r\ntraceparent: ${TP}\r\n`;
/** Added by the sidecar: forwarding fields, and the caller's service for the callee's sidecar (telemetry). */
const ADDED = "x-forwarded-for: 127.0.0.1\r\nx-forwarded-proto: http\r\nx-meshlet-source: client\r\n";

/** What the upstream must receive for a request line and fields as the sidecar forwards them. */
function forwarded(line: string, fields = "Host: up\r\n", framing = "", body = ""): string {
  return `${line}\r\n${fields}${FIXED}${ADDED}${framing}\r\n${body}`;
}

interface RefusalCase {
  name: string;
  bytes: string;
  status: number;
}

/** Requests refused before anything reaches the upstream: the status, `connection: close`, and a closed connection. */
const REFUSED: RefusalCase[] = [
  {
    name: "Content-Length and Transfer-Encoding together",
    bytes: `POST / HTTP/1.1\r\nHost: up\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    status: 400,
  },
  {
    name: "two differing Content-Length fields",
    bytes: `POST / HTTP/1.1\r\nHost: up\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd`,
    status: 400,
  },
  {
    name: "a Content-Length list that differs",
    bytes: `POST / HTTP/1.1\r\nHost: up\r\nContent-Length: 3, 4\r\n\r\nabcd`,
    status: 400,
  },
  {
    name: "a signed Content-Length",
    bytes: `POST / HTTP/1.1\r\nHost: up\r\nContent-Length: +3\r\n\r\nabc`,
    status: 400,
  },
  {
    name: "Transfer-Encoding gzip, chunked (a coding the proxy cannot pass)",
    bytes: `POST / HTTP/1.1\r\nHost: up\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`,
    status: 501,
  },
  {
    name: "Transfer-Encoding chunked, gzip (chunked not final)",
    bytes: `POST / HTTP/1.1\r\nHost: up\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n`,
    status: 400,
  },
  {
    name: "Transfer-Encoding identity",
    bytes: `POST / HTTP/1.1\r\nHost: up\r\nTransfer-Encoding: identity\r\n\r\n`,
    status: 400,
  },
  {
    name: "chunked twice",
    bytes: `POST / HTTP/1.1\r\nHost: up\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    status: 400,
  },
  {
    name: "HTTP/1.0 with Transfer-Encoding chunked",
    bytes: `POST / HTTP/1.0\r\nHost: up\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n0\r\n\r\n`,
    status: 400,
  },
  { name: "obs-fold", bytes: `GET / HTTP/1.1\r\nHost: up\r\nX-A: one\r\n two\r\n\r\n`, status: 400 },
  { name: "bare LF line ends", bytes: `GET / HTTP/1.1\nHost: up\n\n`, status: 400 },
  { name: "bare CR in a value", bytes: `GET / HTTP/1.1\r\nHost: up\r\nX-A: a\rb\r\n\r\n`, status: 400 },
  { name: "NUL in a value", bytes: `GET / HTTP/1.1\r\nHost: up\r\nX-A: a\u0000b\r\n\r\n`, status: 400 },
  { name: "a control byte in a value", bytes: `GET / HTTP/1.1\r\nHost: up\r\nX-A: a\u0001b\r\n\r\n`, status: 400 },
  { name: "DEL in a value", bytes: `GET / HTTP/1.1\r\nHost: up\r\nX-A: a\u007fb\r\n\r\n`, status: 400 },
  { name: "space before the colon", bytes: `GET / HTTP/1.1\r\nHost: up\r\nX-A : b\r\n\r\n`, status: 400 },
  { name: "a field name with a slash", bytes: `GET / HTTP/1.1\r\nHost: up\r\nX/A: b\r\n\r\n`, status: 400 },
  {
    name: "an invalid chunk size",
    bytes: `POST / HTTP/1.1\r\nHost: up\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`,
    status: 400,
  },
  {
    name: "an overflowing chunk size",
    bytes: `POST / HTTP/1.1\r\nHost: up\r\nTransfer-Encoding: chunked\r\n\r\n${"f".repeat(20)}\r\nhello\r\n0\r\n\r\n`,
    status: 400,
  },
  {
    name: "chunk data longer than its size",
    bytes: `POST / HTTP/1.1\r\nHost: up\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n`,
    status: 400,
  },
  {
    name: "a chunk extension over 4 KiB",
    bytes: `POST / HTTP/1.1\r\nHost: up\r\nTransfer-Encoding: chunked\r\n\r\n5;x=${"a".repeat(5000)}\r\nhello\r\n0\r\n\r\n`,
    status: 400,
  },
  { name: "a request line over 8 KiB", bytes: `GET /${"a".repeat(9000)} HTTP/1.1\r\nHost: up\r\n\r\n`, status: 414 },
  {
    name: "a head over 64 KiB",
    bytes: `GET / HTTP/1.1\r\nHost: up\r\n${"X-Big: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n".repeat(1700)}\r\n`,
    status: 431,
  },
  {
    name: "more than 100 fields",
    bytes: `GET / HTTP/1.1\r\nHost: up\r\n${Array.from({ length: 101 }, (_, i) => `X-F${i}: v\r\n`).join("")}\r\n`,
    status: 431,
  },
  { name: "an empty Host", bytes: `GET / HTTP/1.1\r\nHost: \r\n\r\n`, status: 400 },
  { name: "no Host in HTTP/1.1", bytes: `GET / HTTP/1.1\r\nX-A: b\r\n\r\n`, status: 400 },
  { name: "two Host fields", bytes: `GET / HTTP/1.1\r\nHost: up\r\nHost: up\r\n\r\n`, status: 400 },
  { name: "a Host with a space", bytes: `GET / HTTP/1.1\r\nHost: up x\r\n\r\n`, status: 400 },
  { name: "CONNECT", bytes: `CONNECT up:443 HTTP/1.1\r\nHost: up:443\r\n\r\n`, status: 405 },
  { name: "HTTP/2.0 in a request line", bytes: `GET / HTTP/2.0\r\nHost: up\r\n\r\n`, status: 505 },
  { name: "a garbage version", bytes: `GET / HTTP/1.1x\r\nHost: up\r\n\r\n`, status: 400 },
  { name: "a target with a control byte", bytes: `GET /a\u0001 HTTP/1.1\r\nHost: up\r\n\r\n`, status: 400 },
  { name: "an asterisk target outside OPTIONS", bytes: `GET * HTTP/1.1\r\nHost: up\r\n\r\n`, status: 400 },
  { name: "a bad percent escape", bytes: `GET /a%zz HTTP/1.1\r\nHost: up\r\n\r\n`, status: 400 },
  {
    name: "absolute-form with userinfo",
    bytes: `GET http://user@up/ HTTP/1.1\r\nHost: up\r\n\r\n`,
    status: 400,
  },
  {
    name: "a WebSocket upgrade with a body",
    bytes: `GET / HTTP/1.1\r\nHost: up\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 2\r\n\r\nab`,
    status: 400,
  },
];

interface ForwardCase {
  name: string;
  bytes: string;
  /** Final responses the client must get, in order. */
  statuses: number[];
  /** The upstream's received bytes, exactly ("" when nothing may reach it). */
  upstream: string;
  /** Indexes of HEAD responses among them (no body). */
  heads?: number[];
  check?: (text: string) => void;
}

const CASES: ForwardCase[] = [
  {
    name: "a plain GET: hop-by-hop fields removed, forwarding fields added",
    bytes: `GET /a?q=1 HTTP/1.1\r\nHost: up\r\n${FIXED}Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: 5\r\nTE: trailers\r\nProxy-Connection: x\r\n\r\n`,
    statuses: [200],
    upstream: forwarded("GET /a?q=1 HTTP/1.1"),
  },
  {
    name: "dot segments are removed before routing and forwarding",
    bytes: `GET /public/./a/../b HTTP/1.1\r\nHost: guarded\r\n${FIXED}\r\n`,
    statuses: [200],
    upstream: forwarded("GET /public/b HTTP/1.1", "Host: guarded\r\n"),
  },
  {
    name: "/public/../secret does not pass a /public prefix route",
    bytes: `GET /public/../secret HTTP/1.1\r\nHost: guarded\r\n${FIXED}\r\n`,
    statuses: [404],
    upstream: "",
  },
  {
    name: "/public/%2e%2e/secret does not pass a /public prefix route",
    bytes: `GET /public/%2e%2e/secret HTTP/1.1\r\nHost: guarded\r\n${FIXED}\r\n`,
    statuses: [404],
    upstream: "",
  },
  {
    name: "escaped unreserved characters are decoded, other escapes kept (hex upper-cased), %2F kept by default",
    bytes: `GET /public/%7euser/a%2fb%3a HTTP/1.1\r\nHost: guarded\r\n${FIXED}\r\n`,
    statuses: [200],
    upstream: forwarded("GET /public/~user/a%2Fb%3A HTTP/1.1", "Host: guarded\r\n"),
  },
  {
    name: "a Content-Length body is forwarded with one Content-Length (identical duplicates folded)",
    bytes: `POST /p HTTP/1.1\r\nHost: up\r\n${FIXED}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello`,
    statuses: [200],
    upstream: forwarded("POST /p HTTP/1.1", "Host: up\r\n", "content-length: 5\r\n", "hello"),
  },
  {
    name: "a chunked body with extensions and trailers is re-chunked without them",
    bytes: `POST /c HTTP/1.1\r\nHost: up\r\n${FIXED}Transfer-Encoding: chunked\r\n\r\n5;name=v\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n`,
    statuses: [200],
    upstream: forwarded(
      "POST /c HTTP/1.1",
      "Host: up\r\n",
      "transfer-encoding: chunked\r\n",
      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    ),
  },
  {
    name: "TRACE is refused without a route that allows it",
    bytes: `TRACE / HTTP/1.1\r\nHost: up\r\n${FIXED}\r\n`,
    statuses: [405],
    upstream: "",
  },
  {
    name: "TRACE is forwarded where a Route lists it",
    bytes: `TRACE / HTTP/1.1\r\nHost: tracer\r\n${FIXED}\r\n`,
    statuses: [200],
    upstream: forwarded("TRACE / HTTP/1.1", "Host: tracer\r\n"),
  },
  {
    name: "Expect: 100-continue to an unrouted host: 404, and no 100 Continue before it",
    bytes: `POST / HTTP/1.1\r\nHost: nowhere\r\n${FIXED}Expect: 100-continue\r\nContent-Length: 5\r\n\r\n`,
    statuses: [404],
    upstream: "",
    check: (text) => assert.doesNotMatch(text, /100 Continue/),
  },
  {
    name: "Expect: 100-continue to a route: 100 Continue, then the body is forwarded",
    bytes: `POST /e HTTP/1.1\r\nHost: up\r\n${FIXED}Expect: 100-continue\r\nContent-Length: 5\r\n\r\nhello`,
    statuses: [200],
    upstream: forwarded("POST /e HTTP/1.1", "Host: up\r\n", "content-length: 5\r\n", "hello"),
    check: (text) => assert.match(text, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200/),
  },
  {
    name: "absolute-form is routed by the URI's authority, which replaces Host upstream",
    bytes: `GET http://up/abs?x=1 HTTP/1.1\r\nHost: guarded\r\n${FIXED}\r\n`,
    statuses: [200],
    upstream: forwarded("GET /abs?x=1 HTTP/1.1"),
  },
  {
    name: "Upgrade: h2c is served as HTTP/1.1, the upgrade and its settings dropped",
    bytes: `GET /h HTTP/1.1\r\nHost: up\r\n${FIXED}Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n`,
    statuses: [200],
    upstream: forwarded("GET /h HTTP/1.1"),
  },
  {
    name: "Upgrade: websocket on a POST is a plain request",
    bytes: `POST /w HTTP/1.1\r\nHost: up\r\n${FIXED}Connection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 2\r\n\r\nhi`,
    statuses: [200],
    upstream: forwarded("POST /w HTTP/1.1", "Host: up\r\n", "content-length: 2\r\n", "hi"),
  },
  {
    name: "HTTP/1.0 keep-alive: answered with keep-alive, and a second request on the connection",
    bytes: `GET /k1 HTTP/1.0\r\nHost: up\r\n${FIXED}Connection: keep-alive\r\n\r\nGET /k2 HTTP/1.0\r\nHost: up\r\n${FIXED}\r\n`,
    statuses: [200, 200],
    upstream: forwarded("GET /k1 HTTP/1.0".replace("1.0", "1.1")) + forwarded("GET /k2 HTTP/1.1"),
    check: (text) => assert.match(text, /connection: keep-alive/),
  },
  {
    name: "pipelined requests after a body and after a HEAD are answered in order",
    bytes:
      `POST /p1 HTTP/1.1\r\nHost: up\r\n${FIXED}Content-Length: 3\r\n\r\nabc` +
      `HEAD /p2 HTTP/1.1\r\nHost: up\r\n${FIXED}\r\n` +
      `GET /p3 HTTP/1.1\r\nHost: up\r\n${FIXED}\r\n`,
    statuses: [200, 200, 200],
    heads: [1],
    upstream:
      forwarded("POST /p1 HTTP/1.1", "Host: up\r\n", "content-length: 3\r\n", "abc") +
      forwarded("HEAD /p2 HTTP/1.1") +
      forwarded("GET /p3 HTTP/1.1"),
    check: (text) => {
      const methods = [...text.matchAll(/x-method: (\w+)/g)].map((m) => m[1]);
      assert.deepEqual(methods, ["POST", "HEAD", "GET"]);
      // The HEAD answer has a Content-Length and no body: the GET's answer follows its head directly.
      assert.match(text, /x-method: HEAD\r\ncontent-length: 2\r\n\r\nHTTP\/1\.1 200/);
    },
  },
  {
    name: "a WebSocket upgrade the upstream answers with a plain 200: answered, then the connection closes",
    bytes: `GET /ws HTTP/1.1\r\nHost: up\r\n${FIXED}Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\nGET /after HTTP/1.1\r\nHost: up\r\n${FIXED}\r\n`,
    statuses: [200],
    upstream: forwarded("GET /ws HTTP/1.1", "Host: up\r\n", "")
      .replace(`${ADDED}\r\n`, `${ADDED}upgrade: websocket\r\nconnection: upgrade\r\n\r\n`)
      .replace(`${FIXED}`, `${FIXED}Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n`),
    check: (text) => assert.match(text, /connection: close/),
  },
];

describe("engine conformance corpus (raw bytes through the outbound listener)", () => {
  let up: RawUpstream;
  let sc: RunningSidecar;
  /** Every probe's connection is left as the probe left it: SIGTERM must end the sidecar whatever their state. */
  const leftOpen: Socket[] = [];

  before(async () => {
    up = await startRawUpstream();
    const config = [
      service("up", [{ port: up.port }]),
      service("guarded", [{ port: up.port }]),
      service("tracer", [{ port: up.port }]),
      route("guarded", "    - match: [{pathPrefix: /public}]\n      destinations: [{service: guarded}]"),
      route("tracer", "    - match: [{methods: [GET, TRACE]}]\n      destinations: [{service: tracer}]"),
    ].join("---\n");
    sc = await startSidecar(config, { args: ["--drain-timeout", "2s"] });
  });

  after(async () => {
    for (const s of leftOpen) s.destroy();
    await sc?.stop();
    await up?.close();
  });

  for (const c of REFUSED) {
    test(`refused: ${c.name} -> ${c.status}`, async () => {
      up.reset();
      const r = await probe(sc.outbound, c.bytes, 99, 3_000);
      leftOpen.push(r.socket);
      assert.equal(r.statuses[0], c.status, r.text);
      assert.match(r.text, /\r\nconnection: close\r\n/i);
      assert.equal(r.closed, true, "the connection is closed after a refusal");
      assert.equal(up.all(), "", "nothing reached the upstream");
    });
  }

  for (const c of CASES) {
    test(c.name, async () => {
      up.reset();
      const r = await probe(sc.outbound, c.bytes, c.statuses.length, 3_000, c.heads ?? []);
      leftOpen.push(r.socket);
      const finals = responses(r.text, c.heads ?? []).filter((s) => s >= 200);
      assert.deepEqual(finals.slice(0, c.statuses.length), c.statuses, r.text);
      const deadline = Date.now() + 1_000;
      while (up.all() !== c.upstream && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
      assert.equal(up.all(), c.upstream);
      c.check?.(r.text);
    });
  }

  test("a slow head is still refused on time while other probes' connections are open", async () => {
    const r = await probe(sc.outbound, "GET / HTTP/1.1\r\nHost: up\r\n", 99, 200);
    leftOpen.push(r.socket);
    assert.equal(r.statuses.length, 0, "nothing is answered before the head is complete");
  });

  test("SIGTERM ends the sidecar within its drain timeout, whatever state the probes left", async () => {
    const started = Date.now();
    const code = await sc.stop();
    const took = Date.now() - started;
    assert.equal(code, 0);
    // --drain-delay 0, --drain-timeout 2s: the process is gone within the timeout plus process exit.
    assert.ok(took < 3_500, `took ${took} ms`);
  });
});
