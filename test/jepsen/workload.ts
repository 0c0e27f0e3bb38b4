import fs from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { type ControlProc, FAST_FLAGS, leaderOf, makeCluster } from "../controlplane/harness.ts";
import {
  type CheckResult,
  checkHistory,
  describeOp,
  type HistoryOp,
  minimalBadSubHistory,
  type Op,
  type Value,
} from "./checker.ts";
import { LinkProxy } from "./proxy.ts";

export interface JepsenOptions {
  durationMs: number;
  clients?: number;
  keys?: string[];
  seed?: number;
  log?: (line: string) => void;
  /** Where a non-linearizable run leaves its history (history.json, and <key>.txt per bad key). */
  artifactsDir?: string | undefined;
}

export interface JepsenReport extends CheckResult {
  ops: number;
  ok: number;
  unknown: number;
  nemesis: string[];
  history: HistoryOp[];
  /** Per bad key, a 1-minimal non-linearizable sub-history, one line per op (describeOp). */
  minimal: Map<string, string[]>;
  /** The history file written for a non-linearizable run. */
  historyFile: string | undefined;
}

/** A small deterministic PRNG so a failing run can be replayed with its seed (timing aside). */
function prng(seed: number): (n: number) => number {
  let s = seed >>> 0 || 1;
  return (n) => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) % n;
  };
}

/** The fetch error with its cause's code: "fetch failed" alone does not say whether the request left. */
export function describeFetchError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause as { code?: unknown } | undefined;
  return typeof cause?.code === "string" ? `${err.message} (${cause.code})` : err.message;
}

/**
 * A write that certainly did not take effect: the connection was refused (the
 * node is not listening yet, so no request was delivered), or the node
 * answered ERR_NO_LEADER, which a write gets only when no leader accepted it
 * (RaftControlNode#submit: an accepted or possibly delivered proposal ends in
 * its result or ERR_TIMEOUT instead).
 */
