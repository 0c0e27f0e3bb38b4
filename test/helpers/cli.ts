import { type ChildProcess, execFile, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { controlTokenEnv } from "../support/control-auth.ts";

export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const MESHLET_BIN = fileURLToPath(new URL("../../bin/meshlet.js", import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real `meshlet` executable (the built dist/) to completion. */
export function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}) {
  return new Promise<CliResult>((resolve, reject) => {
    const child = execFile(
      process.execPath,
      [MESHLET_BIN, ...args],
      {
        env: { ...process.env, ...controlTokenEnv(), ...options.env },
        timeout: options.timeoutMs ?? 30_000,
        cwd: REPO_ROOT,
      },
      (err, stdout, stderr) => {
        if (err !== null && typeof err.code !== "number") {
          reject(err);
          return;
        }
        resolve({ code: err === null ? 0 : Number(err.code), stdout, stderr });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
    else child.stdin?.end();
  });
}

/** Starts a long-running `meshlet` process; the caller must stop it (see stopProcess). */
export function startCli(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(process.execPath, [MESHLET_BIN, ...args], {
    env: { ...process.env, ...controlTokenEnv(), ...env },
    cwd: REPO_ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** SIGTERM, then SIGKILL after graceMs; resolves with the exit code (null if killed by signal). */
export function stopProcess(child: ChildProcess, graceMs = 5000): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    child.kill("SIGTERM");
  });
}
