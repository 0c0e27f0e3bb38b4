import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import { FakeClock } from "../../../src/common/clock.ts";
import { type Connector, tcpConnector } from "../../../src/sidecar/engine/connect.ts";
import { HealthChecker, type HealthCheckSpec, httpProbe } from "../../../src/sidecar/upstream/health-check.ts";

const spec: HealthCheckSpec = {
  path: "/healthz",
  intervalMs: 1000,
  timeoutMs: 100,
  healthyThreshold: 2,
  unhealthyThreshold: 3,
};
const flush = () => new Promise((r) => setImmediate(r));

describe("HealthChecker", () => {
  it("marks an endpoint unhealthy after unhealthyThreshold failures and healthy after healthyThreshold passes", async () => {
    const clock = new FakeClock();
    let up = false;
    const seen: string[] = [];
    const changes: string[] = [];
    const hc = new HealthChecker(
      spec,
      clock,
      (t, path) => {
        seen.push(`${t.key}${path}`);
        return Promise.resolve(up);
      },
      (k, healthy) => changes.push(`${k}=${healthy}`),
    );
    hc.setTargets([{ key: "a", host: "127.0.0.1", port: 1 }]);
    assert.equal(hc.isHealthy("a"), true, "starts healthy");
    for (let i = 0; i < 2; i++) {
      clock.advance(1000);
      await flush();
    }
    assert.equal(hc.isHealthy("a"), true);
    clock.advance(1000);
    await flush();
    assert.equal(hc.isHealthy("a"), false);
    up = true;
    clock.advance(1000);
    await flush();
    assert.equal(hc.isHealthy("a"), false);
    clock.advance(1000);
    await flush();
    assert.equal(hc.isHealthy("a"), true);
    assert.deepEqual(changes, ["a=false", "a=true"]);
    assert.equal(seen[0], "a/healthz");
    hc.stop();
    assert.equal(clock.pendingTimers(), 0);
  });

  it("stops probing removed targets and treats unknown keys as healthy", async () => {
    const clock = new FakeClock();
    let probes = 0;
    const hc = new HealthChecker(spec, clock, () => {
      probes++;
      return Promise.resolve(false);
    });
    hc.setTargets([{ key: "a", host: "h", port: 1 }]);
    hc.setTargets([]);
    clock.advance(5000);
    await flush();
    assert.equal(probes, 0);
    assert.equal(hc.isHealthy("zzz"), true);
    hc.stop();
  });

  it("httpProbe passes on 2xx and fails on 5xx, a hang past the timeout, or a closed port", async (t) => {
    const server = createServer((req, res) => {
      if (req.url === "/ok") res.end("ok");
      else if (req.url === "/bad") res.writeHead(503).end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    t.after(() => {
      server.closeAllConnections();
      server.close();
    });
    const port = (server.address() as AddressInfo).port;
    const target = { key: "x", host: "127.0.0.1", port };
    assert.equal(await httpProbe(target, "/ok", 1000, tcpConnector), true);
    assert.equal(await httpProbe(target, "/bad", 1000, tcpConnector), false);
    assert.equal(await httpProbe(target, "/hang", 100, tcpConnector), false);
    // The probe dials through the transport it is given (the endpoint's: mTLS to a peer sidecar), not its own.
    const dialled: string[] = [];
    const counting: Connector = (host, p) => {
      dialled.push(`${host}:${p}`);
      return tcpConnector(host, p);
    };
    assert.equal(await httpProbe(target, "/ok", 1000, counting), true);
    assert.deepEqual(dialled, [`127.0.0.1:${port}`]);
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    assert.equal(await httpProbe({ key: "y", host: "127.0.0.1", port: closedPort }, "/", 1000, tcpConnector), false);
  });
});
