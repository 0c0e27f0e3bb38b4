import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmodSync, mkdtempSync, rmdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { before, describe, it } from "node:test";
import { REPO_ROOT } from "../helpers/cli.ts";
import { ensureSystemPackage } from "../support/system-package.ts";

interface Reply {
  status?: number;
  body?: string;
  error?: string;
}
interface Report {
  directBefore: Reply;
  idempotent: boolean;
  rules: string;
  outbound: Reply;
  inbound: Reply;
  afterClean: string;
  outboundAfterClean: Reply;
  inboundAfterClean: Reply;
}

/**
 * Transparent interception for real: `meshlet iptables` in a private network namespace (root, the Debian
 * iptables package with its nft backend), a sidecar running as the proxy uid, an app as another uid, and a
 * second namespace on a veth pair as the rest of the cluster. The scenario is test/iptables/netns-scenario.ts.
 */
describe("meshlet iptables in a network namespace", () => {
  let report: Report;
  before(async () => {
    if (process.getuid?.() !== 0) throw new Error("this test needs root: it creates network namespaces (unshare -n)");
    await ensureSystemPackage("iptables", "iptables");
    // The sidecar and the app run as other users, who cannot reach a checkout that is (or is under) a private
    // directory (a clone into `mktemp -d`, mode 0700). In a private mount namespace each entry of the checkout is
    // bind-mounted into a tmpfs they can traverse, and the scenario runs from there; nothing changes outside.
    const view = mkdtempSync(join(tmpdir(), "meshlet-netns-"));
    chmodSync(view, 0o755);
    const inRepo = relative(REPO_ROOT, process.execPath);
    const nodeBin = inRepo.startsWith("..") ? process.execPath : join(view, inRepo);
    try {
      const stdout = await new Promise<string>((resolve, reject) =>
        execFile(
          "unshare",
          [
            "-n",
            "-m",
            "sh",
            "-c",
            [
              'mount -t tmpfs -o mode=755 meshlet-repo "$2" || exit 1',
              'for e in "$1"/* "$1"/.[!.]*; do [ -e "$e" ] || continue; n=$(basename "$e")',
              '  if [ -d "$e" ]; then mkdir "$2/$n"; else : > "$2/$n"; fi; mount --bind "$e" "$2/$n" || exit 1; done',
              'cd "$2" && exec "$3" "$2/test/iptables/netns-scenario.ts"',
            ].join("\n"),
            "sh",
            REPO_ROOT,
            view,
            nodeBin,
          ],
          { cwd: REPO_ROOT, timeout: 90_000 },
          (err, out, stderr) => (err === null ? resolve(out) : reject(new Error(`${err.message}\n${stderr}`))),
        ),
      );
      report = JSON.parse(stdout) as Report;
    } finally {
      rmdirSync(view);
    }
  });

  const body = (r: Reply) => JSON.parse(r.body ?? "{}") as { from?: string; remote?: string };

  it("sends the app's call to an address that exists nowhere to the sidecar, which routes it by Host", () => {
    assert.equal(report.outbound.status, 200, JSON.stringify(report.outbound));
    assert.equal(body(report.outbound).from, "reviews");
    // Without the rules the same call has nowhere to go.
    assert.equal(report.outboundAfterClean.error, "EHOSTUNREACH");
  });

  it("lets the sidecar's own upstream calls out (exempt by uid), not back into itself", () => {
    // The reviews upstream saw a connection from the pod's address: the sidecar's call left the pod.
    assert.equal(body(report.outbound).remote, "10.77.0.2");
    assert.match(report.rules, /-A MESHLET_OUTPUT -m owner --uid-owner 1337 -j RETURN/);
  });

  it("sends inbound calls on the app's port through the sidecar's inbound listener", () => {
    assert.equal(body(report.inbound).from, "app");
    assert.equal(body(report.inbound).remote, "127.0.0.1", "the app's client is the sidecar");
    assert.equal(
      body(report.inboundAfterClean).remote,
      "10.77.0.3",
      "after --clean the caller reaches the app directly",
    );
  });

  it("installs one set of rules however often it runs, and --clean removes every one", () => {
    assert.equal(report.idempotent, true);
    assert.match(report.rules, /-A PREROUTING -p tcp -j MESHLET_INBOUND/);
    assert.doesNotMatch(report.afterClean, /MESHLET/);
    assert.equal(report.directBefore.status, 200, "the network of the scenario works without meshlet");
  });
});
