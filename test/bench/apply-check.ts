/**
 * What the shared check costs the state-machine handler of a resource apply,
 * which every control-plane node runs for every entry: an apply of Services
 * (no kind the error rules read) and an apply of a Policy (the stored
 * Policies are read and checked), on a mesh of ~1,800 resources. A benchmark,
 * not a test: figures are rough on a shared machine.
 */
import { parseResources } from "../../src/config/load.ts";
import { applyResourceCommand } from "../../src/controlplane/resources/commands.ts";
import { planWrites } from "../../src/controlplane/resources/plan.ts";
import { MemoryKv } from "../controlplane/registry/memory-kv.ts";

const docs: string[] = [];
for (let i = 0; i < 1000; i++) {
  docs.push(`apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: s${i}}\nspec: {ports: [{port: 80}]}\n`);
  if (i % 2 === 0)
    docs.push(
      `apiVersion: meshlet.dev/v1\nkind: Route\nmetadata: {name: r${i}}\nspec: {hosts: [s${i}], http: [{destinations: [{service: s${i}}]}]}\n`,
    );
  if (i % 3 === 0)
    docs.push(
      `apiVersion: meshlet.dev/v1\nkind: Policy\nmetadata: {name: p${i}}\nspec: {target: {service: s${i}}, circuitBreaker: {errorThresholdPercentage: 50}}\n`,
    );
}
const all = parseResources(docs.join("---\n"), "bench");
const kv = new MemoryKv();
kv.apply(applyResourceCommand(kv, { type: "mesh.apply", resources: all }).ops);

const N = 200;
const services = Array.from({ length: N }, (_, i) =>
  parseResources(
    `apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: s1}\nspec: {ports: [{port: ${1000 + i}}]}\n`,
    "s",
  ),
);
const policies = Array.from({ length: N }, (_, i) =>
  parseResources(
    `apiVersion: meshlet.dev/v1\nkind: Policy\nmetadata: {name: p3}\nspec: {target: {service: s3}, circuitBreaker: {errorThresholdPercentage: ${1 + (i % 99)}}}\n`,
    "p",
  ),
);

function perApply(inputs: ReturnType<typeof parseResources>[], run: (r: ReturnType<typeof parseResources>) => void) {
  for (const r of inputs.slice(0, 20)) run(r);
  const t = performance.now();
  for (const r of inputs) run(r);
  return ((performance.now() - t) / inputs.length).toFixed(3);
}

const handler = (r: ReturnType<typeof parseResources>) =>
  kv.apply(applyResourceCommand(kv, { type: "mesh.apply", resources: r }).ops);
process.stdout.write(`${all.length} resources stored\n`);
process.stdout.write(
  `planWrites alone (before the check):  ${perApply(services, (r) => planWrites((k) => kv.get(k), r))} ms\n`,
);
process.stdout.write(`handler, an apply of a Service:        ${perApply(services, handler)} ms\n`);
process.stdout.write(`handler, an apply of a Policy:         ${perApply(policies, handler)} ms\n`);
