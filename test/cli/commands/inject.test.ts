import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parseAllDocuments } from "yaml";
import { runCli } from "../../helpers/cli.ts";

const CORPUS = join(import.meta.dirname, "../../kube/corpus");
const docs = (text: string) => parseAllDocuments(text).map((d) => d.toJS());

describe("meshlet inject / uninject (the CLI)", () => {
  let dir = "";
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "meshlet-inject-"));
    await mkdir(join(dir, "app"));
    await writeFile(join(dir, "app", "a.yaml"), await readFile(join(CORPUS, "deployment-multi-container.yaml")));
    await writeFile(join(dir, "app", "b.yml"), await readFile(join(CORPUS, "jobs.yaml")));
    await writeFile(join(dir, "app", "notes.txt"), "not a manifest");
    await writeFile(
      join(dir, "bad.yaml"),
      (await readFile(join(CORPUS, "statefulset-named-port.yaml"), "utf8")).replace("app-port: api", "app-port: nope"),
    );
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it("injects a directory's manifests to stdout, one stream, and uninject from stdin gives them back", async () => {
    const r = await runCli(["inject", "-f", join(dir, "app")]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((r.stdout.match(/name: meshlet-proxy/g) ?? []).length, 3);
    const back = await runCli(["uninject", "-f", "-"], { input: r.stdout });
    assert.equal(back.code, 0, back.stderr);
    const originals = [
      ...docs(await readFile(join(dir, "app", "a.yaml"), "utf8")),
      ...docs(await readFile(join(dir, "app", "b.yml"), "utf8")),
    ];
    assert.deepEqual(docs(back.stdout), originals);
  });

  it("takes the image and the flags from the environment as from flags", async () => {
    const r = await runCli(["inject", "-f", join(CORPUS, "pod-no-ports.yaml"), "-f", join(dir, "app", "a.yaml")], {
      env: { MESHLET_IMAGE: "registry.example/meshlet:9", MESHLET_NO_INTERCEPT: "1" },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /image: registry.example\/meshlet:9/);
    assert.doesNotMatch(r.stdout, /meshlet-init/);
    assert.match(r.stderr, /Pod\/worker: skipped, no container port/);
  });

  it("writes nothing when one input fails: exit 1 for a pod it cannot inject, 2 for a missing file or -f", async () => {
    const bad = await runCli(["inject", "-f", join(dir, "app", "a.yaml"), "-f", join(dir, "bad.yaml")]);
    assert.equal(bad.code, 1);
    assert.equal(bad.stdout, "");
    assert.match(bad.stderr, /bad.yaml: meshlet.dev\/app-port: no container port is named "nope"/);
    const missing = await runCli(["inject", "-f", join(dir, "nope.yaml")]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no such file or directory/);
    const none = await runCli(["uninject"]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /-f FILE\|DIR\|- is required/);
    const uid = await runCli(["inject", "-f", join(dir, "app"), "--proxy-uid", "root"]);
    assert.equal(uid.code, 2);
    const yaml = await runCli(["inject", "-f", "-"], { input: "kind: Pod\nspec: [unclosed\n" });
    assert.equal(yaml.code, 1);
    assert.equal(yaml.stdout, "");
  });
});
