/**
 * Load generator for bench:push (a child process): simulated sidecars, each a
 * real DiscoveryStreamClient with its own connection, connected round-robin
 * to the given control-plane addresses. Reports to the parent over IPC: when
 * all are at a version, and each sidecar's arrival time of a watched version.
 */
import { systemClock } from "../../src/common/clock.ts";
import { silentLogger } from "../../src/common/logger.ts";
import { DiscoveryStreamClient } from "../../src/sidecar/discovery/client.ts";

interface Start {
  addresses: string[];
  first: number;
  count: number;
  services: number;
}

type Command = { watch: number } | { report: true } | { stop: true };

const now = () => performance.timeOrigin + performance.now();
const send = (msg: unknown) => process.send?.(msg);

const start = JSON.parse(process.env.PUSH_BENCH_START ?? "{}") as Start;
const versions = new Array<number>(start.count).fill(0);
let backwards = 0;
let watched = Number.POSITIVE_INFINITY;
let arrivals: number[] = [];
const clients: DiscoveryStreamClient[] = [];

for (let i = 0; i < start.count; i++) {
  const n = start.first + i;
  const address = start.addresses[n % start.addresses.length] ?? "";
  const client = new DiscoveryStreamClient({
    controls: [address, ...start.addresses.filter((a) => a !== address)],
    nodeId: `bench-${n}`,
    service: `svc-${n % start.services}`,
    instance: `i${n}`,
    subscribe: ["shared"],
    apply: (s) => {
      if (s.version < (versions[i] ?? 0)) backwards++;
      versions[i] = s.version;
      if (s.version >= watched && arrivals[i] === 0) arrivals[i] = now();
    },
    clock: systemClock,
    logger: silentLogger(),
    channelOptions: { "grpc.use_local_subchannel_pool": 1 },
  });
  clients.push(client);
  client.start();
}

process.on("message", (cmd: Command) => {
  if ("watch" in cmd) {
    watched = cmd.watch;
    arrivals = new Array<number>(start.count).fill(0);
    send({ watching: cmd.watch });
  } else if ("report" in cmd) {
    const cpu = process.cpuUsage();
    send({
      min: Math.min(...versions),
      max: Math.max(...versions),
      backwards,
      arrivals,
      rssMb: process.memoryUsage().rss / 2 ** 20,
      cpuMs: (cpu.user + cpu.system) / 1000,
    });
  } else {
    for (const c of clients) c.stop();
    setTimeout(() => process.exit(0), 200);
  }
});
send({ ready: true });
