import assert from "node:assert/strict";
import { networkInterfaces } from "node:os";
import { test } from "node:test";
import { formatHostPort } from "../../src/common/address.ts";
import { leaderOf, makeCluster, until } from "../controlplane/harness.ts";
import { runCli } from "../helpers/cli.ts";
import { type RunningSidecar, startSidecar } from "../sidecar/helpers.ts";
import { adminTokenFile, readToken } from "../support/control-auth.ts";

/** An address of this host other than 127.0.0.1, so a registered source address cannot pass for a loopback default. */
function otherLocalAddress(): string | undefined {
  const all = Object.values(networkInterfaces()).flat();
  return (
    all.find((i) => i !== undefined && i.family === "IPv4" && !i.internal)?.address ??
    all.find((i) => i?.address === "::1")?.address
  );
}

test("meshlet sidecar --inbound 0.0.0.0 registers its connection's source address; --advertise-address is registered as given, and refused when it is not the caller's", async (t) => {
  const local = otherLocalAddress();
  if (local === undefined) return t.skip("no address of this host other than 127.0.0.1");
  const c = await makeCluster(1);
  const sidecars: RunningSidecar[] = [];
  t.after(async () => {
    await Promise.all(sidecars.map((s) => s.stop()));
    await c.stopAll();
  });
  const [n1] = c.nodes;
  assert.ok(n1);
  const grpcPort = Number(n1.grpc.slice(n1.grpc.lastIndexOf(":") + 1));
  // Every address of the host (dual stack), so sidecars can reach it at `local` and at 127.0.0.1.
  c.start(n1, ["--peers", c.peers, "--grpc", `[::]:${grpcPort}`]);
  await leaderOf([n1]);
  const admin = readToken(adminTokenFile(n1.dataDir)) ?? "";
  const token = async (service: string) => {
    const r = await runCli(
      [
        "token",
        "create",
        "--role",
        "sidecar",
        "--name",
        `${service}-sidecar`,
        "--service",
        service,
        "--server",
        `https://${n1.http}`,
      ],
      { env: { MESHLET_TOKEN: admin } },
    );
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim();
  };
  const endpoints = async (service: string) => {
    const res = await fetch(`https://${n1.http}/v1/endpoints/${service}`, { signal: AbortSignal.timeout(5_000) });
    return ((await res.json()) as { endpoints: { address: string; port: number }[] }).endpoints;
  };
  const sidecar = async (service: string, args: string[]) => {
    const s = await startSidecar(undefined, {
      service,
      staticConfig: false,
      args: ["--inbound", "0.0.0.0:0", ...args],
      env: { MESHLET_TOKEN: await token(service) },
    });
    sidecars.push(s);
    return s;
  };

  const web = await sidecar("web", ["--control", formatHostPort({ host: local, port: grpcPort })]);
  const registered = await until("web registered", async () => {
    const eps = await endpoints("web");
    return eps.length > 0 ? eps : undefined;
  });
  assert.deepEqual(
    registered.map((e) => [e.address, e.port]),
    [[local, web.inbound]],
    web.logs(),
  );

  // Connected from 127.0.0.1 (seen as ::ffff:127.0.0.1 by the dual-stack listener), it says it is `local`.
  const db = await sidecar("db", ["--control", `127.0.0.1:${grpcPort}`, "--advertise-address", local]);
  await until("db's registration refused", async () =>
    db.logs().includes("ERR_ADDRESS_NOT_CALLER") ? true : undefined,
  );
  const refusal =
    db
      .logs()
      .split("\n")
      .find((l) => l.includes("ERR_ADDRESS_NOT_CALLER")) ?? "";
  const reason = (JSON.parse(refusal) as { details: string }).details;
  assert.ok(reason.includes(`"${local}" is not the address this connection comes from (127.0.0.1)`), reason);
  assert.deepEqual(await endpoints("db"), []);
  const metrics = await (await fetch(`https://${n1.http}/metrics`)).text();
  assert.match(metrics, /meshlet_discovery_rejected_total\{reason="address_not_caller"\} [1-9]/);

  for (const bad of ["db.example", "0.0.0.0", "::"]) {
    const r = await runCli([
      "sidecar",
      "--service",
      "db",
      "--app-port",
      "1",
      "--control",
      "127.0.0.1:1",
      "--advertise-address",
      bad,
    ]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--advertise-address: /);
  }
});
