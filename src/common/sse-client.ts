import { createParser } from "eventsource-parser";

/** One Server-Sent Event; `event` is "message" when the server named none, as in a browser's EventSource. */
export interface SseMessage {
  event: string;
  id: string | undefined;
  data: string;
}

export type SseOpen =
  | { ok: true; status: number; headers: Headers; done: Promise<void> }
  | { ok: false; status: number; headers: Headers; body: string };

/**
 * Opens an SSE stream and feeds its events to `onMessage` until it ends:
 * `done` resolves when the server closes it or the signal aborts it, and
 * rejects when the connection breaks. A non-2xx answer is returned with its body, not thrown.
 * Parsing is eventsource-parser's; reconnection is the caller's (it knows
 * where to resume).
 */
export async function openSse(
  url: string,
  options: {
    headers?: Record<string, string>;
    signal?: AbortSignal;
    fetcher?: (url: string, init: RequestInit) => Promise<Response>;
  },
  onMessage: (m: SseMessage) => void,
): Promise<SseOpen> {
  const res = await (options.fetcher ?? fetch)(url, {
    headers: { accept: "text/event-stream", ...options.headers },
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  if (!res.ok || res.body === null)
    return { ok: false, status: res.status, headers: res.headers, body: await res.text() };
  const parser = createParser({
    onEvent: (e) => onMessage({ event: e.event ?? "message", id: e.id, data: e.data }),
  });
  const body = res.body;
  const done = (async () => {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of body) parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }));
    } catch (err) {
      // The caller's own abort is how it closes a stream, not a failure.
      if (options.signal?.aborted !== true) throw err;
    }
  })();
  return { ok: true, status: res.status, headers: res.headers, done };
}
