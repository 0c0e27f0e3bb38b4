import assert from "node:assert/strict";
import { once } from "node:events";
import { type AddressInfo, connect, createServer, type Socket } from "node:net";
import { describe, test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { createRegistry } from "../../../src/common/metrics.ts";
import { InboundMtls } from "../../../src/sidecar/mtls/listener.ts";
import type { MtlsMode } from "../../../src/sidecar/mtls/modes.ts";
import type { TlsMaterial } from "../../../src/sidecar/mtls/workload-identity.ts";
import { operatorPki, TD, workloadMaterial } from "./pki-fixture.ts";

/** An inbound port behind InboundMtls whose "HTTP engine" answers every connection it is handed with "served". */
async function inboundPort(mode: MtlsMode, material?: TlsMaterial) {
  const registry = createRegistry({ processMetrics: false });
  const inbound = new InboundMtls(registry);
  inbound.setMode(mode);
  if (material !== undefined) inbound.use(material);
  const server = createServer((socket) =>
    inbound.accept(socket, (stream) => {
      stream.once("data", () => stream.end("served"));
    }),
  );
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  const refused = async (reason: string) => {
    const line = (await registry.getSingleMetricAsString("meshlet_inbound_tls_refused_total"))
      .split("\n")
      .find((l) => l.includes(`reason="${reason}"`));
    return Number(line?.split(" ").pop() ?? 0);
  };
  return { port, refused, close: () => new Promise((r) => server.close(r)) };
}

/** What a plain-text client gets back for one request: the bytes until the sidecar closes. */
async function plainRequest(port: number): Promise<string> {
  const socket: Socket = connect(port, "127.0.0.1");
  socket.on("error", () => undefined);
  socket.write("GET /secret HTTP/1.1\r\nhost: reviews\r\n\r\n");
  let got = "";
  socket.on("data", (d: Buffer) => {
    got += d.toString();
  });
  await once(socket, "close");
  return got;
}

describe("InboundMtls before the workload certificate", () => {
  test("STRICT refuses plain text while the sidecar has no certificate yet, and counts it", async (t) => {
    const p = await inboundPort("STRICT");
    t.after(p.close);
    assert.equal(await plainRequest(p.port), "");
    assert.equal(await p.refused("no_certificate"), 1);
  });

  test("PERMISSIVE and DISABLE serve plain text without a certificate", async (t) => {
    for (const mode of ["PERMISSIVE", "DISABLE"] as const) {
      const p = await inboundPort(mode);
      t.after(p.close);
      assert.equal(await plainRequest(p.port), "served", mode);
      assert.equal(await p.refused("no_certificate"), 0, mode);
    }
  });
});

/** What a TLS client holding `client` gets back for one request on the inbound port. */
async function tlsRequest(port: number, client: TlsMaterial): Promise<string> {
  const socket = tlsConnect({
    host: "127.0.0.1",
    port,
    secureContext: client.context,
    checkServerIdentity: () => undefined,
  });
  socket.on("error", () => undefined);
  socket.write("GET /secret HTTP/1.1\r\nhost: reviews\r\n\r\n");
  let got = "";
  socket.on("data", (d: Buffer) => {
    got += d.toString();
  });
  await once(socket, "close");
  return got;
}

describe("InboundMtls accepts only workloads of this mesh", () => {
  test("a certificate from another intermediate under the bundle's root, or of another trust domain, is refused", async (t) => {
    const { root, mesh, other } = await operatorPki();
    const p = await inboundPort("STRICT", await workloadMaterial(mesh, `spiffe://${TD}/service/reviews`, root, [mesh]));
    t.after(p.close);
    const web = `spiffe://${TD}/service/web`;
    assert.equal(await tlsRequest(p.port, await workloadMaterial(mesh, web, root)), "served");
    assert.equal(await tlsRequest(p.port, await workloadMaterial(other, web, root)), "");
    assert.equal(await p.refused("foreign_issuer"), 1);
    assert.equal(
      await tlsRequest(p.port, await workloadMaterial(mesh, "spiffe://other.example/service/web", root)),
      "",
    );
    assert.equal(await p.refused("foreign_trust_domain"), 1);
  });
});
