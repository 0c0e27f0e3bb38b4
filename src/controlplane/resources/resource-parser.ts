import { Worker } from "node:worker_threads";
import { MeshletError } from "../../common/errors.ts";
import type { ResourceLimits } from "../../config/limits.ts";
import { ConfigError, type ConfigErrorCode, type ConfigIssue } from "../../config/load.ts";
import type { Resource } from "../../config/resources.ts";

export interface ParseRequest {
  id: number;
  text: string;
  file: string;
  limits: ResourceLimits;
}

export type ParseReply =
  | { id: number; ok: true; resources: Resource[] }
  | { id: number; ok: false; code: ConfigErrorCode; issues: ConfigIssue[] }
  | { id: number; ok: false; code: "ERR_PARSE"; message: string };

/** Heap of the parsing thread: a text that needs more is refused with 413, and the node's own heap is untouched. */
export const WORKER_HEAP_MB = 512;

interface Job extends ParseRequest {
  deadline: number;
  resolve: (resources: Resource[]) => void;
  reject: (err: unknown) => void;
}

/**
 * Parses and validates resource texts on a worker thread. The yaml library
 * reads 0.3-1 MB of YAML a second here, so a 4 MiB apply on the event loop
 * stopped the node's Raft loop for 5-15 s: long enough for a leader to be
 * deposed. On the thread it costs the loop nothing, and a parse that outlives
 * its request's deadline is stopped (the thread is terminated and replaced).
 * One job at a time, in arrival order; the thread starts on first use.
 */
export class ResourceParser {
  readonly #heapMb: number;
  #worker: Worker | undefined;
  #queue: Job[] = [];
  #current: Job | undefined;
  #timer: NodeJS.Timeout | undefined;
  #seq = 0;
  #closed = false;

  constructor(options: { heapMb?: number } = {}) {
    this.#heapMb = options.heapMb ?? WORKER_HEAP_MB;
  }

  parse(text: string, file: string, limits: ResourceLimits, deadlineMs: number): Promise<Resource[]> {
    if (this.#closed) return Promise.reject(new MeshletError("ERR_STOPPING", "the node is shutting down"));
    return new Promise((resolve, reject) => {
      this.#queue.push({ id: ++this.#seq, text, file, limits, deadline: Date.now() + deadlineMs, resolve, reject });
      this.#next();
    });
  }

  close(): void {
    this.#closed = true;
    for (const job of this.#queue) job.reject(new MeshletError("ERR_STOPPING", "the node is shutting down"));
    this.#queue = [];
    this.#stop(new MeshletError("ERR_STOPPING", "the node is shutting down"));
  }

  #next(): void {
    if (this.#current !== undefined) return;
    let job = this.#queue.shift();
    while (job !== undefined && Date.now() >= job.deadline) {
      job.reject(new MeshletError("ERR_TIMEOUT", "the request's deadline passed before its body could be parsed"));
      job = this.#queue.shift();
    }
    if (job === undefined) return;
    this.#current = job;
    const { id, text, file, limits } = job;
    this.#thread().postMessage({ id, text, file, limits } satisfies ParseRequest);
    this.#timer = setTimeout(() => {
      // The thread is busy with this job and cannot be asked to stop: end it, start afresh for the next.
      this.#stop(
        new MeshletError(
          "ERR_TIMEOUT",
          "parsing the request body did not finish within its deadline; split the apply into smaller ones",
        ),
      );
      this.#next();
    }, job.deadline - Date.now());
  }

  #thread(): Worker {
    if (this.#worker !== undefined) return this.#worker;
    const ext = import.meta.url.endsWith(".ts") ? ".ts" : ".js";
    const worker = new Worker(new URL(`./parse-worker${ext}`, import.meta.url), {
      resourceLimits: { maxOldGenerationSizeMb: this.#heapMb },
    });
    worker.unref();
    worker.on("message", (reply: ParseReply) => this.#done(reply));
    worker.on("error", (err: Error & { code?: string }) => {
      if (this.#worker !== worker) return;
      const tooBig = err.code === "ERR_WORKER_OUT_OF_MEMORY";
      this.#stop(
        tooBig
          ? new MeshletError("ERR_TOO_LARGE", `parsing the request body needed more than ${this.#heapMb} MB`)
          : new MeshletError("ERR_PARSE", `the parser thread failed: ${err.message}`),
      );
      this.#next();
    });
    this.#worker = worker;
    return worker;
  }

  #done(reply: ParseReply): void {
    const job = this.#current;
    if (job === undefined || job.id !== reply.id) return;
    clearTimeout(this.#timer);
    this.#current = undefined;
    if (reply.ok) job.resolve(reply.resources);
    else if (reply.code === "ERR_PARSE") job.reject(new MeshletError("ERR_PARSE", reply.message));
    else job.reject(new ConfigError(reply.issues, reply.code));
    this.#next();
  }

  /** Fails the current job with `err` and ends the thread. */
  #stop(err: unknown): void {
    clearTimeout(this.#timer);
    const job = this.#current;
    this.#current = undefined;
    job?.reject(err);
    const worker = this.#worker;
    this.#worker = undefined;
    void worker?.terminate();
  }
}
