import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { REPO_ROOT } from "../helpers/cli.ts";
import { parseCommandLine } from "../helpers/parse-command.ts";

interface Instruction {
  stage: number;
  op: string;
  args: string;
}

function parseDockerfile(text: string): Instruction[] {
  const joined = text.replace(/\\\n/g, " ");
  const out: Instruction[] = [];
  let stage = -1;
  for (const raw of joined.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = /^(\S+)\s+(.*)$/.exec(line);
    assert.ok(m?.[1] !== undefined && m[2] !== undefined, `unparsable line: ${line}`);
    const op = m[1].toUpperCase();
    if (op === "FROM") stage++;
    out.push({ stage, op, args: m[2] });
  }
  return out;
}

const dockerfile = parseDockerfile(readFileSync(join(REPO_ROOT, "Dockerfile"), "utf8"));

describe("Dockerfile", () => {
  it("builds in one stage and runs on node:24-slim in another", () => {
    const froms = dockerfile.filter((i) => i.op === "FROM");
    assert.ok(froms.length >= 2, "multi-stage");
    assert.match(froms.at(-1)?.args ?? "", /^node:24-slim\b/);
  });

  it("copies only files that exist in the repository", () => {
    for (const i of dockerfile.filter((x) => x.op === "COPY" && !x.args.startsWith("--from"))) {
      const parts = i.args.split(/\s+/);
      for (const src of parts.slice(0, -1))
        assert.ok(existsSync(join(REPO_ROOT, src)), `COPY source ${src} is missing`);
    }
  });

  it("copies from the build stage only what that stage produced or installed", () => {
    const produced = new Set(["/app/node_modules", "/app/dist"]);
    for (const i of dockerfile.filter((x) => x.op === "COPY" && x.args.startsWith("--from"))) {
      const src = i.args.split(/\s+/)[1] ?? "";
      assert.ok(produced.has(src), `unexpected COPY --from source ${src}`);
    }
  });

  it("runs as a non-root user with meshlet as the entrypoint", () => {
    const runtime = dockerfile.filter((i) => i.stage === dockerfile.at(-1)?.stage);
    const user = runtime.filter((i) => i.op === "USER").at(-1);
    assert.ok(user !== undefined && !/^(root|0)$/.test(user.args), "USER is set and not root");
    assert.deepEqual(JSON.parse(runtime.find((i) => i.op === "ENTRYPOINT")?.args ?? "null"), ["meshlet"]);
    const link = runtime.find((i) => i.op === "RUN" && i.args.includes("/usr/local/bin/meshlet"));
    assert.match(link?.args ?? "", /bin\/meshlet\.js/);
    assert.ok(existsSync(join(REPO_ROOT, "bin/meshlet.js")));
  });

  it("has a default CMD that the real CLI parser accepts", async () => {
    const cmd = JSON.parse(dockerfile.find((i) => i.op === "CMD")?.args ?? "[]") as string[];
    const parsed = await parseCommandLine(cmd);
    assert.equal(parsed.command, cmd[0]);
  });
});

describe("Dockerfile for Kubernetes", () => {
  it("installs iptables in the runtime image, for the meshlet-init container", () => {
    const runtime = dockerfile.filter((i) => i.stage === dockerfile.at(-1)?.stage);
    assert.ok(runtime.some((i) => i.op === "RUN" && /apt-get install\b.*\biptables\b/.test(i.args)));
  });
});
