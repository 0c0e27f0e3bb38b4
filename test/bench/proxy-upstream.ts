/** The 100-byte upstream of bench:proxy: `node proxy-upstream.ts PORT`. */
import { createServer } from "node:http";

const body = Buffer.alloc(100, "x");
const server = createServer((req, res) => {
  req.resume();
  res.writeHead(200, { "content-type": "text/plain", "content-length": body.length });
  res.end(body);
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.argv[2]), "127.0.0.1");
