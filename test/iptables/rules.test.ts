import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { cleanPlan, installPlan, parseCidrs, parsePorts } from "../../src/kube/iptables.ts";
import { runCli } from "../helpers/cli.ts";

const OPTIONS = {
  proxyUid: 1337,
  outboundPort: 15001,
  inboundPort: 15006,
  inboundPorts: "*" as const,
  excludeInboundPorts: [22],
  excludeOutboundPorts: [5432],
  excludeOutboundCidrs: ["169.254.169.254/32"],
  proxyPorts: [15006, 15000],
};

describe("interception rules", () => {
  it("with every inbound port, never redirects the sidecar's own ports nor the excluded ones", () => {
    const text = installPlan(OPTIONS).map((a) => a.join(" "));
    const inbound = text.filter((l) => l.includes("-A MESHLET_INBOUND"));
    assert.deepEqual(inbound, [
      "-t nat -A MESHLET_INBOUND -p tcp --dport 22 -j RETURN",
      "-t nat -A MESHLET_INBOUND -p tcp --dport 15006 -j RETURN",
      "-t nat -A MESHLET_INBOUND -p tcp --dport 15000 -j RETURN",
      "-t nat -A MESHLET_INBOUND -p tcp -j MESHLET_IN_REDIRECT",
    ]);
    assert.ok(text.includes("-t nat -A MESHLET_OUTPUT -d 169.254.169.254/32 -j RETURN"));
    assert.ok(text.includes("-t nat -A MESHLET_OUTPUT -p tcp --dport 5432 -j RETURN"));
    // The jumps into meshlet's chains come last: a failure half-way intercepts nothing.
    assert.deepEqual(text.slice(-2), [
      "-t nat -A PREROUTING -p tcp -j MESHLET_INBOUND",
      "-t nat -A OUTPUT -p tcp -j MESHLET_OUTPUT",
    ]);
  });

  it("cleans what a listing shows of its own, twice-added jumps included, and nothing else", () => {
    const listing = [
      "-P PREROUTING ACCEPT",
      "-N MESHLET_OUTPUT",
      "-N KUBE-SERVICES",
      "-A PREROUTING -p tcp -j MESHLET_INBOUND",
      "-A OUTPUT -p tcp -j MESHLET_OUTPUT",
      "-A OUTPUT -p tcp -j MESHLET_OUTPUT",
      "-A OUTPUT -j KUBE-SERVICES",
    ].join("\n");
    assert.deepEqual(
      cleanPlan(listing).map((a) => a.join(" ")),
      [
        "-t nat -D PREROUTING -p tcp -j MESHLET_INBOUND",
        "-t nat -D OUTPUT -p tcp -j MESHLET_OUTPUT",
        "-t nat -D OUTPUT -p tcp -j MESHLET_OUTPUT",
        "-t nat -F MESHLET_OUTPUT",
        "-t nat -X MESHLET_OUTPUT",
      ],
    );
    assert.deepEqual(cleanPlan("-P OUTPUT ACCEPT\n"), []);
  });

  it("refuses bad ports and CIDRs (table)", () => {
    for (const bad of ["0", "65536", "80-90", "-1", "http", "1e3", "80 443"])
      assert.throws(() => parsePorts("--x", bad), RangeError, bad);
    assert.deepEqual(parsePorts("--x", " 80, 443 ,"), [80, 443]);
    for (const bad of ["10.0.0.0/33", "256.0.0.1", "10.0.0", "::1/128", "10.0.0.0/8/8", "a.b.c.d"])
      assert.throws(() => parseCidrs("--x", bad), RangeError, bad);
    assert.deepEqual(parseCidrs("--x", "10.0.0.0/8,192.168.1.1"), ["10.0.0.0/8", "192.168.1.1/32"]);
  });

  it("prints its plan with --dry-run, and exits 2 on a bad flag", async () => {
    const r = await runCli([
      "iptables",
      "--dry-run",
      "--inbound-ports",
      "9080",
      "--exclude-outbound-cidrs",
      "10.0.0.0/8",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^iptables -t nat -N MESHLET_INBOUND$/m);
    assert.match(r.stdout, /^iptables -t nat -A MESHLET_INBOUND -p tcp --dport 9080 -j MESHLET_IN_REDIRECT$/m);
    const bad = await runCli(["iptables", "--dry-run", "--exclude-outbound-ports", "99999"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--exclude-outbound-ports: "99999" is not a port/);
  });
});
