import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseAllDocuments } from "yaml";
import { envName } from "../../src/cli/options.ts";
import { buildProgram } from "../../src/cli/program.ts";
import { parseHostPort } from "../../src/common/address.ts";
import { mutateManifest } from "../../src/kube/manifests.ts";
import { drainFlags, type InjectOptions } from "../../src/kube/pod-injection.ts";
import { checkAddresses, expandedArgs, referencedNames } from "../helpers/kube-args.ts";
import { validateObject } from "../helpers/kube-schema.ts";
import { parseCommandLine } from "../helpers/parse-command.ts";

const CORPUS = join(import.meta.dirname, "corpus");
const files = readdirSync(CORPUS).filter((f) => f.endsWith(".yaml"));
const read = (f: string) => readFileSync(join(CORPUS, f), "utf8");

const BASE: InjectOptions = {
  image: "meshlet:0.1.0",
  control: "meshlet-control.meshlet-system.svc:15010",
  nativeSidecar: true,
  intercept: true,
  proxyUid: 1337,
};
const MODES: Record<string, InjectOptions> = {
  native: BASE,
  "no-native-sidecar": { ...BASE, nativeSidecar: false },
  "no-intercept": { ...BASE, intercept: false },
};

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects read back from YAML, checked field by field
type Obj = Record<string, any>;
const docs = (text: string): Obj[] => parseAllDocuments(text).map((d) => d.toJS() as Obj);
const inject = (text: string, options = BASE) => mutateManifest(text, { action: "inject", options }, "t");
const uninject = (text: string) => mutateManifest(text, { action: "uninject" }, "t");

/** Every pod template of a stream, with the workload it belongs to. */
function templates(objs: Obj[]): { name: string; template: Obj }[] {
  const out: { name: string; template: Obj }[] = [];
  const visit = (o: Obj) => {
    if (o.kind === "List") {
      o.items.forEach(visit);
      return;
    }
    const t = o.kind === "Pod" ? o : o.kind === "CronJob" ? o.spec?.jobTemplate?.spec?.template : o.spec?.template;
    if (t !== undefined) out.push({ name: o.metadata?.name, template: t });
  };
  objs.forEach(visit);
  return out;
}

const containersOf = (t: Obj): Obj[] => [...(t.spec.initContainers ?? []), ...t.spec.containers];
const named = (t: Obj, name: string) => containersOf(t).find((c) => c.name === name);

/** The env vars the CLI reads: every flag's MESHLET_* name. */
function flagEnvNames(): Set<string> {
  const out = new Set<string>();
  const visit = (c: ReturnType<typeof buildProgram>) => {
    for (const o of c.options) if (o.long !== undefined) out.add(envName(o.long));
    c.commands.forEach(visit);
  };
  visit(buildProgram());
  return out;
}

