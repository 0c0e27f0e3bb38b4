import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

export interface Child {
  name: string;
  log: string;
  proc: ChildProcess;
  args: string[];
  env: Record<string, string>;
}

/** How long a child has to stop after SIGTERM before it is killed. */
const STOP_GRACE_MS = 5_000;

/**
 * The processes a demo runs. Each is a Node process in a process group of its own (so a Ctrl-C reaches the
 * demo alone, which stops them in order) with an IPC channel: if the demo itself is killed, the channel
 * closes and each child stops on its own, so none is left behind. Output goes to <dir>/logs/<name>.log.
 */
export class Children {
  readonly #logDir: string;
  readonly #children: Child[] = [];
  #onExit: ((child: Child, code: number | null, signal: NodeJS.Signals | null) => void) | undefined;
  #stopping = false;

  constructor(logDir: string) {
    this.#logDir = logDir;
    fs.mkdirSync(logDir, { recursive: true });
  }

  /** Called when a child exits while the demo is not stopping. */
  onUnexpectedExit(listener: (child: Child, code: number | null, signal: NodeJS.Signals | null) => void): void {
    this.#onExit = listener;
  }

  spawn(name: string, args: string[], env: NodeJS.ProcessEnv = {}): Child {
    const log = path.join(this.#logDir, `${name}.log`);
    const fd = fs.openSync(log, "w");
    const proc = spawn(process.execPath, args, {
      stdio: ["ignore", fd, fd, "ipc"],
      detached: true,
      env: { ...process.env, ...env },
    });
    fs.closeSync(fd);
    const child = { name, log, proc, args, env: env as Record<string, string> };
    this.#children.push(child);
    proc.on("exit", (code, signal) => {
      if (!this.#stopping) this.#onExit?.(child, code, signal);
    });
    // The channel is only there to close when the demo dies: it must not keep the demo alive.
    proc.channel?.unref();
    proc.unref();
    return child;
  }

  get all(): readonly Child[] {
    return this.#children;
  }

  pids(): number[] {
    return this.#children.map((c) => c.proc.pid).filter((pid): pid is number => pid !== undefined);
  }

  /** Stops the children in groups, one group after the other (SIGTERM, then SIGKILL after a grace period). */
  async stop(groups: ((child: Child) => boolean)[]): Promise<void> {
    this.#stopping = true;
    const left = new Set(this.#children);
    for (const inGroup of [...groups, () => true]) {
      const group = [...left].filter(inGroup);
      for (const c of group) left.delete(c);
      await Promise.all(group.map((c) => stopOne(c.proc)));
    }
  }
}

function stopOne(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => proc.kill("SIGKILL"), STOP_GRACE_MS);
    proc.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    proc.kill("SIGTERM");
  });
}

/** The last lines of a child's log, to say why it stopped. */
export function logTail(file: string, lines = 8): string {
  try {
    return fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}
