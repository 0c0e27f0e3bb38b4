import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseResources } from "../../../src/config/load.ts";
import type { MtlsMode } from "../../../src/config/resources.ts";
import { effectiveMode, modesKey, mtlsModes } from "../../../src/sidecar/mtls/modes.ts";

const service = (name: string, mode?: MtlsMode) =>
  `apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: ${name}}\n${mode === undefined ? "" : `spec: {mtls: {mode: ${mode}}}\n`}`;
const peerAuth = (name: string, mode: MtlsMode, namespace?: string) =>
  `apiVersion: meshlet.dev/v1\nkind: PeerAuthentication\nmetadata: {name: ${name}}\nspec: {${namespace === undefined ? "" : `namespace: ${namespace}, `}mtls: {mode: ${mode}}}\n`;
const modesOf = (...docs: string[]) => mtlsModes(parseResources(docs.join("---\n"), "mesh.yaml"));

describe("the mTLS mode of a sidecar's inbound port (Service > namespace > mesh > STRICT)", () => {
  // Each row: what is applied, then the sidecar's Service and namespace, then its mode.
  const rows: [string, string[], string, string | undefined, MtlsMode][] = [
    ["nothing: STRICT", [service("a")], "a", "prod", "STRICT"],
    ["nothing, no namespace: STRICT", [service("a")], "a", undefined, "STRICT"],
    ["the mesh's", [service("a"), peerAuth("m", "PERMISSIVE")], "a", "prod", "PERMISSIVE"],
    ["the mesh's, no namespace", [service("a"), peerAuth("m", "DISABLE")], "a", undefined, "DISABLE"],
    [
      "the namespace's over the mesh's",
      [service("a"), peerAuth("m", "PERMISSIVE"), peerAuth("n", "DISABLE", "prod")],
      "a",
      "prod",
      "DISABLE",
    ],
    [
      "another namespace's does not apply",
      [service("a"), peerAuth("m", "PERMISSIVE"), peerAuth("n", "DISABLE", "dev")],
      "a",
      "prod",
      "PERMISSIVE",
    ],
    [
      "a namespace's does not apply to a sidecar without a namespace",
      [service("a"), peerAuth("n", "DISABLE", "prod")],
      "a",
      undefined,
      "STRICT",
    ],
    [
      "the namespace's with no mesh-wide one",
      [service("a"), peerAuth("n", "PERMISSIVE", "prod")],
      "a",
      "prod",
      "PERMISSIVE",
    ],
    [
      "the Service's over the namespace's and the mesh's",
      [service("a", "STRICT"), peerAuth("m", "DISABLE"), peerAuth("n", "PERMISSIVE", "prod")],
      "a",
      "prod",
      "STRICT",
    ],
    [
      "the Service's over the mesh's",
      [service("a", "PERMISSIVE"), peerAuth("m", "DISABLE")],
      "a",
      "prod",
      "PERMISSIVE",
    ],
    [
      "another Service's does not apply",
      [service("a"), service("b", "DISABLE"), peerAuth("m", "PERMISSIVE")],
      "a",
      "prod",
      "PERMISSIVE",
    ],
    ["no Service applied: the levels below still do", [peerAuth("n", "DISABLE", "prod")], "ghost", "prod", "DISABLE"],
  ];
  for (const [what, docs, svc, namespace, mode] of rows)
    it(what, () => assert.equal(effectiveMode(modesOf(...docs), svc, namespace), mode));

  it("keys the modes the same whatever order the resources come in, and differently when one changes", () => {
    const docs = [
      service("a", "STRICT"),
      service("b", "DISABLE"),
      peerAuth("x", "DISABLE", "x"),
      peerAuth("y", "PERMISSIVE", "y"),
    ];
    assert.equal(modesKey(modesOf(...docs)), modesKey(modesOf(...[...docs].reverse())));
    const keys = new Set(
      [
        docs,
        [...docs, peerAuth("m", "STRICT")],
        [...docs, peerAuth("m", "PERMISSIVE")],
        [...docs.slice(0, 3), peerAuth("y", "DISABLE", "y")],
        [service("a", "PERMISSIVE"), ...docs.slice(1)],
      ].map((d) => modesKey(modesOf(...d))),
    );
    assert.equal(keys.size, 5);
  });
});
