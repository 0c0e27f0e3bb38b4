import { hash32 } from "../../common/hash.ts";
import type { ReleaseSelector } from "../../config/resources.ts";

/** A percentage is resolved to 1/100 of a percent: 10,000 buckets. */
const BUCKETS = 10_000;

/** The instance as a release selector sees it. */
export interface InstanceIdentity {
  instance: string;
  labels: Readonly<Record<string, string>>;
}

/**
 * The bucket (0-9999) of an instance for one key. It depends on nothing but
 * the key and the instance id, so a percentage selects the same instances on
 * every node, at every revision, and an instance selected at P % is selected
 * at every larger P (buckets below P are a subset of buckets below P').
 * The key is mixed in so that one unlucky instance is not the canary of every key.
 */
export function bucketOf(key: string, instance: string): number {
  return hash32(`${key}\n${instance}`) % BUCKETS;
}

export function selects(selector: ReleaseSelector, key: string, who: InstanceIdentity): boolean {
  if ("percent" in selector) return bucketOf(key, who.instance) < Math.round(selector.percent * (BUCKETS / 100));
  if ("instances" in selector) return selector.instances.includes(who.instance);
  for (const [k, v] of Object.entries(selector.labels)) if (who.labels[k] !== v) return false;
  return true;
}

/** `10%`, `version=v2,zone=a`, `instances: a,b`: how the CLI and the dashboard show a selector. */
export function describeSelector(selector: ReleaseSelector): string {
  if ("percent" in selector) return `${selector.percent}%`;
  if ("instances" in selector) return `instances: ${selector.instances.join(",")}`;
  return Object.entries(selector.labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
}
