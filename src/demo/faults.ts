import { MeshletError, UsageError } from "../common/errors.ts";
import { isAlive, readState } from "./state.ts";

/**
 * `meshlet demo fail|heal SERVICE`: every instance of SERVICE in the running demo answers 500 (fail) or
 * answers normally again (heal). The demo's apps take the order on their own port, outside the mesh.
 */
export async function setFailing(
  dir: string,
  service: string,
  failing: boolean,
): Promise<{ instance: string; port: number }[]> {
  const state = readState(dir);
  if (state === undefined || !isAlive(state.pid))
    throw new MeshletError("ERR_UNREACHABLE", `no demo is running in ${dir} (start one with: npm start)`);
  const instances = state.instances.filter((i) => i.service === service);
  if (instances.length === 0) {
    const names = [...new Set(state.instances.map((i) => i.service))].join(", ");
    throw new UsageError(`the demo has no service "${service}" (it has ${names})`);
  }
  await Promise.all(
    instances.map(async (i) => {
      const url = `http://127.0.0.1:${i.appPort}/_demo/${failing ? "fail" : "heal"}`;
      try {
        const res = await fetch(url, { method: "POST", signal: AbortSignal.timeout(3_000) });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
      } catch (err) {
        throw new MeshletError(
          "ERR_UNREACHABLE",
          `${i.name} (${url}) did not answer: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
    }),
  );
  return instances.map((i) => ({ instance: i.name, port: i.appPort }));
}
