/**
 * Start-up steps of a long command. On a terminal the steps in progress share one line that updates in
 * place (with the time so far), and each finished step is printed above it; otherwise (a pipe, a log
 * file, CI) each step is one plain line when it finishes, and nothing is redrawn.
 */
export interface Step {
  done(detail?: string): void;
}

export interface Progress {
  step(label: string): Step;
  /** A line of its own, above the steps in progress. */
  line(text: string): void;
  /** Stops redrawing (and clears the line of steps in progress). */
  close(): void;
}

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

export function createProgress(out: NodeJS.WriteStream | NodeJS.WritableStream, prefix: string): Progress {
  const tty = "isTTY" in out && out.isTTY === true;
  const active = new Map<number, { label: string; started: number }>();
  const startedAt = performance.now();
  let next = 0;
  let frame = 0;
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const clear = () => {
    if (tty) out.write("\r\x1b[2K");
  };
  const draw = () => {
    if (!tty || active.size === 0) return;
    const labels = [...active.values()].map((s) => s.label).join(", ");
    out.write(`\r\x1b[2K${FRAMES[frame++ % FRAMES.length]} ${labels} … ${seconds(performance.now() - startedAt)}`);
  };
  const timer = tty ? setInterval(draw, 100) : undefined;
  timer?.unref();
  return {
    step(label) {
      const id = next++;
      const started = performance.now();
      active.set(id, { label, started });
      draw();
      return {
        done(detail) {
          if (!active.delete(id)) return;
          const took = seconds(performance.now() - started);
          const text = `${label}${detail === undefined ? "" : `: ${detail}`} (${took})`;
          clear();
          out.write(tty ? `✔ ${text}\n` : `${prefix}${text}\n`);
          draw();
        },
      };
    },
    line(text) {
      clear();
      out.write(`${text}\n`);
      draw();
    },
    close() {
      clearInterval(timer);
      clear();
      active.clear();
    },
  };
}