export function notApplied(result: string): boolean {
  return result.includes("(ECONNREFUSED)") || /^503 .*"code":"ERR_NO_LEADER"/.test(result);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * 3 nodes whose peer links all go through LinkProxies; clients do put / CAS /
 * linearizable get on a few keys while a nemesis kill -9s and restarts nodes
 * and isolates one node at a time. Returns the checked history.
 */
export async function runJepsen(o: JepsenOptions): Promise<JepsenReport> {
  const rand = prng(o.seed ?? Date.now());
  const keys = o.keys ?? ["a", "b", "c"];
  const log = o.log ?? (() => {});
  const proxies = new Map<string, LinkProxy>();
  const c = await makeCluster(3, [...FAST_FLAGS, "--snapshot-every", "200", "--snapshot-keep", "50"]);
  const history: HistoryOp[] = [];
  /** Writes left out as certainly without effect (notApplied), kept for the report only. */
  const discarded: HistoryOp[] = [];
  const nemesis: string[] = [];
  try {
    const peersFor = new Map<string, string>();
    for (const from of c.nodes) {
      const parts: string[] = [];
      for (const to of c.nodes) {
        if (to === from) {
          parts.push(`${to.id}=${to.grpc}`);
          continue;
        }
        const { proxy, address } = await LinkProxy.start(to.grpc);
        proxies.set(`${from.id}>${to.id}`, proxy);
        parts.push(`${to.id}=${address}`);
      }
      peersFor.set(from.id, parts.join(","));
    }
    const start = (n: ControlProc) => c.start(n, ["--peers", peersFor.get(n.id) ?? ""]);
    for (const n of c.nodes) start(n);
    await leaderOf(c.nodes);

    const t0 = performance.now();
    const now = () => performance.now() - t0;
    let running = true;
    let counter = 0;

    const request = async (node: ControlProc, key: string, init: RequestInit = {}) =>
      fetch(`https://${node.http}/v1/config/${key}`, {
        ...init,
        headers: { "x-meshlet-timeout": "1500", ...(init.headers as Record<string, string>) },
        signal: AbortSignal.timeout(3_000),
      });

    const getOp = async (node: ControlProc, key: string): Promise<{ value: Value; etag: string } | undefined> => {
      const invoke = now();
      try {
        const r = await request(node, key);
        if (r.status === 200) {
          const value = await r.text();
          history.push({ op: { kind: "get", key, out: value }, invoke, complete: now(), node: node.id, result: "200" });
          return { value, etag: r.headers.get("etag") ?? "" };
        }
        if (r.status === 404) {
          history.push({ op: { kind: "get", key, out: null }, invoke, complete: now(), node: node.id, result: "404" });
          return { value: null, etag: "0" };
        }
      } catch {
        // A failed read has no effect: it is left out of the history.
      }
      return undefined;
    };

    const client = async (id: number) => {
      while (running) {
        const live = c.nodes.filter((n) => n.proc !== undefined);
        const node = live[rand(live.length)];
        const key = keys[rand(keys.length)] ?? "a";
        if (node === undefined) {
          await sleep(50);
          continue;
        }
        const kind = rand(3);
        if (kind === 0) {
          await getOp(node, key);
          continue;
        }
        let expected: Value | undefined;
        let ifMatch: string | undefined;
        if (kind === 1) {
          const seen = await getOp(node, key);
          if (seen === undefined) continue;
          expected = seen.value;
          ifMatch = seen.etag;
        }
        const value = `c${id}-${counter++}`;
        const invoke = now();
        let status = 0;
        let result = "";
        try {
          const r = await request(node, key, {
            method: "PUT",
            body: value,
            headers: ifMatch === undefined ? {} : { "if-match": ifMatch },
          });
          status = r.status;
          result = `${r.status} ${await r.text()}`;
        } catch (err) {
          status = 0;
          result = describeFetchError(err);
        }
        // Certainly without effect, so left out like a failed read: counted as unknown, each such write would
        // double the checker's search for nothing.
        if (notApplied(result)) {
          const op: Op =
            expected === undefined ? { kind: "put", key, value } : { kind: "cas", key, expected, value, ok: undefined };
          discarded.push({ op, invoke, complete: now(), node: node.id, result });
          continue;
        }
        const complete = status === 200 || status === 412 ? now() : Number.POSITIVE_INFINITY;

        if (expected === undefined)
          history.push({ op: { kind: "put", key, value }, invoke, complete, node: node.id, result });
        else {
          const ok = status === 200 ? true : status === 412 ? false : undefined;
          history.push({ op: { kind: "cas", key, expected, value, ok }, invoke, complete, node: node.id, result });
        }
      }
    };

    const nemesisLoop = async () => {
      while (running) {
        await sleep(1_500 + rand(1_500));
        if (!running) break;
        const victim = c.nodes[rand(c.nodes.length)];
        if (victim === undefined) continue;
        if (rand(2) === 0) {
          nemesis.push(`${Math.round(now())}ms kill -9 ${victim.id}`);
          await c.kill9(victim);
          await sleep(1_000 + rand(2_000));
          start(victim);
          nemesis.push(`${Math.round(now())}ms restart ${victim.id}`);
        } else {
          nemesis.push(`${Math.round(now())}ms isolate ${victim.id}`);
          for (const [link, p] of proxies) if (link.includes(victim.id)) p.cut();
          await sleep(1_000 + rand(2_000));
          for (const p of proxies.values()) p.heal();
          nemesis.push(`${Math.round(now())}ms heal`);
        }
      }
    };

    const workers = [nemesisLoop(), ...Array.from({ length: o.clients ?? 5 }, (_, i) => client(i))];
    await sleep(o.durationMs);
    running = false;
    await Promise.all(workers);
    for (const p of proxies.values()) p.heal();
    for (const n of c.nodes) if (n.proc === undefined) start(n);
    const leader = await leaderOf(c.nodes, 60_000);
    // Final reads: every acknowledged write must still be visible in the order the history allows.
    for (const key of keys) await getOp(leader, key);
    for (const line of nemesis) log(line);
    // Written before the check, so a check that never ends still leaves what it was given.
    const historyFile = o.artifactsDir === undefined ? undefined : path.join(o.artifactsDir, "history.json");
    if (o.artifactsDir !== undefined && historyFile !== undefined) {
      fs.mkdirSync(o.artifactsDir, { recursive: true });
      fs.writeFileSync(historyFile, JSON.stringify({ seed: o.seed, nemesis, history, discarded }, null, 1));
    }
    const result = checkHistory(history);
    const minimal = new Map<string, string[]>();
    if (!result.linearizable && o.artifactsDir !== undefined) {
      for (const key of result.badKeys) {
        const ops = history.filter((h) => h.op.key === key).sort((a, b) => a.invoke - b.invoke);
        const bad = minimalBadSubHistory(ops);
        if (bad !== undefined) minimal.set(key, bad.map(describeOp));
        fs.writeFileSync(
          path.join(o.artifactsDir, `${key}.txt`),
          [
            `key ${key}: ${ops.length} ops; nemesis: ${nemesis.join(", ")}`,
            "",
            "minimal non-linearizable sub-history:",
            ...(bad === undefined ? ["(none proven: the search ran out of budget)"] : bad.map(describeOp)),
            "",
            "all ops on the key, by invocation:",
            ...ops.map(describeOp),
          ].join("\n"),
        );
      }
    }
    return {
      ...result,
      minimal,
      historyFile,
      ops: history.length,
      ok: history.filter((h) => h.complete !== Number.POSITIVE_INFINITY).length,
      unknown: history.filter((h) => h.complete === Number.POSITIVE_INFINITY).length,
      nemesis,
      history,
    };
  } finally {
    await c.stopAll();
    await Promise.all([...proxies.values()].map((p) => p.close()));
  }
}
