import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type IncomingMessage, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { WebSocket, WebSocketServer } from "ws";
import {
  freePort,
  type RunningSidecar,
  send,
  service,
  startSidecar,
  startUpstream,
  type Upstream,
  waitFor,
} from "../sidecar/helpers.ts";

/**
 * Telemetry end to end, black-box: real `meshlet sidecar` processes, a caller's
 * outbound sidecar in front of a callee's inbound sidecar, asserted on what
 * leaves them: /metrics, the access log on stdout, spans received by an OTLP
 * receiver, and the headers the app gets.
 */

const docs = (...d: string[]) => d.join("---\n");
const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN = "00f067aa0ba902b7";
const BURST = 20;

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: Record<string, unknown> }[];
}

/** A tiny OTLP/HTTP receiver (JSON encoding): keeps every span it is sent, with its resource's service.name. */
async function startOtlpReceiver(): Promise<{
  port: number;
  spans: (OtlpSpan & { service: string })[];
  close(): void;
}> {
  const spans: (OtlpSpan & { service: string })[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      assert.equal(req.url, "/v1/traces");
      assert.match(String(req.headers["content-type"]), /application\/json/);
      const body = JSON.parse(Buffer.concat(chunks).toString()) as {
        resourceSpans: {
          resource: { attributes: { key: string; value: { stringValue?: string } }[] };
          scopeSpans: { spans: OtlpSpan[] }[];
        }[];
      };
      for (const rs of body.resourceSpans) {
        const service = rs.resource.attributes.find((a) => a.key === "service.name")?.value.stringValue ?? "";
        for (const ss of rs.scopeSpans) for (const s of ss.spans) spans.push({ ...s, service });
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as AddressInfo).port,
    spans,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

/** The app behind the callee's sidecar: answers with the headers it received, as JSON. */
function echoHeaders(req: IncomingMessage, res: import("node:http").ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    if (req.url === "/grpc-trailer") {
      res.writeHead(200, { "content-type": "application/grpc", trailer: "grpc-status" });
      res.write("x");
      res.addTrailers({ "grpc-status": "7" });
      res.end();
      return;
    }
    if (req.url === "/grpc-head") {
      res.writeHead(200, { "content-type": "application/grpc", "grpc-status": "5", "content-length": 0 });
      res.end();
      return;
    }
    const body = JSON.stringify({ headers: req.headers, bytes: Buffer.concat(chunks).length });
    res.writeHead(200, { "content-type": "application/json" });
    res.end(body);
  });
}

async function metrics(admin: number): Promise<string> {
  const r = await send(admin, { path: "/metrics" });
  return r.body;
}

