import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { pino } from "pino";
import { Registry } from "prom-client";
import { silentLogger } from "../../src/common/logger.ts";
import { nodeCertificateLostCounter, reportStoredCertificate, type StartState } from "../../src/controlplane/run.ts";
import { NodeIdentity } from "../../src/controlplane/tls/node-identity.ts";

const NAME = { nodeId: "n1", clusterId: "c-0123456789abcdef" };
const FOUNDING: StartState = { holdsCa: false, founding: true, empty: true };
const RESTARTED_FOUNDER: StartState = { holdsCa: false, founding: true, empty: false };
const MEMBER: StartState = { holdsCa: true, founding: false, empty: false };
const JOINER_WITHOUT_CA: StartState = { holdsCa: false, founding: false, empty: false };
const NEW_JOINER: StartState = { holdsCa: false, founding: false, empty: true };

describe("meshlet_control_node_certificate_lost_total", () => {
  it("is there from the start, every reason at 0", async () => {
    const registry = new Registry();
    nodeCertificateLostCounter(registry);
    const text = await registry.metrics();
    for (const reason of ["missing", "unreadable", "expired", "other_node", "key_mismatch"])
      assert.match(text, new RegExp(`meshlet_control_node_certificate_lost_total\\{reason="${reason}"\\} 0\\n`));
  });
});

describe("a stored node certificate that was not used", () => {
  type Row = [string, "missing" | "unreadable" | "expired", StartState, string | undefined, number];
  // [why, stored, state, level logged (undefined: nothing), counted]
  const rows: Row[] = [
    ["a founder's first start: nothing to say", "missing", FOUNDING, undefined, 0],
    ["a founder's corrupt file: a warning", "unreadable", FOUNDING, "warn", 0],
    ["a founder restarted before the CA, expired: a warning", "expired", RESTARTED_FOUNDER, "warn", 0],
    ["a new joiner's corrupt file: a warning", "unreadable", NEW_JOINER, "warn", 0],
    ["a member lost it: an error, counted", "missing", MEMBER, "error", 1],
    ["a member's corrupt file: an error, counted", "unreadable", MEMBER, "error", 1],
    ["a joiner without the CA lost it: an error, counted", "expired", JOINER_WITHOUT_CA, "error", 1],
  ];
  for (const [why, stored, state, level, counted] of rows)
    it(why, async () => {
      const lines: Record<string, unknown>[] = [];
      const logger = pino({ level: "debug" }, { write: (l: string) => lines.push(JSON.parse(l)) });
      const registry = new Registry();
      const lost = nodeCertificateLostCounter(registry);
      reportStoredCertificate(
        stored,
        stored === "unreadable" ? "no start line" : undefined,
        state,
        { dataDir: "/d", logger },
        lost,
      );
      const levels: Record<number, string> = { 40: "warn", 50: "error" };
      assert.deepEqual(
        lines.map((l) => levels[l.level as number] ?? String(l.level)),
        level === undefined ? [] : [level],
      );
      if (level !== undefined) {
        assert.equal(lines[0]?.code, "ERR_NODE_CERT_UNUSABLE");
        assert.equal(lines[0]?.reason, stored);
        if (stored === "unreadable") assert.equal(lines[0]?.detail, "no start line");
      }
      const value = (await lost.get()).values.find((v) => v.labels.reason === stored)?.value;
      assert.equal(value, counted);
    });

  it("a corrupt file's reason is the parser's message, never its content", async (t) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "meshlet-node-lost-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    await NodeIdentity.open(dir, NAME, ["127.0.0.1"], Date.now(), silentLogger());
    const secret = "-----BEGIN PRIVATE KEY-----\nU0VDUkVUS0VZTUFURVJJQUw=\n-----END PRIVATE KEY-----\n";
    writeFileSync(path.join(dir, "node-key.pem"), secret);
    writeFileSync(path.join(dir, "node-cert.pem"), "garbage certificate text\n");
    const identity = await NodeIdentity.open(dir, NAME, ["127.0.0.1"], Date.now(), silentLogger());
    assert.equal(identity.stored, "unreadable");
    assert.ok(identity.storedDetail !== undefined && identity.storedDetail.length > 0);
    assert.doesNotMatch(identity.storedDetail, /U0VDUkVU|garbage/);
  });
});
