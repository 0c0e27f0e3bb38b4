/**
 * Bare forwarders for bench:proxy, to compare the libraries' floor with the
 * sidecar's full path: `node proxy-forwarders.ts http-proxy|node-http|undici LISTEN_PORT UPSTREAM_PORT`.
 */
import { Agent, createServer, type IncomingHttpHeaders, request } from "node:http";
import httpProxy from "http-proxy";
import { Pool } from "undici";

const [kind, listenPort, upstreamPort] = process.argv.slice(2);
const target = `http://127.0.0.1:${upstreamPort}`;
const agent = new Agent({ keepAlive: true, maxSockets: 256 });

if (kind === "http-proxy") {
  const proxy = httpProxy.createProxyServer({ target, agent });
  proxy.on("error", (_e, _req, res) => {
    if ("writeHead" in res) res.writeHead(502).end();
  });
  createServer((req, res) => proxy.web(req, res)).listen(Number(listenPort), "127.0.0.1");
} else if (kind === "undici") {
  const pool = new Pool(target, { connections: 256 });
  createServer((req, res) => {
    const { connection: _c, "keep-alive": _k, "transfer-encoding": _t, ...headers } = req.headers;
    pool.dispatch(
      { method: req.method ?? "GET", path: req.url ?? "/", headers, body: req.method === "GET" ? null : req },
      {
        onRequestStart() {},
        onResponseStart(_c, status: number, h: IncomingHttpHeaders) {
          res.writeHead(status, h);
        },
        onResponseData(c, chunk: Buffer) {
          if (!res.write(chunk)) {
            c.pause();
            res.once("drain", () => c.resume());
          }
        },
        onResponseEnd() {
          res.end();
        },
        onResponseError() {
          if (!res.headersSent) res.writeHead(502);
          res.end();
        },
      },
    );
  }).listen(Number(listenPort), "127.0.0.1");
} else {
  createServer((req, res) => {
    const up = request(
      { host: "127.0.0.1", port: Number(upstreamPort), method: req.method, path: req.url, headers: req.headers, agent },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on("error", () => res.writeHead(502).end());
    req.pipe(up);
  }).listen(Number(listenPort), "127.0.0.1");
}
