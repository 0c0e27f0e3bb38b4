import assert from "node:assert/strict";
import { createServer } from "node:net";
import { test } from "node:test";
import { describeFetchError, notApplied } from "./workload.ts";

test("only writes that certainly had no effect are left out of the history", async () => {
  // A port that was just free: nothing listens, so the request is never delivered.
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const a = server.address();
  const port = typeof a === "object" && a !== null ? a.port : 0;
  await new Promise((r) => server.close(r));
  const refused = await fetch(`http://127.0.0.1:${port}/v1/config/k`, { method: "PUT", body: "v" }).then(
    () => "answered",
    (err: unknown) => describeFetchError(err),
  );
  assert.equal(refused, "fetch failed (ECONNREFUSED)");
  assert.equal(notApplied(refused), true);
  assert.equal(
    notApplied('503 {"error":{"code":"ERR_NO_LEADER","message":"no leader is known; the cluster may be electing"}}'),
    true,
  );
  // May have taken effect: a timeout after proposing, a connection reset mid-request, a node stopping.
  for (const maybe of [
    '503 {"error":{"code":"ERR_TIMEOUT","message":"proposal did not complete within 1500 ms"}}',
    '503 {"error":{"code":"ERR_STOPPING","message":"the node is stopping"}}',
    "fetch failed (ECONNRESET)",
    "fetch failed (UND_ERR_SOCKET)",
    "The operation was aborted due to timeout",
  ])
    assert.equal(notApplied(maybe), false, maybe);
});
