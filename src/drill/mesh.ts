import { spawn } from "node:child_process";
import * as fs from "node:fs";
import { MeshletError } from "../common/errors.ts";
import type { DemoControlNode, DemoInstance, DemoProcess, DemoState } from "../demo/state.ts";
import { isAlive, readState, writeState } from "../demo/state.ts";

/**
 * The running mesh a drill acts on, as `meshlet demo` describes it in
 * demo.json: its control-plane nodes, its instances (their sidecars'
 * listeners) and the processes it may kill, stop and start again.
 */
export class LocalMesh {
  readonly dir: string;
  #state: DemoState;
  /** Nodes and apps this drill stopped (SIGSTOP) and has not continued. */
  readonly stopped = new Set<string>();
  /** Killed by this drill and not healed: a killed process may linger a moment as a zombie of the demo. */
  readonly killed = new Set<string>();

  constructor(dir: string) {
    const state = readState(dir);
    if (state === undefined)
      throw new MeshletError("ERR_NO_MESH", `no running mesh in ${dir} (no demo.json): start one with meshlet demo`);
    this.dir = dir;
    this.#state = state;
  }

  get controls(): DemoControlNode[] {
    return this.#state.controls ?? [{ id: "n1", grpc: this.#state.grpc, http: this.#state.http }];
  }

  /** The base URL of a node's API: https under the demo's mesh CA (plain http for an older demo). */
  controlBase(c: DemoControlNode): string {
    return `${this.#state.caFile === undefined ? "http" : "https"}://${c.http}`;
  }

  /** The demo's mesh CA bundle, when its control plane serves TLS. */
  get caFile(): string | undefined {
    return this.#state.caFile;
  }

  get instances(): DemoInstance[] {
    return this.#state.instances;
  }

  instance(name: string): DemoInstance {
    const i = this.#state.instances.find((x) => x.name === name);
    if (i === undefined)
      throw new MeshletError(
        "ERR_DRILL_TARGET",
        `no instance "${name}" in the mesh (it has ${this.#state.instances.map((x) => x.name).join(", ")})`,
      );
    return i;
  }

  process(name: string): DemoProcess {
    const p = this.#state.processes?.find((x) => x.name === name);
    if (p === undefined)
      throw new MeshletError(
        "ERR_DRILL_TARGET",
        `no process "${name}" this drill may act on (it may: ${(this.#state.processes ?? []).map((x) => x.name).join(", ") || "none; the demo predates drills"})`,
      );
    return p;
  }

  /** Nodes that can answer: neither dead nor stopped. */
  liveControls(): DemoControlNode[] {
    return this.controls.filter((c) => {
      if (this.stopped.has(c.id) || this.killed.has(c.id)) return false;
      const p = this.#state.processes?.find((x) => x.name === c.id);
      return p === undefined || isAlive(p.pid);
    });
  }

  signal(name: string, signal: NodeJS.Signals): void {
    const p = this.process(name);
    try {
      process.kill(p.pid, signal);
    } catch (err) {
      throw new MeshletError("ERR_DRILL_SIGNAL", `${name} (pid ${p.pid}): ${(err as Error).message}`);
    }
    if (signal === "SIGSTOP") this.stopped.add(name);
    if (signal === "SIGCONT") this.stopped.delete(name);
    if (signal === "SIGKILL") this.killed.add(name);
  }

  /** Continues every stopped process, starts every dead one again as it was started; returns their names. */
  heal(): string[] {
    const healed: string[] = [];
    for (const name of [...this.stopped]) {
      this.signal(name, "SIGCONT");
      healed.push(name);
    }
    const processes = this.#state.processes ?? [];
    for (const p of processes) {
      if (isAlive(p.pid)) continue;
      const fd = fs.openSync(p.log, "a");
      const child = spawn(process.execPath, p.args, {
        stdio: ["ignore", fd, fd],
        detached: true,
        env: { ...process.env, ...p.env },
      });
      fs.closeSync(fd);
      child.unref();
      if (child.pid !== undefined) p.pid = child.pid;
      healed.push(p.name);
    }
    this.killed.clear();
    writeState(this.dir, this.#state);
    return healed;
  }
}
