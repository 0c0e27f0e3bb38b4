import { Agent, request } from "node:http";

const USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan"];
/** One request in this many comes from a canary user (x-canary: true), who is sent to reviews v2. */
const CANARY_EVERY = 10;

/**
 * A light, steady load on the demo so the dashboard moves: GET / on web through web's inbound sidecar (as an
 * ingress would send it), from a few users, every tenth one a canary user.
 */
export function startTraffic(inbound: string, perSecond: number): { stop(): void } {
  if (perSecond <= 0) return { stop() {} };
  const [host, port] = [
    inbound.slice(0, inbound.lastIndexOf(":")),
    Number(inbound.slice(inbound.lastIndexOf(":") + 1)),
  ];
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  let n = 0;
  const timer = setInterval(() => {
    n++;
    const headers: Record<string, string> = { host: "web", "x-user-id": USERS[n % USERS.length] ?? "alice" };
    if (n % CANARY_EVERY === 0) headers["x-canary"] = "true";
    const req = request({ host, port, path: "/", headers, agent, timeout: 5_000 }, (res) => res.resume());
    req.on("timeout", () => req.destroy());
    req.on("error", () => {});
    req.end();
  }, 1000 / perSecond);
  return {
    stop() {
      clearInterval(timer);
      agent.destroy();
    },
  };
}
