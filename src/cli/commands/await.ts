import { spawn } from "node:child_process";
import { constants } from "node:os";
import type { Command } from "commander";
import { formatHostPort, parseHostPort } from "../../common/address.ts";
import { errorMessage, MeshletError, UsageError } from "../../common/errors.ts";
import { durationFlag, envOption } from "../options.ts";

interface AwaitFlags {
  admin: string;
  timeout: string;
  shutdown?: boolean;
}

const FORWARDED = ["SIGTERM", "SIGINT", "SIGHUP", "SIGUSR1", "SIGUSR2"] as const;

/** A wait longer than this is reported on stderr, and again at this interval: the app is not started yet. */
const REPORT_EVERY_MS = 5_000;

async function waitReady(base: string, timeoutMs: number): Promise<void> {
  const started = Date.now();
  const deadline = started + timeoutMs;
  let nextReport = started + REPORT_EVERY_MS;
  let last = "no answer";
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${base}/ready`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) {
        if (nextReport > started + REPORT_EVERY_MS)
          process.stderr.write(`meshlet await: sidecar ready after ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
        return;
      }
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = errorMessage(err);
    }
    if (Date.now() >= nextReport) {
      process.stderr.write(
        `meshlet await: still waiting for the sidecar at ${base} (${Math.round((Date.now() - started) / 1000)} s of ${timeoutMs / 1000}; ${last})\n`,
      );
      nextReport += REPORT_EVERY_MS;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new MeshletError("ERR_SIDECAR_NOT_READY", `sidecar at ${base} not ready after ${timeoutMs} ms (${last})`);
}

export function registerAwait(program: Command): void {
  program
    .command("await")
    .description("wait for the local sidecar to be ready, then run the app command (meshlet await -- CMD ARGS)")
    .addOption(envOption("--admin <host:port>", "the sidecar's admin address", "127.0.0.1:15000"))
    .addOption(envOption("--timeout <duration>", "give up waiting after this long", "60s"))
    .option("--shutdown", "stop the sidecar (POST /shutdown) when the command exits")
    .argument("<command...>", "the app command and its arguments (after --)")
    .action(async (command: string[], flags: AwaitFlags) => {
      const base = `http://${formatHostPort(parseHostPort(flags.admin, "--admin"))}`;
      const timeoutMs = durationFlag("--timeout", flags.timeout);
      const [cmd, ...args] = command;
      if (cmd === undefined) throw new UsageError("give the command to run after --");
      // As PID 1 in a container no signal has a default action: a stop that comes while waiting must end the wait
      // by hand, with the code a shell reports for a process killed by that signal.
      const stopWaiting = FORWARDED.map((sig) => {
        const h = () => process.exit(128 + constants.signals[sig]);
        process.on(sig, h);
        return [sig, h] as const;
      });
      await waitReady(base, timeoutMs);
      for (const [sig, h] of stopWaiting) process.off(sig, h);
      const child = spawn(cmd, args, { stdio: "inherit" });
      const handlers = FORWARDED.map((sig) => {
        const h = () => child.kill(sig);
        process.on(sig, h);
        return [sig, h] as const;
      });
      const code = await new Promise<number>((resolve) => {
        child.once("error", (err) => {
          process.stderr.write(`meshlet await: ${cmd}: ${err.message}\n`);
          resolve(127);
        });
        child.once("exit", (c, signal) => resolve(c ?? 128 + (signal === null ? 0 : constants.signals[signal])));
      });
      for (const [sig, h] of handlers) process.off(sig, h);
      if (flags.shutdown === true) {
        await fetch(`${base}/shutdown`, { method: "POST", signal: AbortSignal.timeout(5000) }).catch((err: unknown) => {
          process.stderr.write(`meshlet await: sidecar shutdown failed: ${errorMessage(err)}\n`);
        });
      }
      process.exitCode = code;
    });
}
