import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parse, stringify } from "yaml";
import { REPO_ROOT } from "../helpers/cli.ts";
import { ensureDebianPackage } from "../helpers/debian.ts";

const DIR = join(REPO_ROOT, "deploy", "prometheus");

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
}
interface RuleFile {
  groups: { name: string; rules: Rule[] }[];
}
interface RuleTests {
  tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
}

function run(cmd: string, args: string[], cwd = DIR): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === "number" ? err.code : 1;
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}

/** The shipped rules and Alertmanager config, checked by the real promtool and amtool (Debian's packages). */
describe("deploy/prometheus", () => {
  let rules: RuleFile;
  let tmp = "";
  before(async () => {
    ensureDebianPackage("promtool", "prometheus");
    ensureDebianPackage("amtool", "prometheus-alertmanager");
    rules = parse(await readFile(join(DIR, "alerts.yml"), "utf8")) as RuleFile;
    tmp = await mkdtemp(join(tmpdir(), "meshlet-promtool-"));
  });
  after(() => rm(tmp, { recursive: true, force: true }));

  it("promtool check rules / check config accept the rules and the scrape config", async () => {
    const checked = await run("promtool", ["check", "rules", "alerts.yml"]);
    assert.equal(checked.code, 0, checked.out);
    const config = await run("promtool", ["check", "config", "prometheus.yml"]);
    assert.equal(config.code, 0, config.out);
  });

  it("promtool test rules: every alert fires on its case and stays quiet on the others", async () => {
    const tested = await run("promtool", ["test", "rules", "alerts.test.yml"]);
    assert.equal(tested.code, 0, tested.out);
  });

  it("each alert is labelled with a severity the Alertmanager routes, and has a firing test", async () => {
    const alerts = rules.groups.flatMap((g) => g.rules);
    assert.ok(alerts.length >= 12, `${alerts.length} alerts`);
    const tests = parse(await readFile(join(DIR, "alerts.test.yml"), "utf8")) as RuleTests;
    const firing = new Set(
      tests.tests.flatMap((t) =>
        (t.alert_rule_test ?? []).filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname),
      ),
    );
    for (const a of alerts) {
      assert.ok(["critical", "warning"].includes(a.labels?.severity ?? ""), `${a.alert} severity`);
      assert.ok(firing.has(a.alert), `${a.alert} has no test where it fires`);
    }
  });

  it("the tests catch an alert that can never fire (each alert's expression replaced, one at a time)", async () => {
    await copyFile(join(DIR, "alerts.test.yml"), join(tmp, "alerts.test.yml"));
    // The control: the rules written back unchanged pass, so a failure below is the mutant's.
    await writeFile(join(tmp, "alerts.yml"), stringify(rules));
    const control = await run("promtool", ["test", "rules", "alerts.test.yml"], tmp);
    assert.equal(control.code, 0, control.out);
    for (const group of rules.groups) {
      for (const rule of group.rules) {
        const mutant: RuleFile = {
          groups: rules.groups.map((g) => ({
            ...g,
            rules: g.rules.map((r) => (r === rule ? { ...r, expr: "vector(0) > 1" } : r)),
          })),
        };
        await writeFile(join(tmp, "alerts.yml"), stringify(mutant));
        const r = await run("promtool", ["test", "rules", "alerts.test.yml"], tmp);
        assert.notEqual(r.code, 0, `${rule.alert} never firing went unnoticed`);
      }
    }
  });

  it("amtool accepts the Alertmanager config, which pages on critical and chats on warning", async () => {
    const checked = await run("amtool", ["check-config", "alertmanager.yml"]);
    assert.equal(checked.code, 0, checked.out);
    const route = async (...labels: string[]) =>
      (await run("amtool", ["config", "routes", "test", "--config.file", "alertmanager.yml", ...labels])).out
        .split("\n")
        .filter((l) => l !== "" && !l.startsWith("Warning"))
        .join(",");
    assert.equal(await route("alertname=MeshletNoLeader", "severity=critical"), "pager");
    assert.equal(await route("alertname=MeshletServiceHighLatency", "severity=warning", "service=ratings"), "chat");
  });
});
