import { z } from "zod";
import {
  authorizationPolicySchema,
  configReleaseSchema,
  faultExperimentSchema,
  peerAuthenticationSchema,
  policySchema,
  resourceSchema,
  routeSchema,
  serviceSchema,
} from "./resources.ts";

/** File name under schemas/ → the zod schema it is generated from. */
export const JSON_SCHEMA_FILES = {
  "resource.schema.json": resourceSchema,
  "service.schema.json": serviceSchema,
  "route.schema.json": routeSchema,
  "policy.schema.json": policySchema,
  "configrelease.schema.json": configReleaseSchema,
  "faultexperiment.schema.json": faultExperimentSchema,
  "authorizationpolicy.schema.json": authorizationPolicySchema,
  "peerauthentication.schema.json": peerAuthenticationSchema,
} as const;

/**
 * The JSON Schema editors validate against, derived from the zod schema so
 * the two can never disagree. `io: "input"` describes what an operator may
 * write (defaults make fields optional), not what validation returns.
 */
export function renderJsonSchemas(): Map<string, string> {
  const out = new Map<string, string>();
  for (const [file, schema] of Object.entries(JSON_SCHEMA_FILES)) {
    const json = z.toJSONSchema(schema, { io: "input", unrepresentable: "any", target: "draft-2020-12" });
    const withId = { $id: `https://meshlet.dev/schemas/v1/${file}`, ...json };
    out.set(file, `${JSON.stringify(withId, null, 2)}\n`);
  }
  return out;
}