describe("meshlet inject over a corpus of manifests", () => {
  for (const [mode, options] of Object.entries(MODES)) {
    for (const file of files) {
      it(`${mode}: ${file} validates against the Kubernetes schemas, round-trips and is idempotent`, async () => {
        const input = read(file);
        const once = inject(input, options);
        for (const obj of docs(once.text)) assert.deepEqual(await validateObject(obj), [], `${file}: ${obj.kind}`);
        assert.equal(inject(once.text, options).text, once.text, "injecting twice changes nothing");
        assert.deepEqual(docs(uninject(once.text).text), docs(input), "uninject restores the input");
        assert.equal(uninject(input).text, input, "uninject of a file never injected is byte-identical");
      });
    }
  }

  it("runs every injected container's args (as the kubelet expands them) through the real CLI parser", async () => {
    const envs = flagEnvNames();
    for (const [mode, options] of Object.entries(MODES))
      for (const file of files)
        for (const { template } of templates(docs(inject(read(file), options).text))) {
          for (const c of containersOf(template).filter((x) => x.name.startsWith("meshlet-"))) {
            const parsed = await parseCommandLine(expandedArgs(c));
            assert.equal(parsed.command, c.name === "meshlet-proxy" ? "sidecar" : "iptables", `${mode} ${file}`);
            checkAddresses(parsed.options, parseHostPort);
            const used = referencedNames(c);
            for (const e of c.env ?? [])
              assert.ok(envs.has(e.name) || used.has(e.name), `${e.name} is no flag's env var and is not used`);
            for (const name of used)
              assert.ok(
                c.env?.some((e: Obj) => e.name === name),
                `$(${name}) is not defined`,
              );
          }
        }
  });

  it("adds a native sidecar after the interception init container and before the app's init containers", () => {
    const [d] = templates(docs(inject(read("deployment-multi-container.yaml")).text));
    const t = d?.template as Obj;
    assert.deepEqual(
      t.spec.initContainers.map((c: Obj) => c.name),
      ["meshlet-init", "meshlet-proxy", "migrate"],
    );
    const proxy = named(t, "meshlet-proxy") as Obj;
    assert.equal(proxy.restartPolicy, "Always");
    assert.deepEqual(proxy.startupProbe.httpGet, { path: "/ready", port: 15000 });
    assert.equal(proxy.securityContext.runAsUser, 1337);
    assert.equal(proxy.securityContext.readOnlyRootFilesystem, true);
    assert.equal(proxy.securityContext.allowPrivilegeEscalation, false);
    const args = proxy.args.join(" ");
    assert.match(args, /--service productpage --app-port 9080 /);
    assert.match(args, /--labels app=productpage,version=v1$/);
    // terminationGracePeriodSeconds: 8 leaves 2 s of delay and 5 s of drain, 1 s to exit.
    assert.match(args, /--drain-delay 2s --drain-timeout 5s/);
    assert.deepEqual(
      t.spec.containers.map((c: Obj) => [c.name, c.command]),
      [
        ["app", ["node", "server.js"]],
        ["logs", undefined],
      ],
    );
    assert.equal(t.metadata.annotations["prometheus.io/scrape"], "false", "the app's own annotation is kept");
    assert.match((named(t, "meshlet-init") as Obj).args.join(" "), /--proxy-uid 1337 .*--inbound-ports 9080/);
  });

  it("without native sidecars puts the proxy first among the containers and wraps known commands", () => {
    const [d] = templates(docs(inject(read("deployment-multi-container.yaml"), MODES["no-native-sidecar"]).text));
    const t = d?.template as Obj;
    assert.deepEqual(
      t.spec.containers.map((c: Obj) => [c.name, c.command]),
      [
        ["meshlet-proxy", undefined],
        ["app", ["meshlet", "await", "--", "node", "server.js"]],
        ["logs", undefined],
      ],
    );
    assert.equal(t.spec.containers[0].restartPolicy, undefined);
    assert.deepEqual(
      t.spec.initContainers.map((c: Obj) => c.name),
      ["meshlet-init", "migrate"],
    );
  });

  it("joins with the pod's projected service-account token, read from MESHLET_TOKEN_FILE, and names its account", () => {
    const [d] = templates(docs(inject(read("deployment-multi-container.yaml")).text));
    const t = d?.template as Obj;
    const volume = t.spec.volumes.find((v: Obj) => v.name === "meshlet-token");
    assert.deepEqual(volume.projected.sources, [
      { serviceAccountToken: { audience: "meshlet", expirationSeconds: 3600, path: "token" } },
    ]);
    const proxy = named(t, "meshlet-proxy") as Obj;
    assert.deepEqual(
      proxy.volumeMounts.find((m: Obj) => m.name === "meshlet-token"),
      { name: "meshlet-token", mountPath: "/var/run/secrets/meshlet", readOnly: true },
    );
    const env = Object.fromEntries(proxy.env.map((e: Obj) => [e.name, e.value ?? e.valueFrom.fieldRef.fieldPath]));
    assert.equal(env.MESHLET_TOKEN_FILE, "/var/run/secrets/meshlet/token");
    assert.equal(env.MESHLET_NAMESPACE, "metadata.namespace");
    assert.equal(env.MESHLET_SERVICE_ACCOUNT, "spec.serviceAccountName");
  });

  it("trusts the mesh CA from the meshlet-ca ConfigMap (MESHLET_CA_FILE), and uninject takes it away", () => {
    const text = read("deployment-multi-container.yaml");
    const [d] = templates(docs(inject(text).text));
    const t = d?.template as Obj;
    assert.deepEqual(
      t.spec.volumes.find((v: Obj) => v.name === "meshlet-ca"),
      { name: "meshlet-ca", configMap: { name: "meshlet-ca", items: [{ key: "ca.pem", path: "ca.pem" }] } },
    );
    const proxy = named(t, "meshlet-proxy") as Obj;
    assert.deepEqual(
      proxy.volumeMounts.find((m: Obj) => m.name === "meshlet-ca"),
      { name: "meshlet-ca", mountPath: "/etc/meshlet/ca", readOnly: true },
    );
    assert.equal(proxy.env.find((e: Obj) => e.name === "MESHLET_CA_FILE")?.value, "/etc/meshlet/ca/ca.pem");
    assert.deepEqual(docs(uninject(inject(text).text).text), docs(text));
  });

  it("with --no-intercept adds no init container", () => {
    const [d] = templates(docs(inject(read("deployment-multi-container.yaml"), MODES["no-intercept"]).text));
    assert.equal(named(d?.template as Obj, "meshlet-init"), undefined);
  });

  it("takes the service and port from the annotations, a named port, the labels or the workload name", () => {
    const byName = new Map(
      templates(files.flatMap((f) => docs(inject(read(f)).text))).map((x) => [x.name, x.template] as const),
    );
    const args = (name: string) => (named(byName.get(name) as Obj, "meshlet-proxy") as Obj).args.join(" ");
    assert.match(args("ratings-db"), /--service ratings --app-port 8080 /);
    assert.match(args("node-agent"), /--service node-agent --app-port 7070 /);
    assert.match(args("report"), /--service report --app-port 8081 /);
    const init = (named(byName.get("ratings-db") as Obj, "meshlet-init") as Obj).args.join(" ");
    assert.match(
      init,
      /--inbound-ports 8080 --exclude-outbound-ports 5432,6379 --exclude-outbound-cidrs 169.254.169.254\/32$/,
    );
  });

  it("leaves opted-out pods, portless pods and other documents byte for byte, saying why", () => {
    for (const file of ["pod-no-ports.yaml", "opted-out-and-others.yaml"]) {
      const r = inject(read(file));
      assert.equal(r.text, read(file));
      assert.equal(r.changed, 0);
    }
    assert.match(inject(read("pod-no-ports.yaml")).notes.join(), /Pod\/worker: skipped, no container port/);
    assert.match(
      inject(read("opted-out-and-others.yaml")).notes.join(),
      /legacy-admin: skipped, meshlet.dev\/inject is disabled/,
    );
    // In a mixed stream, the documents that need no change keep their bytes (comments, flow style, quoting).
    const mixed = `${read("opted-out-and-others.yaml")}---\n${read("list.yaml")}`;
    assert.ok(inject(mixed).text.startsWith(read("opted-out-and-others.yaml")));
  });

  it("keeps comments of the documents it changes", () => {
    const out = inject(read("deployment-multi-container.yaml")).text;
    assert.match(out, /^# A web app with a log shipper/);
    assert.match(out, /replicas: 2 # two replicas/);
    assert.match(out, /"false" # the app's own choice, kept/);
  });

  it("refuses an app-port annotation naming no port, with the file and the reason", () => {
    const bad = read("statefulset-named-port.yaml").replace("meshlet.dev/app-port: api", "meshlet.dev/app-port: grpc");
    assert.throws(() => inject(bad), {
      code: "ERR_INJECT",
      message: /t: meshlet.dev\/app-port: no container port is named "grpc"/,
    });
  });

  it("fits the drain into the pod's grace period", () => {
    assert.deepEqual(drainFlags(30), { delay: "2s", timeout: "10s" });
    assert.deepEqual(drainFlags(8), { delay: "2s", timeout: "5s" });
    assert.deepEqual(drainFlags(3), { delay: "0s", timeout: "2s" });
    assert.deepEqual(drainFlags(0), { delay: "0s", timeout: "0s" });
  });
});
