import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseAllDocuments } from "yaml";
import { DEFAULT_IMAGE } from "../../src/cli/commands/kube-flags.ts";
import { envName } from "../../src/cli/options.ts";
import { buildProgram } from "../../src/cli/program.ts";
import { parseHostPort } from "../../src/common/address.ts";
import { parseResources } from "../../src/config/load.ts";
import { mutateManifest } from "../../src/kube/manifests.ts";
import { REPO_ROOT } from "../helpers/cli.ts";
import { ensureDebianPackage } from "../helpers/debian.ts";
import { checkAddresses, containerEnv, expand, expandedArgs, referencedNames } from "../helpers/kube-args.ts";
import { validateObject } from "../helpers/kube-schema.ts";
import { parseCommandLine } from "../helpers/parse-command.ts";
import { findExecutable } from "../support/system-package.ts";

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects read back from YAML, checked field by field
type Obj = Record<string, any>;

const DIR = join(REPO_ROOT, "deploy/kubernetes");
const read = (f: string) => readFileSync(join(DIR, f), "utf8");
const docs = (text: string): Obj[] =>
  parseAllDocuments(text)
    .map((d) => {
      assert.deepEqual(d.errors, []);
      return d.toJS() as Obj;
    })
    .filter((o) => o !== null);
const manifests = readdirSync(DIR).filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml");
const all = manifests.flatMap((f) => docs(read(f)).map((o) => ({ file: f, o })));

/** The kustomization resolved as kustomize would for its fields in use: resources, then the common labels. */
function kustomize(): Obj[] {
  const k = docs(read("kustomization.yaml"))[0] as Obj;
  assert.deepEqual(
    Object.keys(k).sort(),
    ["apiVersion", "kind", "labels", "resources"],
    "only fields this resolver knows",
  );
  const labels = Object.assign({}, ...k.labels.map((l: Obj) => l.pairs));
  return k.resources.flatMap((r: string) =>
    docs(read(r)).map((o) => ({ ...o, metadata: { ...o.metadata, labels: { ...o.metadata.labels, ...labels } } })),
  );
}

function podSpecOf(o: Obj): Obj | undefined {
  if (o.kind === "Pod") return o.spec;
  if (o.kind === "CronJob") return o.spec.jobTemplate.spec.template.spec;
  return o.spec?.template?.spec;
}
const podLabelsOf = (o: Obj): Obj =>
  o.kind === "Pod" ? o.metadata.labels : (o.spec?.template?.metadata?.labels ?? {});
const containersOf = (spec: Obj): Obj[] => [...(spec.initContainers ?? []), ...spec.containers];

/**
 * The ConfigMap (name, key) a file path in a container comes from: the volume mounted at the path's directory,
 * and the item that puts the file there (or the key of that name when the volume lists no items).
 */
function configMapFileOf(spec: Obj, c: Obj, file: string): { name: string; key: string } | undefined {
  const dir = file.slice(0, file.lastIndexOf("/"));
  const base = file.slice(file.lastIndexOf("/") + 1);
  const mount = (c.volumeMounts ?? []).find((m: Obj) => m.mountPath === dir);
  const volume = (spec.volumes ?? []).find((v: Obj) => v.name === mount?.name);
  if (volume?.configMap === undefined) return undefined;
  const items: Obj[] | undefined = volume.configMap.items;
  const key = items === undefined ? base : items.find((i) => i.path === base)?.key;
  return key === undefined ? undefined : { name: volume.configMap.name, key };
}
const envEntry = (c: Obj, name: string): Obj | undefined => (c.env ?? []).find((e: Obj) => e.name === name);
/** Where the operator steps that make the ConfigMaps and Secrets the manifests need are written. */
const KUBERNETES_DOC = readFileSync(join(REPO_ROOT, "docs/kubernetes.md"), "utf8");
const documented = (step: RegExp) => assert.ok(step.test(KUBERNETES_DOC), `docs/kubernetes.md lacks the step ${step}`);

const flagEnvs = (() => {
  const out = new Set<string>();
  const visit = (c: ReturnType<typeof buildProgram>) => {
    for (const o of c.options) if (o.long !== undefined) out.add(envName(o.long));
    c.commands.forEach(visit);
  };
  visit(buildProgram());
  return out;
})();

