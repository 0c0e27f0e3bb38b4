/**
 * Load generator for bench:push and bench:config (a child process):
 * simulated sidecars, each a real DiscoveryStreamClient with its own
 * connection, connected round-robin to the given control-plane addresses.
 * Reports to the parent over IPC: when all are at a version, and each
 * sidecar's arrival time of a watched version. With `config` (bench:config),
 * each sidecar also serves its app's config on its own admin listener, as
 * `meshlet sidecar` does, and an app watches the key there over SSE; the
 * arrival is when the app has the watched value.
 */
import * as fs from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import { systemClock } from "../../src/common/clock.ts";
import { openSse } from "../../src/common/sse-client.ts";
import { AppConfigApi } from "../../src/sidecar/app-config/admin.ts";
import { AppConfigStore } from "../../src/sidecar/app-config/store.ts";
import { DiscoveryStreamClient } from "../../src/sidecar/discovery/client.ts";
import type { LoadStart } from "./load-generators.ts";

type Command = { watch: number } | { watchValue: string } | { report: true } | { stop: true };

const now = () => performance.timeOrigin + performance.now();
const send = (msg: unknown) => process.send?.(msg);

const start = JSON.parse(process.env.PUSH_BENCH_START ?? "{}") as LoadStart;
const versions = new Array<number>(start.count).fill(0);
let backwards = 0;
let watched = Number.POSITIVE_INFINITY;
let arrivals: number[] = [];
const clients: DiscoveryStreamClient[] = [];
const tokens = (start.tokensFile === undefined ? {} : JSON.parse(fs.readFileSync(start.tokensFile, "utf8"))) as Record<
  string,
  string
>;
/**
 * Streams the nodes refused (a token they do not know, or one bound to another service), and the first reason:
 * a bench whose sidecars are refused measures reconnect loops, so the parent stops it with this reason.
 */
const refusals = { count: 0, first: "" };
const lost = new Map<string, number>();
// Only the stream-loss warnings are written (never per snapshot), so parsing them costs nothing per push.
const logger = pino(
  { level: "warn" },
  {
    write(line: string) {
      const reason = (JSON.parse(line) as { reason?: string }).reason ?? "";
      // Why streams end, by the reason's first words: what a run that cannot connect reports.
      const kind = reason.slice(0, 60);
      lost.set(kind, (lost.get(kind) ?? 0) + 1);
      if (!/UNAUTHENTICATED|PERMISSION_DENIED/.test(reason)) return;
      refusals.count++;
      if (refusals.first === "") refusals.first = reason;
    },
  },
);
const closers: (() => void)[] = [];

/** bench:config: what each app last read, and when it first read the watched value. */
const apps = {
  values: new Array<string | null>(start.count).fill(null),
  releases: new Array<string | null>(start.count).fill(null),
  /** Every release an app ever got a value from, so a value that reached the wrong app is counted. */
  seen: Array.from({ length: start.count }, () => new Set<string>()),
  watchedValue: undefined as string | undefined,
};

async function app(i: number, store: AppConfigStore, key: string, service: string): Promise<void> {
  const api = new AppConfigApi(store, { service });
  const server = createServer((req, res) => {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    api.handle(req, res, q < 0 ? url : url.slice(0, q), new URLSearchParams(q < 0 ? "" : url.slice(q + 1)));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const controller = new AbortController();
  closers.push(() => {
    controller.abort();
    api.close();
    server.close();
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/config/${key}?watch=1`;
  // The sidecar answers 503 until its first config arrives; the app retries as a real one would.
  for (;;) {
    const opened = await openSse(url, { signal: controller.signal }, (m) => {
      if (m.data === "") return;
      const e = JSON.parse(m.data) as { value?: string; release?: string };
      apps.values[i] = e.value ?? null;
      apps.releases[i] = e.release ?? null;
      if (e.release !== undefined) apps.seen[i]?.add(e.release);
      if (e.value === apps.watchedValue && arrivals[i] === 0) arrivals[i] = now();
    }).catch(() => undefined);
    if (opened?.ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const caPem = start.caFile === undefined ? undefined : fs.readFileSync(start.caFile);
for (let i = 0; i < start.count; i++) {
  const n = start.first + i;
  const address = start.addresses[n % start.addresses.length] ?? "";
  const store = start.config === undefined ? undefined : new AppConfigStore();
  const service = start.config?.service ?? `svc-${n % start.services}`;
  const token = tokens[service];
  if (start.tokensFile !== undefined && token === undefined) throw new Error(`no sidecar token for ${service}`);
  const client = new DiscoveryStreamClient({
    controls: [address, ...start.addresses.filter((a) => a !== address)],
    nodeId: `bench-${n}`,
    service,
    ...(token === undefined ? {} : { token }),
    ...(caPem === undefined ? {} : { caPem }),
    ...(start.firstMessageTimeoutMs === undefined ? {} : { firstMessageTimeoutMs: start.firstMessageTimeoutMs }),
    instance: `i${n}`,
    subscribe: ["shared"],
    apply: (s) => {
      if (s.version < (versions[i] ?? 0)) backwards++;
      versions[i] = s.version;
      if (s.version >= watched && arrivals[i] === 0) arrivals[i] = now();
    },
    ...(store === undefined ? {} : { config: { revision: () => store.revision, apply: (u) => store.apply(u) } }),
    clock: systemClock,
    logger,
    channelOptions: {
      "grpc.use_local_subchannel_pool": 1,
      // A load generator with thousands of streams answers the nodes' pings as late as their first messages:
      // the same allowance for its keep-alive, or it drops its own connections (FIRST_MESSAGE_S, push.ts).
      ...(start.firstMessageTimeoutMs === undefined
        ? {}
        : {
            "grpc.keepalive_time_ms": start.firstMessageTimeoutMs,
            "grpc.keepalive_timeout_ms": start.firstMessageTimeoutMs,
          }),
    },
  });
  clients.push(client);
  client.start();
  if (store !== undefined && start.config !== undefined) void app(i, store, start.config.key, start.config.service);
}

process.on("message", (cmd: Command) => {
  if ("watch" in cmd) {
    watched = cmd.watch;
    arrivals = new Array<number>(start.count).fill(0);
    send({ watching: cmd.watch });
  } else if ("watchValue" in cmd) {
    apps.watchedValue = cmd.watchValue;
    arrivals = new Array<number>(start.count).fill(0);
    send({ watching: cmd.watchValue });
  } else if ("report" in cmd) {
    const cpu = process.cpuUsage();
    send({
      min: Math.min(...versions),
      max: Math.max(...versions),
      backwards,
      arrivals,
      rssMb: process.memoryUsage().rss / 2 ** 20,
      cpuMs: (cpu.user + cpu.system) / 1000,
      refusals,
      lost: Object.fromEntries(lost),
      connected: clients.reduce((n, c) => n + (c.connectedTo === undefined ? 0 : 1), 0),
      instances: Array.from({ length: start.count }, (_, i) => `i${start.first + i}`),
      values: apps.values,
      releases: apps.releases,
      seen: apps.seen.map((s) => [...s]),
    });
  } else {
    for (const c of clients) c.stop();
    for (const close of closers) close();
    setTimeout(() => process.exit(0), 200);
  }
});
send({ ready: true });
