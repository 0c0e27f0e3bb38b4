import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { diffResource, renderResources } from "../../../src/cli/commands/resource-actions.ts";
import { renderTable } from "../../../src/cli/output.ts";
import { parseResources } from "../../../src/config/load.ts";
import { canonicalJson } from "../../../src/controlplane/resources/canonical.ts";
import { runCli, startCli } from "../../helpers/cli.ts";

const SERVICE = "apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: reviews}\nspec: {ports: [{port: 9080}]}\n";

describe("resource command rendering", () => {
  const [svc] = parseResources(SERVICE, "s.yaml");
  assert.ok(svc !== undefined);

  it("prints a kubectl-style table", () => {
    assert.equal(
      renderTable(
        ["NAME", "X"],
        [
          ["a", "1"],
          ["long-name", "22"],
        ],
      ),
      "NAME        X\na           1\nlong-name   22\n",
    );
    assert.equal(
      renderResources("Service", [{ revision: 7, resource: svc }], "table"),
      "NAME      PORTS       BALANCER     STATIC-ENDPOINTS   REVISION\nreviews   9080/http   roundRobin   0                  7\n",
    );
    assert.equal(renderResources("Service", [{ revision: 7, resource: svc }], "name"), "service/reviews\n");
    assert.match(
      renderResources("Service", [{ revision: 7, resource: svc }], "wide"),
      /^NAME +PORTS +BALANCER +STATIC-ENDPOINTS +REVISION +ENDPOINTS\nreviews +9080\/http +roundRobin +0 +7 +-\n$/,
    );
    assert.equal(renderResources("Route", [], "table"), "No routes found.\n");
    assert.equal(renderResources("Policy", [], "table"), "No policies found.\n");
  });

  it("diffs live against applied, empty when equal whatever the field order", () => {
    assert.equal(diffResource(svc, svc), "");
    // The control plane stores canonical JSON (keys sorted); the files give the schema's order.
    assert.equal(diffResource(JSON.parse(canonicalJson(svc)), svc), "");
    const changed = parseResources(SERVICE.replace("9080", "9090"), "s.yaml")[0];
    assert.ok(changed !== undefined);
    const patch = diffResource(svc, changed);
    assert.match(patch, /^--- live\/service\/reviews/m);
    assert.match(patch, /^- {4}- port: 9080$/m);
    assert.match(patch, /^\+ {4}- port: 9090$/m);
  });
});

/** A stand-in control plane recording what the CLI sends: this tests the client's half of the HTTP contract. */
describe("meshlet apply/get/delete against an HTTP server", () => {
  const seen: { method: string; url: string; body: string }[] = [];
  let respond: (
    req: IncomingMessage,
    body: string,
  ) => { status: number; json: unknown; headers?: Record<string, string> };
  const server = createServer(async (req, res) => {
    let body = "";
    for await (const chunk of req) body += chunk;
    seen.push({ method: req.method ?? "", url: req.url ?? "", body });
    const out = respond(req, body);
    res.writeHead(out.status, { "content-type": "application/json", ...out.headers });
    res.end(JSON.stringify(out.json));
  });
  let url = "";
  let dir = "";

  before(async () => {
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    dir = await mkdtemp(join(tmpdir(), "meshlet-cli-"));
  });
  after(async () => {
    server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("apply posts every document once and prints each result", async () => {
    await writeFile(join(dir, "a.yaml"), SERVICE);
    await writeFile(join(dir, "b.yml"), SERVICE.replaceAll("reviews", "ratings"));
    await writeFile(join(dir, "notes.txt"), "ignored");
    respond = () => ({
      status: 200,
      json: {
        revision: 5,
        dryRun: false,
        results: [
          { kind: "Service", name: "reviews", action: "created" },
          { kind: "Service", name: "ratings", action: "unchanged" },
        ],
        warnings: [{ resource: "Service/reviews", path: "spec", message: "just so" }],
      },
    });
    seen.length = 0;
    const r = await runCli(["apply", "-f", dir, "--server", url]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "service/reviews created\nservice/ratings unchanged\n");
    assert.match(r.stderr, /Warning: \S+a\.yaml:4:7 Service\/reviews spec: just so/);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]?.method, "POST");
    assert.equal(seen[0]?.url, "/v1/apply");
    assert.equal(parseResources(seen[0]?.body ?? "", "body").length, 2);
  });

  it("apply rejects an invalid file locally, naming file, line and field, and sends nothing", async () => {
    await writeFile(join(dir, "bad.yaml"), SERVICE.replace("9080", "0"));
    seen.length = 0;
    const r = await runCli(["apply", "-f", join(dir, "bad.yaml"), "--server", url]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /bad\.yaml:4:\d+ Service\/reviews spec\.ports\[0\]\.port: /);
    assert.equal(seen.length, 0);
  });

  it("get policies asks for /v1/resources/policies", async () => {
    respond = () => ({ status: 200, json: { revision: 1, items: [] } });
    const r = await runCli(["get", "policies", "--server", url]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "No policies found.\n");
    assert.equal(seen.at(-1)?.url, "/v1/resources/policies");
  });

  it("an error answer with no body names the status and the server", async () => {
    respond = () => ({ status: 404, json: undefined });
    const r = await runCli(["get", "services", "--server", url]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /HTTP 404 from http:\/\/127\.0\.0\.1:\d+: is it a meshlet control plane\?/);
  });

  it("output into a reader that went away (meshlet get | head) ends quietly", async () => {
    respond = () => ({ status: 200, json: { revision: 1, items: [] } });
    const child = startCli(["get", "routes", "--server", url]);
    child.stdout?.destroy();
    let stderr = "";
    child.stderr?.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    const [code] = (await once(child, "exit")) as [number | null];
    assert.equal(code, 0, stderr);
    assert.doesNotMatch(stderr, /EPIPE/);
  });

  it("reports a server error with its message and Retry-After", async () => {
    respond = () => ({
      status: 503,
      json: { error: { code: "ERR_NO_LEADER", message: "no leader" } },
      headers: { "retry-after": "1" },
    });
    const r = await runCli(["delete", "route", "reviews", "--server", url]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no leader \(retry after 1s\)/);
    assert.equal(seen.at(-1)?.url, "/v1/resources/routes/reviews");
    assert.equal(seen.at(-1)?.method, "DELETE");
  });

  it("retries a read answered 503 until the cluster has a leader, sending a numeric deadline", async () => {
    let calls = 0;
    respond = (req) => {
      calls++;
      assert.match(String(req.headers["x-meshlet-timeout"]), /^\d+$/);
      return calls === 1
        ? {
            status: 503,
            json: { error: { code: "ERR_NO_LEADER", message: "no leader" } },
            headers: { "retry-after": "1" },
          }
        : { status: 200, json: { revision: 1, items: [] } };
    };
    const r = await runCli(["get", "routes", "--server", url]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "No routes found.\n");
    assert.equal(calls, 2);
  });

  it("get prints yaml and rejects unknown kinds with exit 2", async () => {
    const [svc] = parseResources(SERVICE, "s.yaml");
    respond = () => ({ status: 200, json: { revision: 3, resource: svc } });
    const r = await runCli(["get", "services", "reviews", "-o", "yaml", "--server", url]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(parseResources(r.stdout, "out"), [svc]);
    assert.equal((await runCli(["get", "widgets", "--server", url])).code, 2);
  });
});
