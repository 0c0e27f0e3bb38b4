import * as fs from "node:fs";
import * as path from "node:path";
import { authorizationHeader, controlFetch } from "../common/control-access.ts";
import { errorMessage } from "../common/errors.ts";
import { type LoadStepResult, runLoadStep } from "./load.ts";
import type { LocalMesh } from "./mesh.ts";
import { parseSamples, requestCounts, type Sample } from "./metrics.ts";
import type { Drill, DrillStep, Expectation, LoadSpec, MetricCheck } from "./spec.ts";

/** One threshold and what was measured against it. */
export interface CheckResult {
  what: string;
  value: number | string;
  expected: string;
  passed: boolean;
}

export interface StepReport {
  name: string;
  kind: string;
  atMs: number;
  tookMs: number;
  passed: boolean;
  detail?: string;
  checks: CheckResult[];
  load?: LoadStepResult[];
  during?: StepReport[];
}

export interface DrillReport {
  drill: string;
  passed: boolean;
  startedAt: string;
  tookMs: number;
  steps: StepReport[];
}

const HTTP_TIMEOUT_MS = 1_000;
/** Replaced in an applied file by a number new each run. */
const RUN_PLACEHOLDER = "$" + "{DRILL_RUN}";
const POLL_MS = 50;
const METRIC_NAMES = new Set(["meshlet_requests_total", "meshlet_circuit_breaker_state"]);

