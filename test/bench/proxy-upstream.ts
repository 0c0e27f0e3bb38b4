/**
 * The 100-byte upstream of bench:proxy: `node proxy-upstream.ts PORT [FAIL_EVERY]`. With FAIL_EVERY, one
 * request in that many gets a 503, so the full stack's breaker and outlier detection have failures to count.
 */
import { createServer } from "node:http";

const body = Buffer.alloc(100, "x");
const failEvery = Number(process.argv[3] ?? 0);
let n = 0;
const server = createServer((req, res) => {
  req.resume();
  const fail = failEvery > 0 && ++n % failEvery === 0;
  res.writeHead(fail ? 503 : 200, { "content-type": "text/plain", "content-length": body.length });
  res.end(body);
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.argv[2]), "127.0.0.1");
