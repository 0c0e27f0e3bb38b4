import { UsageError } from "../../common/errors.ts";
import { mutateManifest } from "../../kube/manifests.ts";
import type { Mutation } from "../../kube/mutate.ts";
import { readInputs } from "../input-files.ts";
import { type InjectFlags, parseUid } from "./kube-flags.ts";

async function run(filenames: string[] | undefined, mutation: Mutation): Promise<void> {
  if (filenames === undefined || filenames.length === 0) throw new UsageError("-f FILE|DIR|- is required");
  const files = await readInputs(filenames);
  // Every file is transformed before anything is written: an error leaves stdout empty, not half a stream.
  const outputs = files.map((f) => mutateManifest(f.text, mutation, f.name));
  for (const note of outputs.flatMap((o) => o.notes)) process.stderr.write(`meshlet: ${note}\n`);
  const texts = outputs.map((o) => o.text);
  process.stdout.write(
    texts
      .map((t, i) => (i > 0 && !/^---(\s|$)/.test(t) ? `---\n${t}` : t))
      .map(ensureNewline)
      .join(""),
  );
}

const ensureNewline = (t: string) => (t === "" || t.endsWith("\n") ? t : `${t}\n`);

export async function inject(flags: InjectFlags): Promise<void> {
  if (flags.image.trim() === "") throw new UsageError("--image: expected an image reference");
  if (flags.control.trim() === "") throw new UsageError("--control: expected host:port,...");
  await run(flags.filename, {
    action: "inject",
    options: {
      image: flags.image,
      control: flags.control,
      nativeSidecar: flags.nativeSidecar,
      intercept: flags.intercept,
      proxyUid: typeof flags.proxyUid === "number" ? flags.proxyUid : parseUid("--proxy-uid")(flags.proxyUid),
    },
  });
}

export async function uninject(flags: { filename?: string[] }): Promise<void> {
  await run(flags.filename, { action: "uninject" });
}