describe("deploy/kubernetes", () => {
  it("every manifest validates against the Kubernetes schemas (unknown fields refused)", async () => {
    assert.ok(all.length > 20);
    for (const { file, o } of all)
      assert.deepEqual(await validateObject(o), [], `${file}: ${o.kind}/${o.metadata?.name}`);
  });

  it("the kustomization resolves to valid objects, and kubectl kustomize agrees where kubectl exists", async () => {
    const resolved = kustomize();
    for (const o of resolved) assert.deepEqual(await validateObject(o), []);
    const kinds = (objs: Obj[]) => objs.map((o) => `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`).sort();
    const kubectl = findExecutable("kubectl");
    if (kubectl !== undefined) {
      const rendered = docs(execFileSync(kubectl, ["kustomize", DIR], { encoding: "utf8" }));
      assert.deepEqual(kinds(rendered), kinds(resolved));
      for (const o of rendered) assert.equal(o.metadata.labels["app.kubernetes.io/part-of"], "meshlet");
    }
  });

  it("every meshlet container's args, as the kubelet expands them, pass the real CLI parser", async () => {
    let checked = 0;
    for (const { file, o } of all) {
      const spec = podSpecOf(o);
      if (spec === undefined) continue;
      for (const c of containersOf(spec).filter((x) => x.image === DEFAULT_IMAGE)) {
        const argv = c.command?.[0] === "node" ? undefined : [...(c.command ?? []), ...(c.args ?? [])];
        if (argv === undefined) continue; // the demo app itself, run by node
        const parsed = await parseCommandLine(expandedArgs({ ...c, args: argv }));
        // The env vars the CLI reads: the flags the args leave out (--id, --advertise) count as given.
        const withEnv = { ...parsed.options };
        for (const [name, value] of containerEnv(c.env))
          for (const opt of buildProgram().commands.find((x) => x.name() === parsed.command)?.options ?? [])
            if (opt.long !== undefined && envName(opt.long) === name) withEnv[opt.attributeName()] = value;
        checkAddresses(withEnv, parseHostPort);
        const used = referencedNames(c);
        for (const e of c.env ?? [])
          assert.ok(
            flagEnvs.has(e.name) || used.has(e.name) || c.command?.[0] === "node",
            `${file}: ${e.name} is read by no one`,
          );
        checked++;
      }
    }
    assert.ok(checked >= 8, `checked ${checked} containers`);
  });

  it("every Service selects a workload in its namespace and its ports exist on the selected containers", () => {
    const workloads = all.filter(({ o }) => podSpecOf(o) !== undefined).map(({ o }) => o);
    for (const { file, o } of all.filter(({ o }) => o.kind === "Service")) {
      const selected = workloads.filter(
        (w) =>
          w.metadata.namespace === o.metadata.namespace &&
          Object.entries(o.spec.selector).every(([k, v]) => podLabelsOf(w)[k] === v),
      );
      assert.ok(selected.length > 0, `${file}: Service ${o.metadata.name} selects nothing`);
      for (const w of selected) {
        const ports = (podSpecOf(w) as Obj).containers.flatMap((c: Obj) => c.ports ?? []);
        for (const p of o.spec.ports) {
          const target = p.targetPort ?? p.port;
          assert.ok(
            ports.some((cp: Obj) => cp.name === target || cp.containerPort === target),
            `${file}: Service ${o.metadata.name} port ${p.name} -> ${target} is no port of ${w.metadata.name}`,
          );
        }
      }
    }
  });

  it("the control plane: 3 founders named as the StatefulSet names its pods, probes on real routes, a PDB", () => {
    const objs = docs(read("control-plane.yaml"));
    const sts = objs.find((o) => o.kind === "StatefulSet") as Obj;
    const peers = objs.find((o) => o.metadata.name === sts.spec.serviceName) as Obj;
    assert.equal(peers.spec.clusterIP, "None");
    assert.equal(peers.spec.publishNotReadyAddresses, true);
    assert.equal(sts.spec.replicas, 3);
    assert.equal(sts.spec.podManagementPolicy, "Parallel");
    const c = sts.spec.template.spec.containers[0];
    const arg = (flag: string) => c.args[c.args.indexOf(flag) + 1];
    const ns = sts.metadata.namespace;
    const expected = [0, 1, 2].map(
      (i) => `${sts.metadata.name}-${i}=${sts.metadata.name}-${i}.${peers.metadata.name}.${ns}.svc:15010`,
    );
    assert.deepEqual(arg("--peers").split(","), expected);
    // Pod 0's advertised address, as the kubelet expands it, is its entry in --peers (else it would not start).
    const env = containerEnv(c.env);
    assert.equal(`${env.get("MESHLET_ID")}=${env.get("MESHLET_ADVERTISE")}`, expected[0]);
    assert.equal(c.readinessProbe.httpGet.path, "/readyz");
    assert.equal(c.livenessProbe.httpGet.path, "/healthz");
    assert.equal(sts.spec.volumeClaimTemplates[0].metadata.name, c.volumeMounts[0].name);
    assert.equal(arg("--data-dir"), c.volumeMounts[0].mountPath);
    const pdb = objs.find((o) => o.kind === "PodDisruptionBudget") as Obj;
    assert.equal(pdb.spec.maxUnavailable, 1);
    assert.deepEqual(pdb.spec.selector.matchLabels, sts.spec.selector.matchLabels);
    assert.equal(sts.spec.template.spec.securityContext.runAsNonRoot, true);
    assert.ok(c.resources.requests.cpu && c.resources.requests.memory);
    assert.equal(sts.spec.template.metadata.annotations["prometheus.io/port"], "15014");
    assert.equal(sts.spec.template.metadata.annotations["prometheus.io/scheme"], "https");
  });

  it("the control plane serves TLS and verifies service-account tokens with the cluster's keys and issuer", () => {
    const sts = docs(read("control-plane.yaml")).find((o) => o.kind === "StatefulSet") as Obj;
    const spec = sts.spec.template.spec;
    const c = spec.containers[0];
    assert.ok(!c.args.includes("--insecure"), "the control plane must not run --insecure");
    const keys = c.args[c.args.indexOf("--k8s-token-keys") + 1];
    assert.ok(c.args.includes("--k8s-token-keys"), "no --k8s-token-keys");
    assert.deepEqual(configMapFileOf(spec, c, keys), { name: "meshlet-k8s-token", key: "jwks.json" });
    assert.deepEqual(envEntry(c, "MESHLET_K8S_TOKEN_ISSUER")?.valueFrom, {
      configMapKeyRef: { name: "meshlet-k8s-token", key: "issuer" },
    });
    // The operator step that makes that ConfigMap: the keys file the API server serves, and its issuer.
    const keysFile = /kubectl get --raw \/openid\/v1\/jwks > (\S+)/.exec(KUBERNETES_DOC)?.[1];
    assert.ok(keysFile !== undefined, "docs/kubernetes.md lacks the step that fetches the cluster's JWKS");
    const issuer = /(\w+)=\$\(kubectl get --raw \/\.well-known\/openid-configuration \| jq -r \.issuer\)/;
    const issuerVar = issuer.exec(KUBERNETES_DOC)?.[1];
    assert.ok(issuerVar !== undefined, "docs/kubernetes.md lacks the step that reads the issuer");
    const create = `-n meshlet-system create configmap meshlet-k8s-token --from-file=jwks.json=${keysFile} --from-literal=issuer="$${issuerVar}"`;
    assert.ok(KUBERNETES_DOC.includes(create), `docs/kubernetes.md lacks the step ${create}`);
  });

  it("every node certificate carries the client Service's names (--certificate-names), which in-cluster clients dial", () => {
    const objs = docs(read("control-plane.yaml"));
    const sts = objs.find((o) => o.kind === "StatefulSet") as Obj;
    const client = objs.find(
      (o) => o.kind === "Service" && o.metadata.name !== sts.spec.serviceName && o.spec.ports?.length > 0,
    ) as Obj;
    const args = sts.spec.template.spec.containers[0].args as string[];
    assert.ok(args.includes("--certificate-names"), "no --certificate-names");
    const names = (args[args.indexOf("--certificate-names") + 1] as string).split(",");
    const ns = sts.metadata.namespace;
    for (const n of [`${client.metadata.name}.${ns}.svc`, `${client.metadata.name}.${ns}.svc.cluster.local`])
      assert.ok(names.includes(n), `--certificate-names lacks ${n}`);
  });

  it("a scaled-up member joins member 0 by a name in its certificate, with the CA and an admin token", () => {
    const sts = docs(read("control-plane.yaml")).find((o) => o.kind === "StatefulSet") as Obj;
    const spec = sts.spec.template.spec;
    const c = spec.containers[0];
    const join = c.args[c.args.indexOf("--join") + 1] as string;
    const peerHost = `${sts.metadata.name}-0.${sts.spec.serviceName}.${sts.metadata.namespace}.svc`;
    assert.equal(parseHostPort(join, "--join").host, peerHost, "member 0 by its peer name");
    const caFile = envEntry(c, "MESHLET_CA_FILE")?.value;
    assert.ok(caFile !== undefined, "a joining member needs MESHLET_CA_FILE");
    assert.deepEqual(configMapFileOf(spec, c, caFile), { name: "meshlet-ca", key: "ca.pem" });
    // Optional: the CA exists only once the founders have made it.
    assert.equal(spec.volumes.find((v: Obj) => v.configMap?.name === "meshlet-ca").configMap.optional, true);
    assert.deepEqual(envEntry(c, "MESHLET_TOKEN")?.valueFrom, {
      secretKeyRef: { name: "meshlet-join-token", key: "token", optional: true },
    });
    documented(/-n meshlet-system create configmap meshlet-ca --from-file=ca\.pem=/);
    documented(/-n meshlet-system create secret generic meshlet-join-token --from-literal=token=/);
  });

  it("every meshlet client in the sample app trusts the mesh CA from the meshlet-ca ConfigMap, over https", () => {
    const objs = docs(read("sample-app.yaml"));
    const ns = (objs.find((o) => o.kind === "Namespace") as Obj).metadata.name;
    let clients = 0;
    for (const o of objs) {
      const spec = podSpecOf(o);
      if (spec === undefined) continue;
      for (const c of containersOf(spec).filter((x) => x.name === "meshlet-proxy" || x.name === "apply")) {
        const caFile = envEntry(c, "MESHLET_CA_FILE")?.value;
        assert.ok(caFile !== undefined, `${o.metadata.name}/${c.name}: no MESHLET_CA_FILE`);
        assert.deepEqual(configMapFileOf(spec, c, caFile), { name: "meshlet-ca", key: "ca.pem" }, o.metadata.name);
        clients++;
      }
    }
    assert.equal(clients, 5, "four sidecars and the apply Job");
    const job = (objs.find((o) => o.kind === "Job") as Obj).spec.template.spec.containers[0];
    const server = job.args[job.args.indexOf("--server") + 1] as string;
    assert.match(server, /^https:\/\//);
    // The name it dials is one every node certificate carries: the client Service's, in --certificate-names.
    const sts = docs(read("control-plane.yaml")).find((o) => o.kind === "StatefulSet") as Obj;
    const args = sts.spec.template.spec.containers[0].args as string[];
    const names = (args[args.indexOf("--certificate-names") + 1] ?? "").split(",");
    assert.ok(names.includes(new URL(server).hostname), `${server} is not in --certificate-names ${names.join(",")}`);
    assert.deepEqual(envEntry(job, "MESHLET_TOKEN")?.valueFrom, {
      secretKeyRef: { name: "meshlet-demo-token", key: "token" },
    });
    // The operator steps that make the CA ConfigMap and the token Secret in the demo's namespace.
    documented(new RegExp(`-n ${ns} create configmap meshlet-ca --from-file=ca\\.pem=`));
    documented(new RegExp(`-n ${ns} create secret generic meshlet-demo-token --from-literal=token=`));
  });

  it("each sample Deployment runs as its own ServiceAccount, which its mesh Service lists", () => {
    const objs = docs(read("sample-app.yaml"));
    const mesh = parseResources(readFileSync(join(REPO_ROOT, "examples/demo/mesh.yaml"), "utf8"), "mesh.yaml");
    const accounts = new Set(objs.filter((o) => o.kind === "ServiceAccount").map((o) => o.metadata.name));
    const deployments = objs.filter((o) => o.kind === "Deployment");
    assert.equal(deployments.length, 4);
    for (const d of deployments) {
      const spec = d.spec.template.spec;
      const account = spec.serviceAccountName as string | undefined;
      assert.ok(account !== undefined && account !== "default", `${d.metadata.name} runs as the default account`);
      assert.ok(accounts.has(account), `no ServiceAccount ${account}`);
      const proxy = containersOf(spec).find((c) => c.name === "meshlet-proxy") as Obj;
      const service = proxy.args[proxy.args.indexOf("--service") + 1];
      const listed = mesh.find((r) => r.kind === "Service" && r.metadata.name === service) as Obj | undefined;
      assert.ok(listed !== undefined, `mesh.yaml has no Service ${service}`);
      assert.ok(
        (listed.spec.serviceAccounts ?? []).some(
          (a: Obj) => a.namespace === d.metadata.namespace && a.name === account,
        ),
        `mesh.yaml Service ${service} does not list ${d.metadata.namespace}/${account}`,
      );
    }
  });

  it("the webhook calls the injector's Service at /inject, with the certificate cert-manager makes for it", () => {
    const objs = docs(read("injector.yaml"));
    const hook = (objs.find((o) => o.kind === "MutatingWebhookConfiguration") as Obj).webhooks[0];
    const svc = objs.find((o) => o.kind === "Service") as Obj;
    const deploy = objs.find((o) => o.kind === "Deployment") as Obj;
    assert.deepEqual(hook.clientConfig.service, {
      name: svc.metadata.name,
      namespace: svc.metadata.namespace,
      path: "/inject",
      port: 443,
    });
    assert.deepEqual(hook.namespaceSelector.matchLabels, { "meshlet.dev/inject": "enabled" });
    assert.deepEqual(hook.rules[0].resources, ["pods"]);
    const args = deploy.spec.template.spec.containers[0].args as string[];
    assert.equal(args[args.indexOf("--listen") + 1], "0.0.0.0:15017");
    assert.equal(args[args.indexOf("--image") + 1], DEFAULT_IMAGE);
    const cert = docs(read("cert-manager.yaml")).find((o) => o.kind === "Certificate") as Obj;
    assert.ok(cert.spec.dnsNames.includes(`${svc.metadata.name}.${svc.metadata.namespace}.svc`));
    assert.equal(cert.spec.secretName, deploy.spec.template.spec.volumes[0].secret.secretName);
    const annotation = (objs.find((o) => o.kind === "MutatingWebhookConfiguration") as Obj).metadata.annotations;
    assert.equal(annotation["cert-manager.io/inject-ca-from"], `${cert.metadata.namespace}/${cert.metadata.name}`);
  });

  it("the sample app is exactly what meshlet inject makes of it, so injecting it again changes nothing", () => {
    const text = read("sample-app.yaml");
    const options = {
      image: DEFAULT_IMAGE,
      control: "meshlet-control.meshlet-system.svc:15010",
      nativeSidecar: true,
      intercept: true,
      proxyUid: 1337,
    };
    const again = mutateManifest(text, { action: "inject", options }, "sample-app.yaml");
    assert.equal(again.text, text);
    const bare = mutateManifest(text, { action: "uninject" }, "sample-app.yaml");
    assert.equal(bare.changed, 4, "four meshed Deployments");
    assert.deepEqual(docs(mutateManifest(bare.text, { action: "inject", options }, "s").text), docs(text));
    // The Job that applies the demo's resources finds them in the image.
    const job = docs(text).find((o) => o.kind === "Job") as Obj;
    assert.ok(job.spec.template.spec.containers[0].args.includes("/app/examples/demo/mesh.yaml"));
    assert.match(readFileSync(join(REPO_ROOT, "Dockerfile"), "utf8"), /^COPY examples\/demo \.\/examples\/demo$/m);
  });

  it("injector-certs.sh makes a certificate for the injector's Service that the caBundle it installs verifies", () => {
    ensureDebianPackage("openssl", "openssl");
    const dir = mkdtempSync(join(tmpdir(), "meshlet-certs-"));
    try {
      // A kubectl that records what it is asked: the script's calls are what a cluster would get.
      const fake = join(dir, "kubectl");
      writeFileSync(
        fake,
        `#!/bin/sh\necho "$*" >> "${dir}/calls"\nif [ "$1" = apply ]; then cat > "${dir}/applied"; fi\nif [ "$3" = create ]; then cp "$8" "${dir}/tls.crt"; printf 'kind: Secret\\n'; fi\n`,
      );
      chmodSync(fake, 0o755);
      const out = execFileSync("bash", [join(DIR, "injector-certs.sh"), "30"], {
        encoding: "utf8",
        env: { ...process.env, KUBECTL: fake },
      });
      assert.match(out, /meshlet-injector-tls written in meshlet-system/);
      const calls = readFileSync(join(dir, "calls"), "utf8");
      const create = /-n meshlet-system create secret tls meshlet-injector-tls --cert (\S+) --key (\S+)/.exec(calls);
      assert.ok(create !== null, calls);
      const patch = /patch mutatingwebhookconfiguration meshlet-injector --type=json -p (.*)/.exec(calls)?.[1] ?? "";
      const ca = Buffer.from(JSON.parse(patch)[0].value, "base64").toString("utf8");
      assert.equal(JSON.parse(patch)[0].path, "/webhooks/0/clientConfig/caBundle");
      writeFileSync(join(dir, "ca.crt"), ca);
      const verify = execFileSync("openssl", ["verify", "-CAfile", join(dir, "ca.crt"), join(dir, "tls.crt")], {
        encoding: "utf8",
      });
      assert.match(verify, /tls.crt: OK/);
      const san = execFileSync("openssl", ["x509", "-in", join(dir, "tls.crt"), "-noout", "-ext", "subjectAltName"], {
        encoding: "utf8",
      });
      assert.match(san, /DNS:meshlet-injector\.meshlet-system\.svc\b/);
      assert.equal(readFileSync(join(dir, "applied"), "utf8"), "kind: Secret\n");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("expands $(VAR) as the kubelet does", () => {
    assert.equal(expand("$(A).x:1 $$(A) $(B)", new Map([["A", "a"]])), "a.x:1 $(A) $(B)");
  });
});
