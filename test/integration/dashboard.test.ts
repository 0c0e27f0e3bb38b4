import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { after, before, describe, it } from "node:test";
import type { Page } from "puppeteer-core";
import { type Cluster, freePorts, leaderOf, makeCluster } from "../controlplane/harness.ts";
import { startCli, stopProcess } from "../helpers/cli.ts";
import { launchChromium } from "../support/chromium.ts";
import { controlTokenEnv } from "../support/control-auth.ts";

/** The page's globals as the functions passed to Chromium use them (the tests compile without the DOM library). */
interface PageElement {
  textContent: string | null;
}
declare const document: {
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): Iterable<PageElement>;
};
declare const window: { sameDocument?: boolean };

const service = (name: string) => `apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: ${name}}
spec:
  loadBalancer: {consistentHash: {header: x-user-id, algorithm: maglev}}
`;

async function apply(http: string, yaml: string): Promise<void> {
  const res = await fetch(`https://${http}/v1/apply`, {
    method: "POST",
    headers: { "content-type": "application/yaml" },
    body: yaml,
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(res.status, 200, await res.text());
}

describe("the dashboard in a real headless Chromium", () => {
  let cluster: Cluster | undefined;
  let chromium: Awaited<ReturnType<typeof launchChromium>> | undefined;
  let sidecar: ChildProcess | undefined;

  before(async () => {
    cluster = await makeCluster(3);
    for (const node of cluster.nodes) cluster.start(node);
    chromium = await launchChromium();
  });
  after(async () => {
    if (sidecar !== undefined) await stopProcess(sidecar);
    await chromium?.close();
    await cluster?.stopAll();
  });

  it("shows the cluster and its leader, and each change live, without a reload, within a second", async () => {
    assert.ok(cluster !== undefined && chromium !== undefined);
    const leader = await leaderOf(cluster.nodes);
    // Served by a follower: what it shows of the others it learns from them.
    const follower = cluster.nodes.find((n) => n !== leader);
    const other = cluster.nodes.find((n) => n !== leader && n !== follower);
    assert.ok(follower !== undefined && other !== undefined);
    const page: Page = await chromium.browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (err) => errors.push(String(err)));
    await page.goto(`https://${follower.http}/#token=${controlTokenEnv().MESHLET_TOKEN ?? ""}`, {
      waitUntil: "domcontentloaded",
    });
    await page.waitForFunction(
      (id) => document.querySelector("#leader")?.textContent === id && document.querySelector("#live.on") !== null,
      { timeout: 15_000 },
      leader.id,
    );
    assert.equal(await page.$eval("#served-by", (e) => e.textContent), follower.id);
    await page.waitForFunction(
      () =>
        [...document.querySelectorAll("#members tbody tr")].filter((r) => r.textContent?.includes("up")).length === 3,
      { timeout: 10_000 },
    );
    await page.evaluate(() => {
      window.sameDocument = true;
    });

    await apply(follower.http, service("alpha"));
    await page.waitForSelector('#services tr[data-service="alpha"]', { timeout: 5_000 });
    assert.match(
      await page.$eval('#services tr[data-service="alpha"]', (e) => e.textContent ?? ""),
      /maglev hash on header x-user-id/,
    );

    const applied = Date.now();
    await apply(leader.http, `${service("beta")}---\n${service("alpha").replace("maglev", "ringHash")}`);
    await page.waitForFunction(
      () =>
        document.querySelector('#services tr[data-service="beta"]') !== null &&
        document.querySelector('#services tr[data-service="alpha"]')?.textContent?.includes("ringHash") === true,
      { timeout: 5_000 },
    );
    const took = Date.now() - applied;
    assert.ok(took <= 1_000, `the second change took ${took} ms to show`);
    assert.equal(await page.evaluate(() => window.sameDocument), true);

    // A sidecar connected to another node is listed too, with the snapshot version it ACKed.
    const [outbound, inbound, admin, app] = await freePorts(4);
    sidecar = startCli([
      "sidecar",
      "--service",
      "alpha",
      "--instance",
      "alpha-1",
      "--app-port",
      String(app),
      "--control",
      other.grpc,
      "--outbound",
      `127.0.0.1:${outbound}`,
      "--inbound",
      `127.0.0.1:${inbound}`,
      "--admin",
      `127.0.0.1:${admin}`,
    ]);
    await page.waitForFunction(
      (node) => {
        const row = [...document.querySelectorAll("#sidecars tbody tr")].find((r) =>
          r.textContent?.includes("alpha-1"),
        );
        return row?.textContent?.includes(node) === true && row.textContent.includes("in sync");
      },
      { timeout: 15_000 },
      other.id,
    );
    await page.waitForFunction(
      () => document.querySelector('#services tr[data-service="alpha"]')?.textContent?.includes("alpha-1") === true,
      { timeout: 15_000 },
    );
    assert.deepEqual(errors, []);
  });
});