/** The value of one series of /metrics; the labels in the order the sidecar writes them. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const want = `${name}{${Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(",")}}`;
  const line = text.split("\n").find((l) => l.startsWith(`${want} `));
  return line === undefined ? undefined : Number(line.slice(want.length + 1));
}

function requestLabels(o: {
  direction: string;
  source: string;
  destination: string;
  version: string;
  code: string;
  flags?: string;
  grpc?: string;
}): Record<string, string> {
  return {
    direction: o.direction,
    source_service: o.source,
    destination_service: o.destination,
    destination_version: o.version,
    response_code: o.code,
    response_flags: o.flags ?? "-",
    grpc_status: o.grpc ?? "",
  };
}

/** Sends a request straight to a sidecar's inbound listener from `localAddress` (a peer of the mesh or not). */
function sendFrom(
  localAddress: string,
  port: number,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, localAddress, path: "/", headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("telemetry through real sidecars", () => {
  let app: Upstream;
  let wsApp: Server;
  let wss: WebSocketServer;
  let otlp: Awaited<ReturnType<typeof startOtlpReceiver>>;
  let ratings: RunningSidecar;
  let reviews: RunningSidecar;
  let web: RunningSidecar;
  let reviewsOut = "";
  const ports = { ratings: 0, reviews: 0, web: 0 };

  before(async () => {
    app = await startUpstream(echoHeaders);
    wsApp = createServer();
    wss = new WebSocketServer({ server: wsApp });
    wss.on("connection", (ws) => ws.on("message", (m: Buffer) => ws.send(`echo:${m.toString()}`)));
    await new Promise<void>((r) => wsApp.listen(0, "127.0.0.1", r));
    otlp = await startOtlpReceiver();
    for (const k of ["ratings", "reviews", "web"] as const) ports[k] = await freePort();
    const wsPort = (wsApp.address() as AddressInfo).port;
    // Every sidecar knows the mesh: its Services and their endpoints (all on loopback, like pods of one node).
    const mesh = docs(
      service("ratings", [{ port: ports.ratings, labels: { version: "v2" } }]),
      service("reviews", [{ port: ports.reviews, labels: { version: "v1" } }]),
      service("web", [{ port: ports.web }]),
      `${service("chat", [{ port: wsPort, labels: { version: "v3" } }])}  ports: [{port: 80, protocol: websocket}]\n`,
    );
    // The callee limits each calling service to BURST requests (a bucket per caller, refilled once in 1000 s).
    const callee = docs(
      mesh,
      `apiVersion: meshlet.dev/v1
kind: Policy
metadata: {name: ratings-per-caller}
spec:
  target: {service: ratings}
  rateLimit: {requestsPerSecond: 0.001, burst: ${BURST}, key: {sourceService: true}}
`,
    );
    const tracing = ["--tracing-endpoint", `http://127.0.0.1:${otlp.port}/v1/traces`, "--tracing-sample-rate", "1"];
    ratings = await startSidecar(callee, {
      service: "ratings",
      appPort: app.port,
      args: ["--inbound", `127.0.0.1:${ports.ratings}`, "--labels", "version=v2", ...tracing],
    });
    reviews = await startSidecar(mesh, {
      service: "reviews",
      args: ["--inbound", `127.0.0.1:${ports.reviews}`, "--access-log", "all", ...tracing],
    });
    reviews.proc.stdout?.on("data", (c: Buffer) => {
      reviewsOut += c.toString();
    });
    web = await startSidecar(mesh, { service: "web", args: ["--inbound", `127.0.0.1:${ports.web}`] });
  });

  after(async () => {
    await Promise.all([ratings?.stop(), reviews?.stop(), web?.stop()]);
    await app?.close();
    wss?.close();
    wsApp?.closeAllConnections();
    wsApp?.close();
    otlp?.close();
  });

  test("the caller's service travels to the callee, whose rate limit keeps one bucket per caller", async () => {
    const viaReviews = () => send(reviews.outbound, { headers: { host: "ratings", "x-meshlet-source": "web" } });
    const first = await viaReviews();
    assert.equal(first.status, 200);
    // The app said it was web: its sidecar drops that and names its own service.
    assert.equal(
      (JSON.parse(first.body) as { headers: Record<string, string> }).headers["x-meshlet-source"],
      "reviews",
    );
    for (let i = 1; i < BURST; i++) assert.equal((await viaReviews()).status, 200);
    const over = await viaReviews();
    assert.equal(over.status, 429, over.body);
    // web has a bucket of its own.
    assert.equal((await send(web.outbound, { headers: { host: "ratings" } })).status, 200);

    // A peer outside the mesh (127.0.0.2: no endpoint of the snapshot) claiming to be reviews is "unknown":
    // it neither takes reviews' exhausted bucket nor gets the header passed to the app as it sent it.
    const forged = await sendFrom("127.0.0.2", ports.ratings, { host: "ratings", "x-meshlet-source": "reviews" });
    assert.equal(forged.status, 200, forged.body);
    assert.equal(
      (JSON.parse(forged.body) as { headers: Record<string, string> }).headers["x-meshlet-source"],
      undefined,
    );
    // From a mesh address the same claim is believed: reviews' bucket is empty.
    const believed = await sendFrom("127.0.0.1", ports.ratings, { host: "ratings", "x-meshlet-source": "reviews" });
    assert.equal(believed.status, 429);

    const m = await metrics(ratings.admin);
    const inbound = (source: string, code: string, flags?: string) =>
      sample(
        m,
        "meshlet_requests_total",
        requestLabels({
          direction: "inbound",
          source,
          destination: "ratings",
          version: "v2",
          code,
          ...(flags === undefined ? {} : { flags }),
        }),
      );
    assert.equal(inbound("reviews", "200"), BURST, m);
    assert.equal(
      inbound("reviews", "429", "RL"),
      2,
      m
        .split("\n")
        .filter((l) => l.startsWith("meshlet_requests_total"))
        .join("\n"),
    );
    assert.equal(inbound("web", "200"), 1);
    assert.equal(inbound("unknown", "200"), 1);
  });

  test("HTTP metrics carry source, destination, version, exact code, flags and gRPC status", async () => {
    const body = "x".repeat(300);
    const r = await send(web.outbound, { method: "POST", path: "/up", headers: { host: "ratings" }, body });
    assert.equal(r.status, 200);
    const nr = await send(web.outbound, { headers: { host: "nowhere" } });
    assert.equal(nr.status, 404);
    assert.equal((await send(web.outbound, { path: "/grpc-head", headers: { host: "ratings" } })).status, 200);
    assert.equal((await send(web.outbound, { path: "/grpc-trailer", headers: { host: "ratings" } })).status, 200);

    const m = await metrics(web.admin);
    const out = { direction: "outbound", source: "web", destination: "ratings", version: "v2" };
    assert.equal(sample(m, "meshlet_requests_total", requestLabels({ ...out, code: "200" })), 2, m);
    assert.equal(sample(m, "meshlet_requests_total", requestLabels({ ...out, code: "200", grpc: "5" })), 1);
    assert.equal(sample(m, "meshlet_requests_total", requestLabels({ ...out, code: "200", grpc: "7" })), 1);
    const noRoute = requestLabels({
      direction: "outbound",
      source: "web",
      destination: "unknown",
      version: "unknown",
      code: "404",
      flags: "NR",
    });
    assert.equal(sample(m, "meshlet_requests_total", noRoute), 1);
    const plain = requestLabels({ ...out, code: "200" });
    assert.equal(sample(m, "meshlet_request_duration_seconds_count", plain), 2);
    assert.equal(sample(m, "meshlet_request_bytes_sum", plain), 300);
    assert.ok((sample(m, "meshlet_response_bytes_sum", plain) ?? 0) > 0);
    // The older series stay (deprecated) until their last reader moves.
    assert.match(m, /meshlet_sidecar_requests_total\{direction="outbound",service="ratings",code="2xx",flags="-"\} \d/);
  });

  test("a WebSocket is a 101 request and a TCP connection with its bytes", async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${web.outbound}/`, { headers: { host: "chat" } });
    await once(ws, "open");
    ws.send("hello");
    const [reply] = (await once(ws, "message")) as [Buffer];
    assert.equal(reply.toString(), "echo:hello");
    const labels = {
      direction: "outbound",
      source_service: "web",
      destination_service: "chat",
      destination_version: "v3",
    };
    const opened = await waitFor("connection counted", async () => {
      const m = await metrics(web.admin);
      return sample(m, "meshlet_tcp_connections_opened_total", labels) === 1 ? m : undefined;
    });
    assert.equal(sample(opened, "meshlet_tcp_connections_closed_total", labels), 0);
    ws.close();
    await once(ws, "close");
    const m = await waitFor("connection closed", async () => {
      const text = await metrics(web.admin);
      return sample(text, "meshlet_tcp_connections_closed_total", labels) === 1 ? text : undefined;
    });
    assert.ok((sample(m, "meshlet_tcp_received_bytes_total", labels) ?? 0) > "hello".length);
    assert.ok((sample(m, "meshlet_tcp_sent_bytes_total", labels) ?? 0) > "echo:hello".length);
    assert.equal(
      sample(
        m,
        "meshlet_requests_total",
        requestLabels({ ...{ direction: "outbound", source: "web", destination: "chat", version: "v3" }, code: "101" }),
      ),
      1,
    );
  });

  test("the access log line's fields match the request; the span is exported with the caller's parent", async () => {
    reviewsOut = "";
    const spansBefore = otlp.spans.length;
    const body = "y".repeat(123);
    // reviews' bucket at ratings is empty: the answer is ratings' 429, whatever the caller sends.
    const r = await send(reviews.outbound, {
      method: "PUT",
      path: "/r?x=1",
      headers: { host: "ratings", traceparent: `00-${TRACE}-${CLIENT_SPAN}-01`, "x-request-id": "req-42" },
      body,
    });
    assert.equal(r.status, 429);
    const line = await waitFor("access log line", async () => reviewsOut.split("\n").find((l) => l.includes("req-42")));
    const keys = [...line.matchAll(/"([a-z_]+)":/g)].map((m) => m[1]);
    assert.equal(new Set(keys).size, keys.length, `duplicated keys in ${line}`);
    const entry = JSON.parse(line) as Record<string, unknown>;
    assert.equal(entry.method, "PUT");
    assert.equal(entry.authority, "ratings");
    assert.equal(entry.path, "/r?x=1");
    assert.equal(entry.response_code, 429);
    assert.equal(entry.response_flags, "-");
    assert.equal(entry.bytes_received, 123);
    assert.equal(entry.bytes_sent, Buffer.byteLength(r.body));
    assert.equal(entry.upstream_address, `127.0.0.1:${ports.ratings}`);
    assert.equal(entry.attempts, 1);
    assert.equal(entry.request_id, "req-42");
    assert.equal(entry.trace_id, TRACE);
    assert.equal(entry.source_service, "reviews");
    assert.equal(entry.destination_service, "ratings");
    assert.equal(entry.destination_version, "v2");
    assert.equal(entry.direction, "outbound");
    assert.ok(typeof entry.duration_ms === "number" && entry.duration_ms >= 0);
    assert.ok(Math.abs(Date.parse(String(entry.start_time)) - Date.now()) < 60_000);

    // Two spans: reviews' client span (parent: the app's span), and ratings' server span (parent: reviews' span).
    const [client, server] = await waitFor("two spans exported", async () => {
      const mine = otlp.spans.slice(spansBefore).filter((s) => s.traceId === TRACE);
      const c = mine.find((s) => s.service === "reviews");
      const sv = mine.find((s) => s.service === "ratings");
      return c !== undefined && sv !== undefined ? ([c, sv] as const) : undefined;
    });
    assert.equal(client.parentSpanId, CLIENT_SPAN);
    assert.match(client.spanId, /^[0-9a-f]{16}$/);
    assert.notEqual(client.spanId, CLIENT_SPAN);
    assert.equal(client.kind, 3, "SPAN_KIND_CLIENT");
    assert.equal(server.parentSpanId, client.spanId);
    assert.equal(server.kind, 2, "SPAN_KIND_SERVER");
    assert.equal(entry.span_id, client.spanId);
    const status = server.attributes.find((a) => a.key === "http.response.status_code")?.value;
    assert.deepEqual(status, { intValue: 429 });
  });

  test("the app gets a traceparent whose parent is the callee sidecar's span, and B3 callers get B3 back", async () => {
    const spansBefore = otlp.spans.length;
    const trace = "a".repeat(32);
    const r = await send(web.outbound, { headers: { host: "ratings", b3: `${trace}-${"b".repeat(16)}-1` } });
    assert.equal(r.status, 200);
    const seen = (JSON.parse(r.body) as { headers: Record<string, string> }).headers;
    // web traces nothing (no --tracing-endpoint): the context passes through it unchanged; ratings makes a span.
    const server = await waitFor("ratings' span", async () =>
      otlp.spans.slice(spansBefore).find((s) => s.traceId === trace && s.service === "ratings"),
    );
    assert.equal(server.parentSpanId, "b".repeat(16));
    assert.equal(seen.traceparent, `00-${trace}-${server.spanId}-01`);
    assert.equal(seen.b3, `${trace}-${server.spanId}-1`);
  });
});
