import { connect, type Socket } from "node:net";

export interface ProbeResult {
  /** Every byte the client received. */
  text: string;
  /** Final responses' status codes, in order (100 Continue listed as 100). */
  statuses: number[];
  /** The sidecar closed the connection. */
  closed: boolean;
  socket: Socket;
}

/** Splits received bytes into complete responses (Content-Length, chunked, or none for 1xx/204/304/HEAD). */
export function responses(text: string, headAt: readonly number[] = []): number[] {
  const out: number[] = [];
  let at = 0;
  let heads = 0;
  for (;;) {
    const end = text.indexOf("\r\n\r\n", at);
    if (end < 0) return out;
    const head = text.slice(at, end);
    const status = Number(head.slice(9, 12));
    const lower = head.toLowerCase();
    let next = end + 4;
    const isHead = status >= 200 && headAt.includes(heads);
    if (status >= 200) heads++;
    if (status >= 200 && status !== 204 && status !== 304 && !isHead) {
      const cl = /\r\ncontent-length: *(\d+)/.exec(lower);
      if (cl !== null) {
        next += Number(cl[1]);
        if (text.length < next) return out;
      } else if (/\r\ntransfer-encoding: *chunked/.test(lower)) {
        const last = text.indexOf("0\r\n\r\n", next);
        if (last < 0) return out;
        next = last + 5;
      }
    }
    out.push(status);
    at = next;
  }
}

/**
 * Writes raw bytes to a listener and collects the answer until `expect`
 * final responses arrived, the connection closed, or `waitMs` passed. The
 * socket is left as it is (open or closed) for the caller's drain check.
 */
export function probe(
  port: number,
  bytes: string | Buffer,
  expect = 1,
  waitMs = 2_000,
  headAt: readonly number[] = [],
): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    let text = "";
    let closed = false;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ text, statuses: responses(text, headAt), closed, socket });
    };
    const timer = setTimeout(finish, waitMs);
    socket.on("data", (b: Buffer) => {
      text += b.toString("latin1");
      if (responses(text, headAt).filter((s) => s >= 200).length >= expect) setTimeout(finish, 20);
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      closed = true;
      finish();
    });
    socket.write(bytes);
  });
}
