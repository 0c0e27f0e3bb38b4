import { HttpError } from "../../common/errors.ts";
import { declares } from "../../config/config-key.ts";
import type { Service } from "../../config/resources.ts";
import type { HistoryResponse, InstanceConfig, ReleaseActionResponse, StatusResponse } from "../config/api-types.ts";
import {
  activeRelease,
  CONFIG_PREFIX,
  type ConfigPromote,
  type ConfigRollback,
  type ReleaseOutcome,
} from "../config/commands.ts";
import { HistoryCompactedError } from "../config/errors.ts";
import { historyKey, historyOf, historyValueKey, setsValue } from "../config/history.ts";
import { describeSelector } from "../config/selection.ts";
import { sidecarsOf } from "../discovery/attach.ts";
import { acknowledged } from "../resources/api-types.ts";
import { RESOURCES_PREFIX } from "../resources/keys.ts";
import type { RevisionedKv } from "../state/kv.ts";
import { storedText } from "../state/value.ts";
import { consistency, keyParam } from "./config-api.ts";
import { compactedReply, revisionParam } from "./config-watch.ts";
import { json, type RouteModule } from "./router.ts";

function history(kv: RevisionedKv, key: string): HistoryResponse | undefined {
  const stored = kv.get(historyKey(key));
  const base = kv.get(CONFIG_PREFIX + key);
  if (stored === undefined && base === undefined) return undefined;
  const entries = historyOf(key, stored?.value)
    .map((e) =>
      setsValue(e)
        ? { ...e, restorable: base?.revision === e.revision || kv.get(historyValueKey(key, e.revision)) !== undefined }
        : e,
    )
    .reverse();
  return { key, revision: base?.revision ?? null, release: activeRelease(kv, key)?.name ?? null, entries };
}

/** The Services that declare `key` (a scan of the Services: status is asked by operators, not on a hot path). */
function declaringServices(kv: RevisionedKv, key: string): Set<string> {
  const out = new Set<string>();
  for (const { record } of kv.range(`${RESOURCES_PREFIX}Service/`)) {
    const s = JSON.parse(storedText(record.value)) as Service;
    if (s.spec.config !== undefined && declares(s.spec.config, key)) out.add(s.metadata.name);
  }
  return out;
}

/**
 * The config center's custom methods, after the key as in Google's API
 * style (`:` cannot occur in a key): POST /v1/config/{key}:promote and
 * :rollback[?to=REV], GET :history and :status. Mounted before the plain
 * /v1/config/{key} routes, which would take the whole path for a key.
 */
export const configCenterApi: RouteModule = (router, node) => {
  router.route("POST", "/v1/config/{key*}:promote", async (req) => {
    const command: ConfigPromote = { type: "config.promote", key: keyParam(req), at: Date.now() };
    const { revision, result } = await node.propose<ReleaseOutcome>(command, { deadlineMs: req.remainingMs() });
    return json(200, { revision, release: result.release } satisfies ReleaseActionResponse);
  });
  router.route("POST", "/v1/config/{key*}:rollback", async (req) => {
    const command: ConfigRollback = { type: "config.rollback", key: keyParam(req), at: Date.now() };
    const to = req.query.get("to");
    if (to !== null) {
      command.to = revisionParam(to, "to");
    }
    let proposed: { revision: number; result: ReleaseOutcome };
    try {
      proposed = await node.propose<ReleaseOutcome>(command, { deadlineMs: req.remainingMs() });
    } catch (err) {
      if (err instanceof HistoryCompactedError) return compactedReply(err);
      throw err;
    }
    const { revision, result } = proposed;
    const body: ReleaseActionResponse = { revision, release: result.release };
    if (result.to !== undefined) body.to = result.to;
    return json(200, body);
  });
  router.route("GET", "/v1/config/{key*}:history", async (req) => {
    const key = keyParam(req);
    const found = await node.read((kv) => history(kv, key), {
      consistency: consistency(req),
      deadlineMs: req.remainingMs(),
    });
    if (found === undefined) throw new HttpError(404, "ERR_NOT_FOUND", `config key "${key}" has no history`);
    return json(200, found);
  });
  router.route("GET", "/v1/config/{key*}:status", async (req) => {
    const key = keyParam(req);
    const state = await node.read(
      (kv) => {
        const base = kv.get(CONFIG_PREFIX + key);
        const release = activeRelease(kv, key);
        return {
          revision: kv.revision,
          base: base === undefined ? null : { revision: base.revision, bytes: base.value.length },
          release:
            release === undefined
              ? null
              : {
                  name: release.name,
                  selector: describeSelector(release.release.spec.selector),
                  revision: release.revision,
                  bytes: Buffer.byteLength(release.release.spec.value),
                },
          services: declaringServices(kv, key),
        };
      },
      { consistency: consistency(req), deadlineMs: req.remainingMs() },
    );
    if (state.base === null && state.release === null)
      throw new HttpError(404, "ERR_NOT_FOUND", `config key "${key}" not found`);
    const { sidecars, unreachable } = await sidecarsOf(node, key);
    const instances: InstanceConfig[] = sidecars
      .filter((s) => state.services.has(s.service))
      .map((s) => {
        const has = s.config?.key ?? null;
        return {
          service: s.service,
          instance: s.instance,
          node: s.node,
          release: has?.release ?? null,
          revision: has?.revision ?? null,
          preview: has?.preview ?? null,
          digest: has?.digest ?? null,
          acked: acknowledged(s),
        };
      });
    const groups = new Map<string, StatusResponse["summary"][number]>();
    for (const i of instances) {
      const id = `${i.release}\n${i.digest}`;
      const g = groups.get(id) ?? { release: i.release, preview: i.preview, digest: i.digest, instances: 0, acked: 0 };
      g.instances++;
      if (i.acked) g.acked++;
      groups.set(id, g);
    }
    const { services: _, ...rest } = state;
    return json(200, { key, ...rest, instances, summary: [...groups.values()], unreachable } satisfies StatusResponse);
  });
};
