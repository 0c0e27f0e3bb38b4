/**
 * Bare forwarders for bench:proxy, to compare the libraries' floor with the
 * sidecar's full path: `node proxy-forwarders.ts http-proxy|node-http LISTEN_PORT UPSTREAM_PORT`.
 */
import { Agent, createServer, request } from "node:http";
import httpProxy from "http-proxy";

const [kind, listenPort, upstreamPort] = process.argv.slice(2);
const target = `http://127.0.0.1:${upstreamPort}`;
const agent = new Agent({ keepAlive: true, maxSockets: 256 });

if (kind === "http-proxy") {
  const proxy = httpProxy.createProxyServer({ target, agent });
  proxy.on("error", (_e, _req, res) => {
    if ("writeHead" in res) res.writeHead(502).end();
  });
  createServer((req, res) => proxy.web(req, res)).listen(Number(listenPort), "127.0.0.1");
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
