/**
 * One service of the demo mesh: a plain node:http server, as an app next to a meshlet sidecar would be. It
 * calls the services it depends on through its sidecar's outbound listener with a Host header, as apps in
 * the mesh do, and never knows where their instances are.
 *
 * Environment: SERVICE (web | reviews | ratings), VERSION, INSTANCE (a name to show), PORT (where it
 * listens: its sidecar's --app-port), MESH (its sidecar's outbound host:port).
 * GET /whoami names the instance that answered; POST /_demo/fail and /_demo/heal make it answer 500 or answer
 * normally again (`meshlet demo fail|heal`).
 */
import { Agent, createServer, type IncomingMessage, request, type ServerResponse } from "node:http";

const SERVICE = process.env.SERVICE ?? "web";
const VERSION = process.env.VERSION ?? "v1";
const INSTANCE = process.env.INSTANCE ?? `${SERVICE}-${VERSION}`;
const PORT = Number(process.env.PORT ?? "9080");
const [MESH_HOST, MESH_PORT] = (process.env.MESH ?? "127.0.0.1:15001").split(":");
/** Headers that pick a route or an instance, passed on to the next call as tracing headers would be. */
const PASSED_ON = ["x-user-id", "x-canary", "x-request-id"];
const agent = new Agent({ keepAlive: true, maxSockets: 32 });

let failing = false;

interface Reply {
  status: number;
  body: unknown;
  flags: string | undefined;
}

/** GET http://<service>/<path> through the sidecar. */
function call(service: string, path: string, from: IncomingMessage): Promise<Reply> {
  const headers: Record<string, string> = { host: service };
  for (const name of PASSED_ON) {
    const value = from.headers[name];
    if (typeof value === "string") headers[name] = value;
  }
  return new Promise((resolve) => {
    const req = request({ host: MESH_HOST, port: Number(MESH_PORT), path, headers, agent, timeout: 3_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON: shown as text
        }
        const flags = res.headers["x-meshlet-flags"];
        resolve({ status: res.statusCode ?? 0, body, flags: typeof flags === "string" ? flags : undefined });
      });
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", (err) => resolve({ status: 0, body: { error: err.message }, flags: undefined }));
    req.end();
  });
}

const STARS: Record<string, number[]> = { v1: [4, 5], v2: [5, 3] };

async function answer(req: IncomingMessage): Promise<{ status: number; body: unknown }> {
  const id = /\/(\d+)$/.exec(req.url ?? "")?.[1] ?? "1";
  const me = { service: SERVICE, version: VERSION, instance: INSTANCE };
  if (failing) return { status: 500, body: { ...me, error: `${SERVICE} is failing (meshlet demo fail ${SERVICE})` } };
  if (SERVICE === "ratings") {
    const stars = STARS[VERSION] ?? [4, 5];
    return { status: 200, body: { ...me, product: id, ratings: { reviewer1: stars[0], reviewer2: stars[1] } } };
  }
  if (SERVICE === "reviews") {
    const ratings = await call("ratings", `/api/ratings/${id}`, req);
    return {
      status: 200,
      body: {
        ...me,
        product: id,
        reviews: [
          { reviewer: "reviewer1", text: "An extremely entertaining play by Shakespeare." },
          { reviewer: "reviewer2", text: "Absolutely fun and entertaining." },
        ],
        // The fallback's answer when ratings' breaker is open: its flags say why (CB,FB).
        ratings: ratings.body,
        ...(ratings.flags === undefined ? {} : { ratingsFlags: ratings.flags }),
      },
    };
  }
  const reviews = await call("reviews", `/api/reviews/${id}`, req);
  return { status: reviews.status === 200 ? 200 : 502, body: { ...me, reviews: reviews.body } };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

const server = createServer((req, res) => {
  if (req.method === "POST" && (req.url === "/_demo/fail" || req.url === "/_demo/heal")) {
    failing = req.url === "/_demo/fail";
    send(res, 200, { service: SERVICE, instance: INSTANCE, failing });
    return;
  }
  if (req.url === "/healthz") {
    send(res, 200, { ok: true });
    return;
  }
  if (req.url === "/whoami") {
    const user = req.headers["x-user-id"];
    const text = `${INSTANCE} (${SERVICE} ${VERSION})${typeof user === "string" ? ` for ${user}` : ""}\n`;
    res.writeHead(200, { "content-type": "text/plain", "content-length": Buffer.byteLength(text) });
    res.end(text);
    return;
  }
  answer(req).then(
    ({ status, body }) => send(res, status, body),
    (err: unknown) => send(res, 500, { error: String(err) }),
  );
});
server.keepAliveTimeout = 10_000;
server.listen(PORT, "127.0.0.1");

const stop = () => {
  server.close();
  server.closeAllConnections();
  agent.destroy();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
// Started by `meshlet demo` with an IPC channel: when the demo is gone (even killed), so is this app.
if (process.channel !== undefined) {
  process.channel.unref();
  process.on("disconnect", stop);
}