/** A GET; `headers` carries the token for the control plane's API (never sent to a sidecar's admin port). */
async function getJson<T>(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
  const res = await controlFetch(url, { headers, signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
  const text = await res.text();
  return { status: res.status, body: (text === "" ? undefined : JSON.parse(text)) as T };
}

function within(value: number, b: { min?: number | undefined; max?: number | undefined }): boolean {
  return (b.min === undefined || value >= b.min) && (b.max === undefined || value <= b.max);
}

function describe(b: { min?: number | undefined; max?: number | undefined }, unit = ""): string {
  if (b.min !== undefined && b.max !== undefined) return `${b.min}${unit}..${b.max}${unit}`;
  return b.min !== undefined ? `>= ${b.min}${unit}` : `<= ${b.max}${unit}`;
}

/**
 * Runs a drill's steps in order against a local mesh and reports each: what
 * it did, how long it took, and every check with its measured value. A step
 * that fails does not stop the drill (heal steps must still run); the drill
 * passes when every check held.
 */
export class DrillRunner {
  readonly #mesh: LocalMesh;
  readonly #baseDir: string;
  readonly #baseline = new Map<string, Sample[]>();
  readonly #timeScale: number;
  #started = 0;
  /** The revision the last apply step committed. */
  #appliedRevision: number | undefined;

  /** `timeScale` shortens (or stretches) waits and load durations, never the thresholds: a quick rehearsal. */
  constructor(mesh: LocalMesh, baseDir: string, timeScale = 1) {
    this.#mesh = mesh;
    this.#baseDir = baseDir;
    this.#timeScale = timeScale;
  }

  async run(drill: Drill, onStep: (s: StepReport) => void = () => {}): Promise<DrillReport> {
    this.#started = performance.now();
    const startedAt = new Date().toISOString();
    for (const i of this.#mesh.instances) this.#baseline.set(i.name, await this.#scrape(i.name).catch(() => []));
    const steps: StepReport[] = [];
    for (const [n, step] of drill.steps.entries()) {
      const report = await this.#step(step, n + 1);
      steps.push(report);
      onStep(report);
    }
    return {
      drill: drill.name,
      passed: steps.every((s) => s.passed),
      startedAt,
      tookMs: Math.round(performance.now() - this.#started),
      steps,
    };
  }

  async #step(step: DrillStep, n: number): Promise<StepReport> {
    const kind = Object.keys(step).find((k) => k !== "name") ?? "?";
    const atMs = Math.round(performance.now() - this.#started);
    const t0 = performance.now();
    const report: StepReport = { name: step.name ?? `${n}. ${kind}`, kind, atMs, tookMs: 0, passed: true, checks: [] };
    try {
      await this.#do(step, report);
    } catch (err) {
      report.passed = false;
      report.detail = errorMessage(err);
    }
    report.tookMs = Math.round(performance.now() - t0);
    if (report.checks.some((c) => !c.passed) || report.during?.some((d) => !d.passed)) report.passed = false;
    return report;
  }

  async #do(step: DrillStep, report: StepReport): Promise<void> {
    if ("wait" in step) {
      const ms = Math.round(step.wait * this.#timeScale);
      await sleep(ms);
      report.detail = `${ms} ms`;
    } else if ("kill" in step) {
      const name = await this.#resolve(step.kill);
      this.#mesh.signal(name, "SIGKILL");
      report.detail = `killed ${name}`;
    } else if ("stop" in step) {
      const name = await this.#resolve(step.stop);
      this.#mesh.signal(name, "SIGSTOP");
      report.detail = `stopped (SIGSTOP) ${name}`;
    } else if ("cont" in step) {
      this.#mesh.signal(step.cont, "SIGCONT");
      report.detail = `continued ${step.cont}`;
    } else if ("heal" in step) {
      const healed = this.#mesh.heal();
      report.detail = healed.length === 0 ? "nothing to heal" : `healed ${healed.join(", ")}`;
    } else if ("experiment" in step) {
      report.detail = await this.#experiment(step.experiment);
    } else if ("apply" in step) {
      // ${DRILL_RUN} makes a change each run (a drill that checks a change reaches every sidecar needs one).
      const body = fs
        .readFileSync(path.resolve(this.#baseDir, step.apply), "utf8")
        .replaceAll(RUN_PLACEHOLDER, String(Date.now()));
      const r = JSON.parse(await this.#control("POST", "/v1/apply", body, "application/yaml")) as { revision: number };
      this.#appliedRevision = r.revision;
      report.detail = `applied ${step.apply} (revision ${r.revision})`;
    } else if ("expect" in step) {
      await this.#expect(step.expect, report);
    } else if ("check" in step) {
      for (const c of step.check) report.checks.push(await this.#metricCheck(c));
    } else if ("load" in step) {
      await this.#load(step.load, report);
    }
  }

  /** `leader` is the node leading now; anything else names a node or an app. */
  async #resolve(target: string): Promise<string> {
    if (target !== "leader") return target;
    const leader = await this.#leader();
    if (leader === undefined) throw new Error("no control-plane node reports a leader");
    return leader;
  }

  async #leader(): Promise<string | undefined> {
    const live = this.#mesh.liveControls();
    const views = await Promise.all(
      live.map((c) =>
        getJson<{ leader: string }>(`${this.#mesh.controlBase(c)}/v1/cluster`, authorizationHeader()).then(
          (r) => r.body.leader,
          () => undefined,
        ),
      ),
    );
    // A leader counts once a live node names a leader that is itself live (not the one just killed or frozen).
    const liveIds = new Set(live.map((c) => c.id));
    return views.find((l) => l !== undefined && l !== "" && liveIds.has(l));
  }

  /** Sends to the live nodes in turn until one accepts; returns the answer's body. */
  async #control(method: string, p: string, body?: string, type = "application/json"): Promise<string> {
    let last = "no live control-plane node";
    for (const c of this.#mesh.liveControls()) {
      try {
        const res = await controlFetch(`${this.#mesh.controlBase(c)}${p}`, {
          method,
          headers: {
            ...authorizationHeader(),
            ...(body === undefined ? {} : { "content-type": type, "x-meshlet-user": "meshlet-drill" }),
          },
          ...(body === undefined ? {} : { body }),
          signal: AbortSignal.timeout(5_000),
        });
        const text = await res.text();
        if (res.ok) return text;
        last = `${c.id}: HTTP ${res.status} ${text.slice(0, 200)}`;
        if (res.status < 500) break;
      } catch (err) {
        last = `${c.id}: ${errorMessage(err)}`;
      }
    }
    throw new Error(last);
  }

  async #experiment(
    e: { start: Record<string, unknown>; reason?: string | undefined } | { stop: string },
  ): Promise<string> {
    if ("stop" in e) {
      await this.#control("DELETE", `/v1/chaos/experiments/${encodeURIComponent(e.stop)}`);
      return `stopped experiment ${e.stop}`;
    }
    const body = JSON.stringify({ experiment: e.start, reason: e.reason ?? "meshlet drill" });
    await this.#control("POST", "/v1/chaos/experiments", body);
    const name = (e.start.metadata as { name?: string } | undefined)?.name ?? "?";
    return `started experiment ${name}`;
  }

  async #expect(e: Expectation, report: StepReport) {
    const t0 = performance.now();
    const waits: [string, number, () => Promise<string | undefined>][] = [];
    if (e.leader) waits.push(["leader", e.leader.within, async () => await this.#leader()]);
    if (e.sidecarsConnected)
      waits.push([
        "sidecars connected",
        e.sidecarsConnected.within,
        () => this.#everySidecar((r) => r.controlPlane?.connected === true),
      ]);
    if (e.sidecarsStale)
      waits.push(["sidecars stale", e.sidecarsStale.within, () => this.#everySidecar((r) => r.stale === true)]);
    if (e.sidecarsConverged) waits.push(["sidecars converged", e.sidecarsConverged.within, () => this.#converged()]);
    if (e.endpoints) {
      const { service, count } = e.endpoints;
      waits.push([`${count} endpoints of ${service}`, e.endpoints.within, () => this.#endpoints(service, count)]);
    }
    await Promise.all(
      waits.map(async ([what, withinMs, probe]) => {
        let last = "";
        for (;;) {
          const got = await probe().catch((err: unknown) => {
            last = errorMessage(err);
            return undefined;
          });
          const took = Math.round(performance.now() - t0);
          if (got !== undefined) {
            report.checks.push({
              what,
              value: `${took} ms (${got})`,
              expected: `<= ${withinMs} ms`,
              passed: took <= withinMs,
            });
            return;
          }
          if (took > withinMs) {
            report.checks.push({
              what,
              value: `not after ${took} ms${last === "" ? "" : ` (${last})`}`,
              expected: `<= ${withinMs} ms`,
              passed: false,
            });
            return;
          }
          await sleep(POLL_MS);
        }
      }),
    );
  }

  async #everySidecar(ok: (r: ReadyView) => boolean): Promise<string | undefined> {
    const views = await Promise.all(
      this.#mesh.instances.map((i) => getJson<ReadyView>(`http://${i.admin}/ready`).then((r) => r.body)),
    );
    return views.every(ok) ? `${views.length} sidecars` : undefined;
  }

  /** Every sidecar runs the revision of the drill's last apply (or, before any, the same version as the others). */
  async #converged(): Promise<string | undefined> {
    const views = await Promise.all(
      this.#mesh.instances.map((i) =>
        getJson<ReadyView>(`http://${i.admin}/ready`).then((r) => Number(r.body.version ?? 0)),
      ),
    );
    const wanted = this.#appliedRevision ?? Math.max(...views);
    if (views.every((v) => v >= wanted)) return `all at version ${wanted} or later`;
    throw new Error(`versions ${views.join(", ")}; wanted ${wanted}`);
  }

  async #endpoints(service: string, count: number): Promise<string | undefined> {
    for (const c of this.#mesh.liveControls()) {
      const r = await getJson<{ endpoints: unknown[] }>(
        `${this.#mesh.controlBase(c)}/v1/endpoints/${service}`,
        authorizationHeader(),
      ).catch(() => undefined);
      if (r?.status === 200) return r.body.endpoints.length === count ? `${count}` : undefined;
    }
    return undefined;
  }

  async #scrape(instance: string): Promise<Sample[]> {
    const res = await fetch(`http://${this.#mesh.instance(instance).admin}/metrics`, {
      signal: AbortSignal.timeout(HTTP_TIMEOUT_MS * 3),
    });
    return parseSamples(await res.text(), METRIC_NAMES);
  }

  async #metricCheck(c: MetricCheck): Promise<CheckResult> {
    const now = await this.#scrape(c.sidecar);
    const what = `${c.sidecar} ${c.metric}${c.destination === undefined ? "" : ` to ${c.destination}`}`;
    let value: number;
    if (c.metric === "breakerOpen") {
      const target = c.destination === undefined ? undefined : `service/${c.destination}`;
      value = now.filter(
        (s) =>
          s.name === "meshlet_circuit_breaker_state" &&
          s.value === 2 &&
          (target === undefined || s.labels.target === target),
      ).length;
    } else {
      const after = requestCounts(now, c.destination);
      const before = requestCounts(this.#baseline.get(c.sidecar) ?? [], c.destination);
      const requests = after.requests - before.requests;
      const errors = after.errors - before.errors;
      value =
        c.metric === "requests"
          ? requests
          : c.metric === "fallbacks"
            ? after.fallbacks - before.fallbacks
            : requests === 0
              ? 0
              : errors / requests;
    }
    return { what, value: round(value), expected: describe(c), passed: within(value, c) };
  }

  async #load(spec: LoadSpec, report: StepReport): Promise<void> {
    const address = this.#mesh.instance(spec.via).outbound;
    const target = { address, host: spec.host, path: spec.path, headers: spec.headers, timeoutMs: spec.timeout };
    const mode = spec.rate !== undefined ? "rate" : "concurrency";
    const levels = [spec.rate ?? spec.concurrency ?? 1].flat();
    const during = (async () => {
      const out: StepReport[] = [];
      for (const [n, s] of spec.during.entries()) out.push(await this.#step(s, n + 1));
      return out;
    })();
    report.load = [];
    for (const level of levels) {
      const r = await runLoadStep(target, mode, level, Math.round(spec.duration * this.#timeScale));
      report.load.push(r);
      const c = spec.checks;
      const at = `${mode} ${level}`;
      if (c.errorRate) report.checks.push(this.#bound(`${at}: error rate`, r.errorRate, c.errorRate));
      if (c.failed) report.checks.push(this.#bound(`${at}: failed`, r.failed, c.failed));
      if (c.throughput) report.checks.push(this.#bound(`${at}: req/s`, r.throughput, c.throughput));
      if (c.p99Ms) report.checks.push(this.#bound(`${at}: p99`, r.p99Ms, c.p99Ms, " ms"));
    }
    report.during = await during;
  }

  #bound(
    what: string,
    value: number,
    b: { min?: number | undefined; max?: number | undefined },
    unit = "",
  ): CheckResult {
    return { what, value: round(value), expected: describe(b, unit), passed: within(value, b) };
  }
}

interface ReadyView {
  /** The snapshot version, as a decimal string. */
  version?: string;
  stale?: boolean;
  controlPlane?: { connected: boolean };
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The report as tables: one line per step, then its load steps and checks. */
export function formatReport(r: DrillReport): string {
  const lines = [`drill ${r.drill}: ${r.passed ? "PASSED" : "FAILED"} in ${(r.tookMs / 1000).toFixed(1)} s`];
  const walk = (steps: StepReport[], indent: string) => {
    for (const s of steps) {
      lines.push(
        `${indent}${s.passed ? "ok  " : "FAIL"} ${s.name.padEnd(28)} +${String(s.atMs).padStart(6)} ms  ${String(s.tookMs).padStart(6)} ms  ${s.detail ?? ""}`,
      );
      for (const l of s.load ?? [])
        lines.push(
          `${indent}       ${l.mode} ${String(l.level).padStart(5)}: ${l.requests} req, ${l.throughput.toFixed(1)} req/s, p50 ${l.p50Ms.toFixed(1)} ms, p99 ${l.p99Ms.toFixed(1)} ms, errors ${(l.errorRate * 100).toFixed(2)} %${l.failed > 0 ? ` ${JSON.stringify(l.failures)}` : ""}`,
        );
      for (const c of s.checks)
        lines.push(`${indent}       ${c.passed ? "✓" : "✗"} ${c.what}: ${c.value} (expected ${c.expected})`);
      if (s.during !== undefined) walk(s.during, `${indent}    `);
    }
  };
  walk(r.steps, "  ");
  return `${lines.join("\n")}\n`;
}
